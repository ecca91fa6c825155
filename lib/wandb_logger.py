"""Weights & Biases beside TensorBoard: an optional logger, as CleanRL's --track.

An entry point given --wandb_project starts one W&B run (`start`, with the run's config);
the places that build a TensorBoard Logger (lib/logger.py) wrap it with `mirror`, which
sends the same scalars to that run, and `log_videos` sends a folder's mp4s. Without a
started run both are no-ops, so code that builds loggers needs no flag of its own; wandb
itself is imported only by `start`.

Offline (WANDB_MODE=offline, no account or network) the run is written under
<run_dir>/wandb/ and `wandb sync` uploads it later. The W&B run id is derived from the
run's folder, so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from collections.abc import Mapping
from typing import Any

INSTALL = "pip install -e '.[wandb]' (or EXTRAS=wandb make setup)"


def _active_run():
  """The W&B run `start` began in this process, or None (wandb never imported: none)."""
  wandb = sys.modules.get("wandb")
  return None if wandb is None else wandb.run


def run_id(run_dir: str) -> str:
  """A W&B run id that is the same for every invocation on `run_dir`."""
  return hashlib.sha256(os.path.abspath(run_dir).encode()).hexdigest()[:16]


def require(project: str, flag: str = "wandb_project"):
  """The wandb module; ValueError naming --flag, with the install command, when the
  extra is not installed."""
  try:
    import wandb  # pylint: disable=import-outside-toplevel  (an optional extra)
  except ImportError:
    raise ValueError(f"--{flag}={project}: needs the wandb extra; install it with: "
                     f"{INSTALL}") from None
  return wandb


def start(project: str, run_dir: str, config: Mapping[str, Any], flag: str = "wandb_project"):
  """Starts (or resumes) the W&B run of `run_dir` in `project`, with `config`; returns it
  (`require`'s ValueError without the extra)."""
  wandb = require(project, flag)
  os.makedirs(run_dir, exist_ok=True)
  return wandb.init(project=project, dir=run_dir, config=dict(config), id=run_id(run_dir),
                    name=os.path.basename(os.path.normpath(run_dir)), resume="allow")


class Mirrored:
  """A TensorBoard Logger whose scalars also go to a W&B run, at the same step."""

  def __init__(self, logger, run):
    self.logger = logger
    self.run = run

  def scalars(self, values: Mapping[str, float], step: int) -> None:
    self.logger.scalars(values, step)
    self.run.log({k: float(v) for k, v in values.items()}, step=int(step))

  def text(self, name: str, text: str, step: int = 0) -> None:
    self.logger.text(name, text, step)  # W&B has the config itself (start)

  def flush(self) -> None:
    self.logger.flush()

  def close(self) -> None:
    self.logger.close()


def mirror(logger):
  """`logger` mirrored to the W&B run started in this process, or `logger` itself."""
  run = _active_run()
  return logger if run is None else Mirrored(logger, run)


def log_videos(folder: str, step: int) -> None:
  """Sends every mp4 in `folder` to the started W&B run (keyed videos/<name>), if any."""
  run = _active_run()
  if run is None:
    return
  wandb = sys.modules["wandb"]
  videos = {f"videos/{os.path.splitext(os.path.basename(p))[0]}": wandb.Video(p, format="mp4")
            for p in sorted(glob.glob(os.path.join(folder, "*.mp4")))}
  if videos:
    run.log(videos, step=int(step))
