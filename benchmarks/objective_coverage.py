"""DADS vs DIAYN vs RND vs the untrained policy: Ant x-y coverage at equal env steps.

  python -m benchmarks.objective_coverage [--num_epochs=600] [--runs=runs/objectives] \\
      [--objectives=dads,diayn,rnd] [--seed=0] [--eval_seeds=0,1,2,3,4]

Trains each objective with configs/ant.txt (the paper's Ant x-y setting, off-policy SAC;
DIAYN's discriminator and DADS' skill dynamics both see x-y; RND has no skills) for
--num_epochs (600: 302k env steps), resuming what a previous call left, then measures
coverage as `--run_eval=1` does: 48 episodes of 200 steps, skills drawn from the x-y
prior, and the distinct 1 x 1 m cells their x-y paths visit. Each eval seed draws other
skills, starts and action noise; the table gives mean ± std over them. The untrained
policy is the same network at initialization (the first objective's run).

Writes docs/objective_coverage.csv (a row per policy and eval seed) and
docs/img/objective_coverage.png (the paths of eval seed 0, a panel per policy).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
from absl import app, flags

from lib import plots
from lib.atomic import atomic_write_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = {"dads": "DADS", "diayn": "DIAYN", "rnd": "RND", "untrained": "untrained"}

flags.DEFINE_integer("num_epochs", 600, "Training epochs per objective (500 env steps each, "
                     "after 2,000 initial steps).")
flags.DEFINE_string("runs", "runs/objectives", "Folder of the runs: <runs>/<objective>.")
flags.DEFINE_string("objectives", "dads,diayn,rnd", "Objectives to compare.")
flags.DEFINE_integer("seed", 0, "Training seed.")
flags.DEFINE_string("eval_seeds", "0,1,2,3,4", "Evaluation seeds of the coverage rollouts.")
flags.DEFINE_bool("train", True, "Train (or resume) the runs first; 0: measure what is there.")
flags.DEFINE_string("out_csv", "docs/objective_coverage.csv", "The table.")
flags.DEFINE_string("out_png", "docs/img/objective_coverage.png", "The figure.")
FLAGS = flags.FLAGS


def train(objective: str, logdir: str) -> None:
  cmd = [sys.executable, "-m", "unsupervised_skill_learning.dads_off",
         "--flagfile=configs/ant.txt", f"--objective={objective}", f"--seed={FLAGS.seed}",
         f"--num_epochs={FLAGS.num_epochs}", f"--logdir={logdir}"]
  print("training:", " ".join(cmd[2:]), flush=True)
  subprocess.run(cmd, cwd=ROOT, check=True)


def measure(model, state, seed: int):
  """(coverage summary, paths [48, T + 1, 2]) of `state`'s policy with eval seed `seed`."""
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning import seeding
  from unsupervised_skill_learning.evaluation import run as evaluation
  from unsupervised_skill_learning.evaluation import skills as skill_eval
  import envs
  model = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, seed=seed))
  pos, steps = skill_eval.coverage_paths(
      evaluation.eval_envs(model), evaluation.policy_for(model, state),
      np.random.default_rng(seeding.eval_stream(seed, seeding.COVERAGE)))
  cell = envs.lookup(model.cfg.env.environment).coverage_cell
  return skill_eval.coverage_summary(pos, steps, cell), pos


def main(argv):
  del argv
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo after the flags)
  from lib import checkpoint
  from unsupervised_skill_learning.test_policy import load_model
  objectives = [o.strip() for o in FLAGS.objectives.split(",") if o.strip()]
  eval_seeds = [int(s) for s in FLAGS.eval_seeds.split(",")]
  rows, panels = [], {}
  for i, objective in enumerate(objectives):
    logdir = os.path.join(ROOT, FLAGS.runs, objective)  # training runs in ROOT too
    if FLAGS.train:
      train(objective, logdir)
    model = load_model(logdir, seed=FLAGS.seed)
    meta, _ = checkpoint.restore_meta(model.checkpoint)
    env_steps = int(meta["env_steps"])
    policies = [(objective, model.state)]
    if i == 0:
      policies.append(("untrained", model.untrained_state))
    for name, state in policies:
      cells = []
      for seed in eval_seeds:
        summary, pos = measure(model, state, seed)
        cells.append(summary["cells_visited"])
        if seed == eval_seeds[0]:
          panels[name] = pos
        rows.append({"policy": name, "env_steps": 0 if name == "untrained" else env_steps,
                     "eval_seed": seed, **{k: summary[k] for k in (
                         "cells_visited", "final_xy_spread", "mean_final_distance",
                         "mean_episode_length")}})
      print(f"{LABELS.get(name, name):10s} {env_steps if name != 'untrained' else 0:>8d} steps: "
            f"{np.mean(cells):.0f} ± {np.std(cells):.0f} cells over eval seeds "
            f"{FLAGS.eval_seeds}", flush=True)
  atomic_write_csv(os.path.join(ROOT, FLAGS.out_csv), rows)
  order = [o for o in ("untrained", *objectives) if o in panels]
  titled = {}
  for name in order:
    cells = [r["cells_visited"] for r in rows if r["policy"] == name]
    titled[f"{LABELS.get(name, name)}: {np.mean(cells):.0f} ± {np.std(cells):.0f} cells"] = (
        panels[name])
  steps = max(r["env_steps"] for r in rows)
  plots.plot_path_panels(os.path.join(ROOT, FLAGS.out_png), titled,
                         title=f"Ant x-y: 48 episodes of 200 steps per policy, after "
                               f"{plots.compact_number(steps)} env steps of training "
                               f"(eval seed {eval_seeds[0]})")
  print(f"wrote {FLAGS.out_csv} and {FLAGS.out_png}")


if __name__ == "__main__":
  app.run(main)
