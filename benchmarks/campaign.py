"""Evaluates the runs of the Ant x-y campaign (docs/experiments/README.md) and writes its
tables and figures.

  python -m benchmarks.campaign --campaign=../campaign --arms=baseline,sphere,metra \\
      --seeds=0 --epochs=1000 --eval_seeds=0,1,2,3,4 --out=docs/experiments

Each run is `scripts/campaign.sh ARM SEED EPOCHS CORE`'s folder <campaign>/<arm>/s<seed>.
For every run and every checkpoint epoch in --epochs it measures, with the goal
controller the objective declares (MPC over the skill dynamics, or METRA's zero-shot):
- the paper's 6 goals and the random-30 set (envs.goal.random_goals), one 200-step
  episode per goal and evaluation seed: the normalized reward per goal (epochs before the
  last: --curve_goal_set only, the paper's goals by default);
- at the last epoch only: coverage (distinct 1 x 1 m cells of 48 prior skills' paths) and
  the heading histogram of the rolled-out skills (largest gap), at evaluation seed 0;
- from progress.csv: the env steps at which the intrinsic reward, averaged over 10
  epochs, first exceeds --rise_threshold.
Episodes already in a run's goals.csv (same epoch, goal set and evaluation seed) are not
run again, and neither is the coverage of the same last epoch: a stopped evaluation
resumes, and arms evaluated by separate processes (one per core) are tabulated together
by a last call with all of them.
It writes <out>/<arm>/s<seed>/ (progress.csv, summary.json with every epoch evaluated so
far, the per-goal CSV goals.csv, headings_<epoch>.png: the heading histogram of the last
epoch's skills), the table <out>/<name>_table.md (a row per run: mean ± standard error
over goals x evaluation seeds; then a row per arm: mean ± std over training seeds, and
how many seeds meet the campaign's targets), <out>/<name>_paths.png (the coverage paths
of each arm's first seed) and <out>/<name>_goal_curve.png (the paper-goal metric against
env steps per arm, band = ±1 std over training seeds). --name is "campaign" by default;
stage 2 (2,000 epochs) uses --name=stage2, so that the stage-1 table stays.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil

import numpy as np
from absl import app, flags

from lib import plots
from lib.atomic import atomic_write, atomic_write_csv, atomic_write_with
from unsupervised_skill_learning import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS

ENV = "Ant-v1"


def reward_rise(progress_csv: str, threshold: float, window: int = 10) -> int | None:
  """Env steps at which the `window`-epoch mean of intrinsic_reward first exceeds
  `threshold`; None if it never does."""
  with open(progress_csv, newline="") as f:
    rows = [r for r in csv.DictReader(f) if r.get("intrinsic_reward")]
  steps = np.array([float(r["env_steps"]) for r in rows])
  reward = np.array([float(r["intrinsic_reward"]) for r in rows])
  if len(reward) < window:
    return None
  mean = np.convolve(reward, np.ones(window) / window, mode="valid")
  above = np.flatnonzero(mean > threshold)
  return int(steps[above[0] + window - 1]) if above.size else None


def goal_set(name: str) -> np.ndarray:
  """The goals [G, 2] of a named set (goal_reaching.goal_set, for the Ant)."""
  # pylint: disable=import-outside-toplevel
  import envs
  from unsupervised_skill_learning.planning import goal_reaching
  return goal_reaching.goal_set(name, envs.lookup(ENV).default_goals)


def with_eval(model, seed: int, goals: np.ndarray):
  """`model` evaluated with evaluation seed `seed`, goals [G, 2] and no videos."""
  cfg = model.cfg
  eval_cfg = dataclasses.replace(cfg.eval, goals=tuple(map(tuple, goals.tolist())),
                                 record_eval_videos=False)
  return dataclasses.replace(model, cfg=dataclasses.replace(cfg, seed=seed, eval=eval_cfg))


def evaluate_checkpoint(model, scratch: str, eval_seeds: list[int],
                        sets: list[str]) -> list[dict]:
  """Rows {goal_set, eval_seed, goal_x, goal_y, normalized_reward, final_distance,
  initial_distance, controller} of every goal of every set at every evaluation seed."""
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning.planning import goal_reaching
  rows = []
  controller = goal_reaching.make_controller(model)  # compiled once for every seed and set
  for name in sets:
    goals = goal_set(name)
    for seed in eval_seeds:
      summary = goal_reaching.evaluate_goals(with_eval(model, seed, goals),
                                             os.path.join(scratch, f"{name}_{seed}"), seed,
                                             controller)
      for r in summary["planned"]["per_goal"]:
        rows.append({"goal_set": name, "eval_seed": seed, "goal_x": r["goal"][0],
                     "goal_y": r["goal"][1], "normalized_reward": r["normalized_reward"],
                     "final_distance": r["final_distance"],
                     "initial_distance": r["initial_distance"],
                     "controller": summary["controller"]})
  return rows


def skills_report(model, scratch: str) -> tuple[dict, np.ndarray]:
  """Coverage and rolled-out headings at evaluation seed 0, and the coverage paths."""
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning import seeding
  from unsupervised_skill_learning.evaluation import run as evaluation
  from unsupervised_skill_learning.evaluation import skills as skill_eval
  import envs
  model = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, seed=0))
  pos, steps = skill_eval.coverage_paths(
      evaluation.eval_envs(model), evaluation.policy_for(model, model.state),
      np.random.default_rng(seeding.eval_stream(0, seeding.COVERAGE)))
  coverage = skill_eval.coverage_summary(pos, steps, envs.lookup(ENV).coverage_cell)
  headings = evaluation.evaluate_headings(model, scratch, 0) or {}
  return {"coverage": coverage, "headings": headings}, pos


GOAL_COLUMNS = {"epoch": int, "env_steps": int, "goal_set": str, "eval_seed": int,
                "goal_x": float, "goal_y": float, "normalized_reward": float,
                "final_distance": float, "initial_distance": float, "controller": str}


def read_goal_rows(path: str) -> list[dict]:
  """The rows of a run's goals.csv written before (typed as GOAL_COLUMNS), or []: the
  (epoch, goal set, evaluation seed) episodes already there are not run again."""
  if not os.path.exists(path):
    return []
  with open(path, newline="") as f:
    return [{k: GOAL_COLUMNS[k](v) for k, v in r.items()} for r in csv.DictReader(f)]


def skills_by_epoch(summary: dict) -> dict[str, dict]:
  """A run summary's skills reports {epoch: {coverage, headings}}; summaries written
  before there could be several kept one, at "skills_epoch"."""
  if "skills_epoch" in summary:
    return {str(summary["skills_epoch"]): {k: summary[k] for k in ("coverage", "headings")}}
  return dict(summary.get("skills", {}))


def cached_skills_report(old_summary: dict, epoch: int, scratch: str, load,
                         histogram_out: str) -> tuple[dict, np.ndarray]:
  """skills_report of the checkpoint at `epoch`, reused from the run's previous summary
  and the paths saved beside its evaluation when both are of that epoch; `load()` gives
  the model otherwise, and its heading histogram is copied to `histogram_out`."""
  paths = os.path.join(scratch, f"coverage_paths_{epoch}.npy")
  cached = skills_by_epoch(old_summary).get(str(epoch))
  if cached is not None and os.path.exists(paths):
    return cached, np.load(paths)
  histogram = os.path.join(scratch, "headings.png")  # evaluate_headings' figure
  if os.path.exists(histogram):
    os.remove(histogram)  # another epoch's: never copied under this one's name
  skills, pos = skills_report(load(), scratch)
  if os.path.exists(histogram):
    shutil.copyfile(histogram, histogram_out)
  os.makedirs(scratch, exist_ok=True)

  def save(tmp: str) -> None:
    with open(tmp, "wb") as f:  # a file object: np.save would add .npy to the name
      np.save(f, pos)

  atomic_write_with(paths, save)
  return skills, pos


def mean_se(values) -> tuple[float, float]:
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def run_summary(goal_rows: list[dict], epoch_steps: dict[int, int]) -> dict:
  """Per epoch and goal set: mean ± SE of the normalized reward over goals x eval seeds,
  and per eval seed the goals ending below 0.3x their initial distance."""
  out = {}
  for epoch, steps in epoch_steps.items():
    per_set = {}
    for name in sorted({r["goal_set"] for r in goal_rows}):
      rows = [r for r in goal_rows if r["epoch"] == epoch and r["goal_set"] == name]
      if not rows:
        continue
      mean, se = mean_se([r["normalized_reward"] for r in rows])
      seeds = sorted({r["eval_seed"] for r in rows})
      close = [sum(r["final_distance"] < 0.3 * r["initial_distance"]
                   for r in rows if r["eval_seed"] == s) for s in seeds]
      seed_means = [float(np.mean([r["normalized_reward"] for r in rows if r["eval_seed"] == s]))
                    for s in seeds]
      per_set[name] = {"mean": mean, "se": se, "n": len(rows), "seed_means": seed_means,
                       "below_0.3_per_seed": close, "goals": len(rows) // len(seeds)}
    out[str(epoch)] = {"env_steps": steps, **per_set}
  return out


def main(argv):
  del argv
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo after the flags)
  from lib import checkpoint
  from unsupervised_skill_learning.test_policy import load_model
  arms = [a for a in FLAGS.arms.split(",") if a]
  seeds = [int(s) for s in FLAGS.seeds.split(",") if s]
  epochs = sorted(int(e) for e in FLAGS.epochs.split(",") if e)
  eval_seeds = [int(s) for s in FLAGS.eval_seeds.split(",") if s]
  sets = [s for s in FLAGS.goal_sets.split(",") if s]
  for flag, names in (("--goal_sets", sets), ("--curve_goal_set", [FLAGS.curve_goal_set])):
    for name in names:
      try:
        goal_set(name)  # a bad name fails before any work
      except ValueError as err:
        cli.fail("campaign", f"{flag}: {err}")
  out = os.path.join(ROOT, FLAGS.out)
  results, panels = {}, {}
  for arm in arms:
    for seed in seeds:
      logdir = os.path.join(FLAGS.campaign, arm, f"s{seed}")
      run_out = os.path.join(out, arm, f"s{seed}")
      os.makedirs(run_out, exist_ok=True)
      progress = os.path.join(logdir, ENV, "progress.csv")
      shutil.copyfile(progress, os.path.join(run_out, "progress.csv"))
      goals_csv, summary_json = (os.path.join(run_out, n) for n in ("goals.csv", "summary.json"))
      goal_rows, epoch_steps = read_goal_rows(goals_csv), {}
      old = {}
      if os.path.exists(summary_json):
        with open(summary_json) as f:
          old = json.load(f)
      scratch = os.path.join(logdir, "campaign_eval")
      for epoch in epochs:
        done = {(r["goal_set"], r["eval_seed"]): r["env_steps"] for r in goal_rows
                if r["epoch"] == epoch}
        todo = {name: [s for s in eval_seeds if (name, s) not in done]
                for name in (sets if epoch == epochs[-1] else [FLAGS.curve_goal_set])}
        if not any(todo.values()):  # all evaluated before: no checkpoint to load
          epoch_steps[epoch] = next(iter(done.values()))
          continue
        model = load_model(logdir, which=str(epoch), seed=seed)
        meta, _ = checkpoint.restore_meta(model.checkpoint)
        epoch_steps[epoch] = int(meta["env_steps"])
        for name, missing in todo.items():
          for row in evaluate_checkpoint(model, scratch, missing, [name]) if missing else []:
            goal_rows.append({"epoch": epoch, "env_steps": epoch_steps[epoch], **row})
          atomic_write_csv(goals_csv, goal_rows)  # a stopped evaluation keeps what it did
        print(f"{arm} s{seed} epoch {epoch}: evaluated", flush=True)
      skills, pos = cached_skills_report(
          old, epochs[-1], scratch, lambda: load_model(logdir, which=str(epochs[-1]), seed=seed),
          os.path.join(run_out, f"headings_{epochs[-1]}.png"))
      if seed == seeds[0]:
        panels[arm] = pos
      wanted = [r for r in goal_rows if r["goal_set"] in sets and r["eval_seed"] in eval_seeds]
      for r in wanted:  # epochs evaluated by an earlier call (another stage) stay
        epoch_steps.setdefault(r["epoch"], r["env_steps"])
      summary = {"arm": arm, "seed": seed, "rise_threshold": FLAGS.rise_threshold,
                 "reward_rise_env_steps": reward_rise(progress, FLAGS.rise_threshold),
                 "goal_reaching": run_summary(wanted, dict(sorted(epoch_steps.items()))),
                 "skills": {**skills_by_epoch(old), str(epochs[-1]): skills}}
      atomic_write(summary_json, json.dumps(summary, indent=1))
      results[(arm, seed)] = summary
  write_table(out, FLAGS.name, results, arms, seeds, epochs[-1], sets)
  write_figures(out, FLAGS.name, results, panels, arms, seeds, epochs, FLAGS.curve_goal_set)


# The targets of the campaign (docs/experiments/README.md), met by a training seed when
# all three hold at the table's epoch.
TARGET_PAPER_MEAN = -0.35  # mean normalized reward on the paper's goals, eval seeds pooled
TARGET_GOALS_CLOSE = 5  # paper goals ending below 0.3x their distance (mean over eval seeds)
TARGET_GAP_DEG = 20.0  # largest empty arc of the rolled-out skills' headings


def run_metrics(summary: dict, epoch: int) -> dict:
  """One run's numbers at `epoch`: the normalized-reward mean per goal set ("means"),
  paper goals below 0.3x (mean over eval seeds), cells visited, heading gap (degrees) and
  reward rise (None where not measured), and whether it meets the targets."""
  g = summary["goal_reaching"][str(epoch)]
  skills = skills_by_epoch(summary).get(str(epoch), {})
  actual = skills.get("headings", {}).get("actual")
  close = g.get("paper", {}).get("below_0.3_per_seed")
  m = {"means": {n: v["mean"] for n, v in g.items() if isinstance(v, dict)},
       "close": float(np.mean(close)) if close else None,
       "cells": skills.get("coverage", {}).get("cells_visited"),
       "gap": actual["largest_gap_deg"] if actual else None,
       "rise": summary["reward_rise_env_steps"]}
  paper = m["means"].get("paper")
  m["meets_targets"] = (None not in (paper, m["close"], m["gap"]) and
                        paper >= TARGET_PAPER_MEAN and m["close"] >= TARGET_GOALS_CLOSE
                        and m["gap"] <= TARGET_GAP_DEG)
  return m


def _mean_std(values, fmt: str) -> str:
  """'mean ± std' over training seeds (population std); one value alone; '-' for none."""
  v = [x for x in values if x is not None]
  if not v:
    return "-"
  if len(v) == 1:
    return format(v[0], fmt)
  return f"{format(float(np.mean(v)), fmt)} ± {format(float(np.std(v)), fmt)}"


def _rise(ms: list[dict]) -> str:
  """The reward rise over seeds, saying how many seeds it has not risen for yet."""
  late = sum(m["rise"] is None for m in ms)
  return _mean_std([m["rise"] for m in ms], ",.0f") + (f" ({late} not yet)" if late else "")


def write_table(out: str, name: str, results: dict, arms, seeds, epoch: int, sets) -> None:
  """<out>/<name>_table.md: a row per run, then a row per arm (mean ± std over training
  seeds, and how many seeds meet all three targets)."""
  lines = ["| arm | seed | env steps | " + " | ".join(
      f"{s}: normalized reward (mean ± SE)" for s in sets) +
      " | paper goals below 0.3x (per eval seed) | cells visited | largest heading gap | "
      "reward rise (env steps) |", "|" + " --- |" * (7 + len(sets))]
  for arm in arms:
    for seed in seeds:
      s = results[(arm, seed)]
      g = s["goal_reaching"][str(epoch)]
      m = run_metrics(s, epoch)
      close = "/".join(str(c) for c in g.get("paper", {}).get("below_0.3_per_seed", []))
      gap = f"{m['gap']:.0f}°" if m["gap"] is not None else "-"
      rise = f"{m['rise']:,}" if m["rise"] else "not yet"
      lines.append(f"| {arm} | {seed} | {g['env_steps']:,} | " + " | ".join(
          f"{g[n]['mean']:.3f} ± {g[n]['se']:.3f}" for n in sets) +
          f" | {close} | {_mean_std([m['cells']], 'd')} | {gap} | {rise} |")
  lines += ["", f"Per arm, mean ± std (ddof 0, as the figure's bands) over training seeds "
            f"{', '.join(map(str, seeds))}; a "
            f"seed meets the targets when its paper-goal mean is ≥ {TARGET_PAPER_MEAN}, at "
            f"least {TARGET_GOALS_CLOSE} of 6 paper goals end below 0.3x their distance "
            f"(mean over evaluation seeds) and its largest heading gap is ≤ "
            f"{TARGET_GAP_DEG:.0f}°.", "",
            "| arm | seeds | " + " | ".join(f"{s}: normalized reward" for s in sets) +
            " | paper goals below 0.3x (of 6) | cells visited | largest heading gap (°) | "
            "reward rise (env steps) | seeds meeting the targets |",
            "|" + " --- |" * (7 + len(sets))]
  for arm in arms:
    ms = [run_metrics(results[(arm, seed)], epoch) for seed in seeds]
    lines.append(f"| {arm} | {len(ms)} | " + " | ".join(
        _mean_std([m["means"].get(n) for m in ms], ".3f") for n in sets) +
        f" | {_mean_std([m['close'] for m in ms], '.1f')}"
        f" | {_mean_std([m['cells'] for m in ms], '.0f')}"
        f" | {_mean_std([m['gap'] for m in ms], '.0f')}"
        f" | {_rise(ms)}"
        f" | {sum(m['meets_targets'] for m in ms)}/{len(ms)} |")
  atomic_write(os.path.join(out, f"{name}_table.md"), "\n".join(lines) + "\n")
  print("\n".join(lines))


def write_figures(out: str, name: str, results: dict, panels: dict, arms, seeds, epochs,
                  curve_set: str) -> None:
  """<out>/<name>_paths.png (each arm's first seed's skills at the last epoch) and
  <out>/<name>_goal_curve.png (the curve goal set's metric at every epoch, per arm)."""
  if panels:
    plots.plot_path_panels(
        os.path.join(out, f"{name}_paths.png"),
        {f"{arm}: {run_metrics(results[(arm, seeds[0])], epochs[-1])['cells']} cells": p
         for arm, p in panels.items()},
        title=f"Ant x-y: 48 prior skills, 200 steps each, after {epochs[-1]} epochs "
              f"(training seed {seeds[0]}, eval seed 0)")
  if len(epochs) < 2:
    return
  bands = []
  for arm in arms:
    curves = [[results[(arm, s)]["goal_reaching"][str(e)][curve_set]["mean"] for e in epochs]
              for s in seeds]
    steps = [results[(arm, seeds[0])]["goal_reaching"][str(e)]["env_steps"] for e in epochs]
    label = f"{arm} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
    bands.append(plots.Band(label, np.asarray(steps, np.float64), np.mean(curves, 0),
                            np.std(curves, 0)))
  plots.plot_bands(os.path.join(out, f"{name}_goal_curve.png"),
                   {f"{curve_set} goals: mean normalized reward": bands},
                   title="Ant x-y goal reaching against training (0 is perfect)",
                   markers="dot: an evaluated checkpoint")


def define_flags() -> None:
  """The command line's flags (defined only when run as a program, so importing this
  module for its functions adds no flags)."""
  flags.DEFINE_string("campaign", "../campaign", "Folder of the runs: <campaign>/<arm>/s<seed>.")
  flags.DEFINE_string("arms", "baseline,sphere,metra", "Arms to evaluate, comma-separated.")
  flags.DEFINE_string("seeds", "0", "Training seeds, comma-separated.")
  flags.DEFINE_string("epochs", "1000", "Checkpoint epochs to evaluate (the last gets coverage "
                      "and headings too), comma-separated; 1000 epochs = 502k env steps.")
  flags.DEFINE_string("eval_seeds", "0,1,2,3,4", "Evaluation seeds of goal reaching.")
  flags.DEFINE_string("goal_sets", "paper,random30", "Goal sets: paper (the 6 goals) and/or "
                      "random30.")
  flags.DEFINE_string("curve_goal_set", "paper", "The goal set evaluated at the epochs before "
                      "the last (the curve of the goal metric against env steps); the last "
                      "epoch gets every set of --goal_sets.")
  flags.DEFINE_float("rise_threshold", 0.2, "Intrinsic reward (10-epoch mean) that counts as "
                     "risen.")
  flags.DEFINE_string("out", "docs/experiments", "Where the tables, figures and per-run files go.")
  flags.DEFINE_string("name", "campaign", "Prefix of the table and figures: <name>_table.md, "
                      "<name>_paths.png, <name>_goal_curve.png (e.g. stage2 for stage 2, so "
                      "that the stage-1 table stays).")


if __name__ == "__main__":
  define_flags()
  app.run(main)
