"""Side by side with QDax's DADS (the only other JAX DADS), on this machine, in one run.

  python -m benchmarks.compare_qdax

QDax is installed into its own virtual environment (benchmarks/.qdax-venv, never our
.venv) with the versions it needs, and timed by benchmarks/qdax_side.py. Matched sizes:
hidden 2x512, batch 256, 5 one-hot skills with the exact DADS sum (QDax supports only
one-hot skills), x-y prior on Ant, one skill-dynamics step and one SAC step per update
(QDax's `update`), 64 updates fused in one jitted call, 500 env steps per epoch.
If QDax cannot be installed or run, the script prints exactly why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np

from benchmarks.run import ROOT, machine, median_time
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.training.trainer import Trainer

VENV = os.path.join(ROOT, "benchmarks", ".qdax-venv")
# QDax 0.5.0 imports TensorFlow Probability's JAX substrate, which fails on JAX >= 0.5
# ('jax.interpreters.xla' has no attribute 'pytype_aval_mappings'); these versions work.
QDAX_PINS = ["qdax==0.5.0", "jax==0.4.35", "jaxlib==0.4.35", "tensorflow-probability==0.25.0",
             "brax==0.12.1", "flax==0.10.2", "orbax-checkpoint==0.10.3", "chex==0.1.87"]
REPEATS = 5
SIZES = {"hidden": [512, 512], "batch": 256, "num_skills": 5, "obs_dim": 27, "action_dim": 8,
         "repeats": REPEATS}


def ensure_qdax() -> str:
  """Path of the QDax venv's python; raises RuntimeError with pip's reason on failure."""
  python = os.path.join(VENV, "bin", "python")
  if not os.path.exists(python):
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
  probe = subprocess.run([python, "-c", "import qdax.baselines.dads"], capture_output=True,
                         text=True, check=False)
  if probe.returncode != 0:
    out = subprocess.run([python, "-m", "pip", "install", "-q", *QDAX_PINS],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
      raise RuntimeError("pip could not install QDax: " + out.stderr.strip().splitlines()[-1])
  return python


def matched_config() -> RunConfig:
  return RunConfig.build(
      logdir="/tmp/bench_qdax", environment="Ant-v1", reduced_observation=2, num_envs=5,
      skill_type="discrete_uniform", num_skills=5, random_skills=0, skill_dyn_train_steps=64,
      skill_dynamics_relabel_type="none", num_epochs=10, save_model="", num_evals=0)


def ours() -> dict:
  trainer = Trainer(matched_config())
  trainer.collect(2000)
  rng = np.random.default_rng(0)
  learner = trainer.learner

  def updates():
    dyn = trainer.backend.buffer.sample(rng, 256, 64)
    agent = trainer.backend.buffer.sample(rng, 256, 64)
    state, _ = learner.objective_epoch(trainer.state, dyn, jax.random.key(0))
    jax.block_until_ready(learner.agent_epoch(state, agent, jax.random.key(1)))

  return {"ours_learner_s_per_update": median_time(updates, REPEATS) / 64,
          "ours_loop_s_per_epoch": median_time(trainer.epoch, REPEATS)}


def main():
  print(f"machine: {machine()}")
  print(f"matched: {json.dumps(SIZES)}; median of {REPEATS} after warm-up\n")
  mine = ours()
  try:
    python = ensure_qdax()
    out = subprocess.run([python, os.path.join(ROOT, "benchmarks", "qdax_side.py"),
                          json.dumps(SIZES)], capture_output=True, text=True, check=False,
                         timeout=3000)
    if out.returncode != 0:
      raise RuntimeError("QDax's run failed: " + out.stderr.strip().splitlines()[-1])
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
  except (RuntimeError, subprocess.SubprocessError, OSError) as err:
    print(f"QDax comparison not run: {err}")
    theirs = {}
  rows = [("learner updates/s", 1 / mine["ours_learner_s_per_update"],
           1 / theirs["qdax_learner_s_per_update"] if "qdax_learner_s_per_update" in theirs else None),
          ("whole-loop env steps/s", 500 / mine["ours_loop_s_per_epoch"],
           500 / theirs["qdax_loop_s_per_epoch"] if "qdax_loop_s_per_epoch" in theirs else None)]
  print(f"{'':26s} {'ours':>10s} {'QDax':>10s} {'ours/QDax':>10s}")
  for name, a, b in rows:
    b_text = f"{b:10.1f}" if b else f"{'n/a':>10s}"
    ratio = f"{a / b:10.2f}" if b else f"{'n/a':>10s}"
    print(f"{name:26s} {a:10.1f} {b_text} {ratio}")
  if "qdax_loop_error" in theirs:
    print(f"QDax whole loop not run: {theirs['qdax_loop_error']}")
  if theirs:
    print(f"(QDax side: JAX {theirs.get('qdax_jax')}, {theirs.get('qdax_env', '')}; "
          "ours: MuJoCo Ant-v1 on the CPU, 5 envs in lockstep)")


if __name__ == "__main__":
  main()
