"""Learning curves of many runs: mean ± std over seeds, one group per configuration.

  python -m unsupervised_skill_learning.plot_runs runs/seeds [RUN_DIR ...] \\
      --tags=intrinsic_reward,episode_return --out=plot.png [--smooth=5] \\
      [--group_by=auto|none|<setting>,...] [--format=png|svg]

Every run (<logdir>/<environment> with TensorBoard event files in train/) at or beneath
the given folders is read. --group_by=auto puts runs whose config.json differ only in
their seed (and in settings that do not change learning: --num_epochs, saving, videos,
evaluation) in one group, named by the settings that tell the groups apart, or by their
folder; --group_by=none plots every run alone; --group_by=objective,agent_lr groups by
those settings only. Each tag gets a panel: per group, the mean over its runs as a line
and ± one standard deviation as a band, against env steps. Runs logged at different
steps are interpolated at the union of their steps (never past a run's last step), after
each run is smoothed with a centred moving average of --smooth points.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from absl import flags

from lib import plots
from lib.tb_scalars import find_runs, read_scalars
from unsupervised_skill_learning import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so that tests and other
  commands can import its functions without their flags colliding."""
  flags.DEFINE_list("tags", ["intrinsic_reward", "episode_return"],
                    "TensorBoard tags to plot, comma-separated: one panel each.")
  flags.DEFINE_string("out", "plot.png", "The figure's path (its extension follows --format).")
  flags.DEFINE_integer("smooth", 1, "Moving-average window, in logged points, applied to each "
                       "run before averaging (1: none).")
  flags.DEFINE_string("group_by", "auto", "auto: runs whose config.json differ only in seed "
                      "form a group | none: every run alone | setting,...: group by these "
                      "settings (e.g. objective,agent_lr).")
  flags.DEFINE_string("format", "", "png | svg (default: --out's extension, else png).")


FORMATS = ("png", "svg")
NOT_A_SETTING = frozenset({"logdir", "overrides"})


class PlotError(ValueError):
  """Bad input; the message is one line naming the flag or file."""


@dataclasses.dataclass
class Run:
  path: str                   # <logdir>/<environment>
  settings: dict | None       # config.json flattened (setting -> value); None without one

  @property
  def logdir(self) -> str:
    return os.path.dirname(self.path)


@dataclasses.dataclass
class Group:
  name: str
  runs: list[Run]

  @property
  def label(self) -> str:
    """The legend entry: 'objective=diayn (3 seeds)'."""
    n = len(self.runs)
    return f"{self.name} ({n} seed{'' if n == 1 else 's'})"


def read_settings(run_dir: str) -> dict | None:
  """<run_dir>/config.json as {setting: value} (its sections flattened, as the flags
  name them); None when the run has no readable config.json."""
  try:
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(saved, dict):
    return None
  flat = {}
  for key, value in saved.items():
    if key in NOT_A_SETTING:
      continue
    if isinstance(value, dict):
      flat.update(value)
    else:
      flat[key] = value
  return flat


def _text(value) -> str:
  return value if isinstance(value, str) else json.dumps(value)


def _folder_name(runs: list[Run]) -> str:
  """The logdirs' common folder's name: 'seeds' for seeds/s0, seeds/s1."""
  common = os.path.commonpath([os.path.abspath(r.logdir) for r in runs])
  return os.path.basename(common) or common


def _ignored_in_auto() -> frozenset[str]:
  """The seed and the settings a run may change without changing what it learns."""
  # pylint: disable=import-outside-toplevel  (config pulls in JAX; only needed for auto)
  from unsupervised_skill_learning.config import RUN_CONTROL
  return frozenset({"seed", *RUN_CONTROL})


def group_runs(runs: list[Run], group_by: str) -> list[Group]:
  """The runs' groups, in the order of their first run (see the module docstring for
  `group_by`); PlotError for --group_by naming a setting no run has."""
  if group_by == "none":
    common = os.path.commonpath([os.path.abspath(r.logdir) for r in runs])
    return [Group(os.path.relpath(os.path.abspath(r.logdir), common)
                  if len(runs) > 1 else os.path.basename(r.logdir), [r]) for r in runs]
  if group_by == "auto":
    ignored = _ignored_in_auto()
    keys = {}
    for r in runs:
      keys[r.path] = (("<no config.json>", r.path),) if r.settings is None else tuple(sorted(
          (k, _text(v)) for k, v in r.settings.items() if k not in ignored))
    names = None  # from the settings that differ between groups, below
  else:
    names = [n.strip() for n in group_by.split(",") if n.strip()]
    known = set().union(*(r.settings or {} for r in runs))
    unknown = [n for n in names if n not in known]
    if not names or unknown:
      raise PlotError(f"--group_by={group_by}: no run has the setting "
                      f"{(unknown or [''])[0]!r}; use auto, none, or settings of config.json "
                      f"(e.g. {', '.join(sorted(known)[:6])})")
    keys = {r.path: tuple((n, _text((r.settings or {}).get(n, "-"))) for n in names)
            for r in runs}
  members: dict[tuple, list[Run]] = {}
  for r in runs:
    members.setdefault(keys[r.path], []).append(r)
  differing = _differing_settings(list(members)) if names is None else []
  groups = []
  for key, group in members.items():
    if names is None:
      settings = dict(key)
      parts = [f"{k}={settings[k]}" for k in differing if k in settings]
      name = ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")
    else:
      name = ", ".join(f"{k}={v}" for k, v in key)
    groups.append(Group(name or _folder_name(group), group))
  return groups


def _differing_settings(keys: list[tuple]) -> list[str]:
  """The settings that tell auto groups apart (their group keys, (setting, value)
  pairs): those every configured group has, with more than one value (objective=diayn,
  not the settings only DIAYN has); else those some configured groups lack. Groups
  without config.json take no part (they are named by their folder). The objective
  first, then by name: a legend shows the first four."""
  configured = [dict(key) for key in keys if key and key[0][0] != "<no config.json>"]
  if len(configured) < 2:
    return []
  every = set().union(*configured)
  shared = {k for k in every if all(k in c for c in configured)}
  differing = {k for k in shared if len({c[k] for c in configured}) > 1}
  if not differing:
    differing = {k for k in every - shared
                 if len({c.get(k) for c in configured}) > 1}
  return sorted(differing, key=lambda k: (k != "objective", k))


def output_path(out: str, fmt: str) -> tuple[str, str]:
  """(the file to write, its format): --format, else --out's extension, else png; the
  file's extension follows the format."""
  root, ext = os.path.splitext(out)
  ext = ext[1:].lower()
  fmt = (fmt or (ext if ext in FORMATS else "png")).lower()
  if fmt not in FORMATS:
    raise PlotError(f"--format={fmt}: allowed: {', '.join(FORMATS)}")
  return (root if ext in FORMATS else out) + "." + fmt, fmt


def plot_runs(paths: list[str], tags: list[str], out: str, *, smooth: int = 1,
              group_by: str = "auto", fmt: str = "") -> tuple[str, list[Group]]:
  """Finds the runs beneath `paths`, groups them, and writes the figure of `tags`
  (mean ± std per group against env steps); returns (the file written, the groups).
  PlotError (one line, naming the flag or folder) for bad input."""
  if not paths:
    raise PlotError("no run folders given: plot_runs RUN_DIR [RUN_DIR ...] (runs, or folders "
                    "holding them)")
  if smooth < 1:
    raise PlotError(f"--smooth={smooth}: must be >= 1 (1: no smoothing)")
  tags = [t.strip() for t in tags if t.strip()]
  if not tags:
    raise PlotError("--tags: give at least one TensorBoard tag (e.g. intrinsic_reward)")
  path, _ = output_path(out, fmt)
  try:
    run_dirs = find_runs(paths)
  except FileNotFoundError as err:
    raise PlotError(str(err)) from None
  if not run_dirs:
    raise PlotError(f"{' '.join(paths)}: no runs found (no <logdir>/<environment>/train with "
                    "TensorBoard event files beneath)")
  runs = [Run(d, read_settings(d)) for d in run_dirs]
  groups = group_runs(runs, group_by)
  scalars = {r.path: read_scalars(r.path) for r in runs}
  found = sorted(set().union(*scalars.values()))
  missing = [t for t in tags if t not in found]
  if missing:
    raise PlotError(f"--tags={','.join(tags)}: no run logged {missing[0]!r}; tags found: "
                    f"{', '.join(found)}")
  panels, notes = {}, {}
  for tag in tags:
    bands, logged = [], []
    for group in groups:
      series = []
      for r in group.runs:
        points = sorted(scalars[r.path].get(tag, {}).items())
        if points:
          steps, values = np.array(points).T
          logged.append(values)
          series.append((steps, plots.smooth(values, smooth)))
      if series:
        steps, mean, std, _ = plots.mean_std_curve(series)
        bands.append(plots.Band(group.label, steps, mean, std))
    panels[tag] = bands
    notes.update(plots.no_reward_notes({tag: np.concatenate(logged)}))
  title = "mean ± 1 std across seeds" + (
      f", each run smoothed over {smooth} logged points" if smooth > 1 else "")
  plots.plot_bands(path, panels, title=title, notes=notes)
  return path, groups


def _fail(message: str) -> None:
  cli.fail("plot_runs", message)


def main(argv):
  try:
    path, groups = plot_runs(argv[1:], FLAGS.tags, FLAGS.out, smooth=FLAGS.smooth,
                             group_by=FLAGS.group_by.strip() or "auto", fmt=FLAGS.format)
  except (PlotError, OSError) as err:
    _fail(str(err))
  for group in groups:
    print(f"{group.label}: {', '.join(r.path for r in group.runs)}")
  print(f"wrote {path}")


if __name__ == "__main__":
  define_flags()
  cli.run(main, "plot_runs", __doc__)
