"""What every command-line entry point shares: the one-line error that stops a run
before any work, and the check of --flagfile paths (absl's own message spans two lines)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn


def fail(program: str, message: str) -> NoReturn:
  """Prints '<program>: error: <message>' to stderr and exits with status 2."""
  print(f"{program}: error: {message}", file=sys.stderr)
  sys.exit(2)


def check_flagfiles(argv: Sequence[str], program: str) -> None:
  """A --flagfile=PATH in argv[1:] that is not a file fails in one line."""
  for arg in argv[1:]:
    if arg.startswith("--flagfile="):
      path = arg.split("=", 1)[1]
      if not os.path.isfile(path):
        fail(program, f"--flagfile={path}: no such file")


def quiet_third_party_logs() -> None:
  """JAX's TPU probe and PyOpenGL announce themselves at INFO level; nothing is wrong."""
  for name in ("jax._src.xla_bridge", "OpenGL.acceleratesupport"):
    logging.getLogger(name).setLevel(logging.WARNING)
