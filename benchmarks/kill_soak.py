"""Kill soak: SIGKILL a tiny training run at random moments (many of them inside
checkpoint writes, since it saves every epoch), resume it each time, and check that the
final scalars and parameters equal an uninterrupted run's, bit for bit.

  python -m benchmarks.kill_soak --kills=20 --out=runs/kill_soak

Prints how many kills there were, how many resumed, and whether the end matched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from lib.tb_scalars import read_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_KILLS = flags.DEFINE_integer("kills", 20, "How many SIGKILLs.")
_OUT = flags.DEFINE_string("out", "runs/kill_soak", "Working folder (emptied first).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill times.")
EPOCHS = 60
ARGS = ("--flagfile=configs/tiny.txt", "--num_evals=0", "--save_freq=1", "--keep_checkpoints=2",
        f"--num_epochs={EPOCHS}")


def command(logdir: str) -> list[str]:
  return [sys.executable, "-m", "unsupervised_skill_learning.dads_off", f"--logdir={logdir}",
          *ARGS]


def newest(models: str) -> str | None:
  names = sorted(n for n in os.listdir(models) if n.startswith("ckpt-")) if os.path.isdir(models) else []
  return names[-1] if names else None


def main(argv):
  del argv
  out = os.path.abspath(_OUT.value)
  shutil.rmtree(out, ignore_errors=True)
  straight, killed = os.path.join(out, "straight"), os.path.join(out, "killed")
  subprocess.run(command(straight), cwd=ROOT, check=True, capture_output=True)
  rng = np.random.default_rng(_SEED.value)
  kills = resumed = 0
  models = os.path.join(killed, "point_mass", "models")
  while kills < _KILLS.value:
    before = newest(models)
    proc = subprocess.Popen(command(killed), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    # Once this process has written a checkpoint of its own, an epoch and its checkpoint
    # take tens of milliseconds: a delay of up to 0.2 s lands in every phase of them,
    # checkpoint writes included.
    while newest(models) == before and proc.poll() is None:
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.2))
    if proc.poll() is not None:
      break  # the run finished before this kill
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    kills += 1
    resumed += "resumed from" in err
  final = subprocess.run(command(killed), cwd=ROOT, capture_output=True, text=True)
  a = read_scalars(os.path.join(straight, "point_mass"))
  b = read_scalars(os.path.join(killed, "point_mass"))
  same = all(b.get(tag, {}).get(step) == value for tag, by_step in a.items()
             if not tag.startswith("perf/") for step, value in by_step.items())
  name = f"ckpt-{EPOCHS:06d}"
  state = [open(os.path.join(d, "point_mass", "models", name, "state.msgpack"), "rb").read()
           for d in (straight, killed)]
  print(f"kills: {kills}, runs that resumed from a checkpoint: {resumed}, final rc "
        f"{final.returncode}")
  print(f"scalars equal to the uninterrupted run: {same}; final parameters byte-identical: "
        f"{state[0] == state[1]}")


if __name__ == "__main__":
  app.run(main)
