"""The comparison of downstream runs: one figure per task and one table.

  python -m unsupervised_skill_learning.downstream.compare --runs=runs/downstream \\
      --out=runs/downstream/compare

Reads every downstream run (a folder with config.json and progress.csv, as
`python -m unsupervised_skill_learning.downstream` leaves it) at or beneath --runs, and
groups them by task and method; the seeds of a group are its runs. Writes:
  <out>_<task>.png  the test return (AverageTestEpRet: the mean over the test episodes)
                    against env steps: meta and flat_sac as the mean over seeds (line)
                    ± 1 std across seeds (band); mpc and random_skills, which do not
                    train, as horizontal lines at their mean over seeds;
  <out>.csv         per task and method (also printed as a markdown table): seeds, env
                    steps reached, the final test return (mean ± std over seeds), and
                    for trained methods the env steps at which the mean curve first
                    reaches mpc's level.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import numpy as np
from absl import app, flags

from lib.atomic import atomic_write_csv
from lib.progress import ENV_STEPS, read_progress
from unsupervised_skill_learning import cli
from unsupervised_skill_learning.downstream.config import METHODS, TRAINED
from unsupervised_skill_learning.downstream.episodes import TEST_RETURN

PROGRAM = "downstream.compare"
LABELS = {"meta": "meta-controller over skills (SAC)",
          "flat_sac": "flat SAC from scratch",
          "mpc": "MPC over skills (zero-shot, no training)",
          "random_skills": "random skill per primitive (no training)"}


def find_runs(paths: Sequence[str]) -> list[str]:
  """Downstream run folders at or beneath `paths`, sorted; FileNotFoundError naming a
  path that does not exist."""
  found = set()
  for path in paths:
    if not os.path.isdir(path):
      raise FileNotFoundError(f"--runs={path}: no such folder")
    for root, dirs, files in os.walk(path):
      if "progress.csv" in files and "config.json" in files and _settings(root):
        found.add(os.path.normpath(root))
        dirs[:] = []
      dirs.sort()
  return sorted(found)


def _settings(run_dir: str) -> dict | None:
  """A downstream run's config.json (it names a method), else None."""
  try:
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
      settings = json.load(f)
  except (OSError, ValueError):
    return None
  return settings if isinstance(settings, dict) and settings.get("method") in METHODS else None


def curve(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
  """(env steps [N], test return [N]) of the rows where the run was tested."""
  _, rows = read_progress(os.path.join(run_dir, "progress.csv"))
  tested = [(int(r[ENV_STEPS]), float(r[TEST_RETURN])) for r in rows if r.get(TEST_RETURN)]
  if not tested:
    return np.zeros(0), np.zeros(0)
  steps, values = zip(*tested)
  return np.asarray(steps, np.float64), np.asarray(values, np.float64)


# A test curve: (seed, env steps [N], test returns [N]).
Curve = tuple[int, np.ndarray, np.ndarray]


def group(run_dirs: Sequence[str]) -> dict[str, dict[str, list[Curve]]]:
  """{task: {method: [(seed, steps [N], returns [N]) per run with a test]}}."""
  groups: dict = {}
  for run_dir in run_dirs:
    settings = _settings(run_dir)
    steps, values = curve(run_dir)
    if len(steps):
      groups.setdefault(settings["task"], {}).setdefault(settings["method"], []).append(
          (int(settings["seed"]), steps, values))
  return groups


def mean_curve(runs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(steps [M], mean [M], std [M]) over the runs at the env steps every run reached
  (runs test at the same steps; a run still going is cut to the shortest)."""
  common = sorted(set.intersection(*(set(s.tolist()) for _, s, _ in runs)))
  grid = np.array([[v[list(s).index(x)] for x in common] for _, s, v in runs])
  return np.asarray(common), grid.mean(0), grid.std(0)


def level(runs) -> tuple[float, float]:
  """A baseline's (mean, std) over seeds of its test return."""
  finals = np.array([v[-1] for _, _, v in runs])
  return float(finals.mean()), float(finals.std())


def plot_task(path: str, task: str, methods: dict) -> str:
  """The figure of one task (see the module docstring)."""
  # pylint: disable=import-outside-toplevel  (matplotlib only for this command)
  from lib import plots
  plt = plots.plt
  fig, ax = plt.subplots(figsize=(6.4, 4.2))
  colors = {m: plots.plt.cm.tab10(i) for i, m in enumerate(METHODS)}
  for method in METHODS:
    runs = methods.get(method)
    if not runs:
      continue
    label = f"{LABELS[method]}, {len(runs)} seed{'s' if len(runs) > 1 else ''}"
    if method in TRAINED:
      steps, mean, std = mean_curve(runs)
      ax.plot(steps, mean, color=colors[method], lw=1.8, label=f"{label}: mean (line)")
      ax.fill_between(steps, mean - std, mean + std, color=colors[method], alpha=0.2, lw=0,
                      label=f"{label}: ± 1 std across seeds (band)")
    else:
      mean, _ = level(runs)
      ax.axhline(mean, color=colors[method], lw=1.5, ls="--",
                 label=f"{label}: mean (dashed horizontal)")
  ax.set_title(f"{task}: test return against env steps")
  ax.set_xlabel("env steps (robot steps of training, initial collection included)")
  ax.set_ylabel("task return per test episode")
  ax.xaxis.set_major_formatter(plots.ticker.FuncFormatter(lambda v, _: plots.compact_number(v)))
  ax.grid(alpha=0.3)
  ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=7.5, frameon=False)
  fig.tight_layout()
  return plots._save(fig, path, dpi=100, bbox_inches="tight")  # pylint: disable=protected-access


def table(groups: dict) -> list[dict]:
  """One row per task and method (see the module docstring)."""
  rows = []
  for task in sorted(groups):
    methods = groups[task]
    mpc = level(methods["mpc"])[0] if methods.get("mpc") else None
    for method in METHODS:
      runs = methods.get(method)
      if not runs:
        continue
      if method in TRAINED:
        steps, mean, std = mean_curve(runs)
        final, spread, reached = mean[-1], std[-1], int(steps[-1])
        matched = steps[mean >= mpc] if mpc is not None else []
        matches = str(int(matched[0])) if len(matched) else ("not within the run" if mpc is not None
                                                           else "")
      else:
        (final, spread), reached, matches = level(runs), 0, ""
      rows.append({"task": task, "method": method, "seeds": len(runs), "env_steps": reached,
                   "test_return_mean": round(float(final), 3),
                   "test_return_std": round(float(spread), 3),
                   "env_steps_to_match_mpc": matches})
  return rows


def markdown(rows: list[dict]) -> str:
  """The table as markdown, for the docs."""
  lines = ["| task | method | seeds | env steps | test return (mean ± std over seeds) | "
           "env steps to reach MPC's mean |", "| --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    lines.append(f"| {r['task']} | {r['method']} | {r['seeds']} | {r['env_steps'] or '-'} | "
                 f"{r['test_return_mean']:.2f} ± {r['test_return_std']:.2f} | "
                 f"{r['env_steps_to_match_mpc'] or '-'} |")
  return "\n".join(lines) + "\n"


def compare(paths: Sequence[str], out: str) -> tuple[list[str], list[dict]]:
  """Writes the figures and the CSV table; returns (their paths, the table's rows).
  ValueError when no run was tested yet."""
  groups = group(find_runs(paths))
  if not groups:
    raise ValueError(f"--runs={','.join(paths)}: no downstream run with a test return "
                     "(progress.csv with AverageTestEpRet) there")
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  rows = table(groups)
  written = [plot_task(f"{out}_{task}.png", task, methods) for task, methods in groups.items()]
  return written + [atomic_write_csv(f"{out}.csv", rows)], rows


def main(argv):
  if len(argv) > 1:
    cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}; every setting is a --flag")
  try:
    written, rows = compare(flags.FLAGS.runs, flags.FLAGS.out)
  except (FileNotFoundError, ValueError) as err:
    cli.fail(PROGRAM, str(err))
  print(markdown(rows))
  print("wrote " + ", ".join(written))


if __name__ == "__main__":
  flags.DEFINE_list("runs", None, "Folders holding downstream runs (searched beneath), "
                    "comma-separated.", required=True)
  flags.DEFINE_string("out", None, "Prefix of the outputs: <out>_<task>.png and <out>.csv "
                      "(the table is also printed, as markdown).", required=True)
  cli.check_flagfiles(sys.argv, PROGRAM)
  app.run(main)
