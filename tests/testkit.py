"""What many test modules share: where the project is, the tiny configuration, running
one of the project's command-line modules, and transitions built from states."""

import os
import subprocess
import sys

import jax.numpy as jnp
import pytest
from absl import flags

from lib.transition import Transition

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "tiny.txt")


def module_command(module: str, *args: str) -> list[str]:
  """`python -m unsupervised_skill_learning.<module> args...` as an argv list."""
  return [sys.executable, "-m", f"unsupervised_skill_learning.{module}", *args]


def run_module(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
  """Runs module_command in the project's root; stdout and stderr captured as text, the
  exit code left to the caller."""
  return subprocess.run(module_command(module, *args), cwd=ROOT, capture_output=True,
                        text=True, timeout=timeout, check=False)


def state_transitions(obs, skill, next_obs) -> Transition:
  """Transitions [...] of the states an objective reads (obs, skill, next_obs); the action
  [..., 1] and every other field zeros."""
  n = obs.shape[:-1]
  return Transition(obs=obs, skill=skill, action=jnp.zeros((*n, 1), jnp.float32),
                    next_obs=next_obs, reward=jnp.zeros(n, jnp.float32),
                    terminated=jnp.zeros(n, bool), truncated=jnp.zeros(n, bool),
                    behaviour_logp=jnp.zeros(n, jnp.float32))


def assert_scalars_match_after(a: dict, b: dict, epoch: int) -> int:
  """Every scalar of run `a` logged after `epoch` (by a's 'epoch' tag) is exactly b's
  (the wall-clock perf/ tags excepted); {tag: {step: value}} as tb_scalars reads them.
  Returns how many values were compared. Exact equality: both runs are made on the same
  machine."""
  compared = 0
  for tag, by_step in a.items():
    if tag.startswith("perf/"):
      continue  # wall-clock speeds differ
    for step, value in by_step.items():
      if a["epoch"].get(step, 0) > epoch:
        assert b[tag][step] == value, (tag, step, value, b[tag][step])
        compared += 1
  return compared


def main_in_process(main, argv: list[str], capsys) -> tuple:
  """An entry point's main(argv) run in this process, as `python -m` runs it once absl
  has parsed argv into flags.FLAGS (unparsed again after): (the exit code of the
  SystemExit it must end with, its stderr as captured by pytest's capsys). Saves a
  process start for checks of main's own errors."""
  try:
    flags.FLAGS(argv)
    with pytest.raises(SystemExit) as exit_info:
      main([argv[0]])
  finally:
    flags.FLAGS.unparse_flags()
  return exit_info.value.code, capsys.readouterr().err
