"""Exports a run's TensorBoard scalars to a CSV and a PNG of the main learning curves.

  python -m unsupervised_skill_learning.export_curves --run_dir=runs/ant/Ant-v1 --out=docs/ant
  -> docs/ant_curves.csv (env_steps, one column per tag) and docs/ant_curves.png
"""

from __future__ import annotations

import csv
import os

import numpy as np
from absl import app, flags

from lib import plots
from lib.tb_scalars import read_scalars

_RUN = flags.DEFINE_string("run_dir", None, "<logdir>/<environment> of a run.")
_OUT = flags.DEFINE_string("out", None, "Output path prefix.")
PLOTTED = ("intrinsic_reward", "dads/logp", "dynamics_loss", "entropy", "alpha", "critic_loss")


def export(run_dir: str, out: str) -> tuple[str, str]:
  values = read_scalars(run_dir)
  tags = sorted(values)
  steps = sorted(set().union(*(v.keys() for v in values.values())))
  csv_path, png_path = out + "_curves.csv", out + "_curves.png"
  os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
  with open(csv_path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["env_steps", *tags])
    for step in steps:
      writer.writerow([step, *(f"{values[t][step]:.6g}" if step in values[t] else "" for t in tags)])
  curves = {t: np.array(sorted(values[t].items())) for t in PLOTTED if t in values}
  plots.plot_curves(png_path, curves, title=os.path.basename(os.path.normpath(run_dir)))
  return csv_path, png_path


def main(argv):
  del argv
  if not _RUN.value or not _OUT.value:
    raise app.UsageError("--run_dir and --out are required")
  for path in export(_RUN.value, _OUT.value):
    print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
