"""Exports one run's TensorBoard scalars to a CSV and a PNG of the main learning curves.

  python -m unsupervised_skill_learning.export_curves --run_dir=runs/ant/Ant-v1 --out=docs/ant
  -> docs/ant_curves.csv (env_steps, one column per tag) and docs/ant_curves.png

--run_dir may also be the run's logdir (runs/ant) or any folder holding exactly one run.
A folder of several runs (seeds, a sweep) is refused: plot_runs draws their mean ± std.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
from absl import flags

from lib import plots
from lib.atomic import atomic_write
from lib.tb_scalars import find_runs, read_scalars
from unsupervised_skill_learning import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so that tests and other
  commands (plot_runs has an --out too) can import its functions."""
  flags.DEFINE_string("run_dir", None, "<logdir>/<environment> of a run (or a folder holding "
                      "exactly one run).")
  flags.DEFINE_string("out", None, "Output path prefix.")


# The intrinsic reward first (every objective's), then each objective's own terms (DADS:
# log q(s'|s,z); DIAYN: log q(z|s') and the discriminator's loss), then SAC's.
PLOTTED = ("intrinsic_reward", "dads/logp", "dynamics_loss", "diayn/logq", "discriminator_loss",
           "episode_return", "entropy", "alpha", "critic_loss")


def resolve_run(run_dir: str) -> str:
  """The one run at or beneath `run_dir`; ValueError (one line, naming --run_dir) when
  there is none or several."""
  try:
    runs = find_runs([run_dir])
  except FileNotFoundError:
    raise ValueError(f"--run_dir={run_dir}: no such folder") from None
  if not runs:
    raise ValueError(f"--run_dir={run_dir}: no run beneath it (no <logdir>/<environment>/train "
                     "with TensorBoard event files)")
  if len(runs) > 1:
    listed = ", ".join(os.path.relpath(r, run_dir) for r in runs[:4])
    raise ValueError(f"--run_dir={run_dir}: holds {len(runs)} runs ({listed}"
                     f"{', ...' if len(runs) > 4 else ''}); export_curves takes one run: "
                     "point at one, or plot them all with python -m "
                     f"unsupervised_skill_learning.plot_runs {run_dir}")
  return runs[0]


def export(run_dir: str, out: str) -> tuple[str, str]:
  """Writes <out>_curves.csv (env_steps, then one column per tag; empty where a tag was
  not logged at that step) and <out>_curves.png (the PLOTTED tags the run has) of the
  run at run_dir (<logdir>/<environment>); returns their paths."""
  values = read_scalars(run_dir)
  tags = sorted(values)
  steps = sorted(set().union(*(v.keys() for v in values.values())))
  csv_path, png_path = out + "_curves.csv", out + "_curves.png"
  os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(["env_steps", *tags])
  for step in steps:
    writer.writerow([step, *(f"{values[t][step]:.6g}" if step in values[t] else "" for t in tags)])
  atomic_write(csv_path, text.getvalue())
  curves = {t: np.array(sorted(values[t].items())) for t in PLOTTED if t in values}
  notes = plots.no_reward_notes({t: c[:, 1] for t, c in curves.items()})
  run = os.path.normpath(run_dir)
  plots.plot_curves(png_path, curves, notes=notes, title=f"{os.path.basename(run)} learning "
                    f"curves ({os.path.basename(os.path.dirname(run)) or run})")
  return csv_path, png_path


def _fail(message: str) -> None:
  cli.fail("export_curves", message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; use --run_dir=RUN --out=PREFIX")
  if not FLAGS.run_dir or not FLAGS.out:
    _fail("--run_dir and --out are required (--run_dir=RUN/ENV --out=PREFIX)")
  try:
    paths = export(resolve_run(FLAGS.run_dir), FLAGS.out)
  except (ValueError, OSError) as err:
    _fail(str(err))
  for path in paths:
    print(f"wrote {path}")


if __name__ == "__main__":
  define_flags()
  cli.run(main, "export_curves", __doc__)
