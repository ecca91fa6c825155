"""TensorBoard scalars and text through tensorboardX's event-file writer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tensorboardX import SummaryWriter


class Logger:
  """Writes scalars keyed by a step (env steps); one writer per run directory."""

  def __init__(self, directory: str):
    self.writer = SummaryWriter(directory, flush_secs=30)

  def scalars(self, values: Mapping[str, float], step: int) -> None:
    for name, value in values.items():
      value = float(np.asarray(value))
      if np.isfinite(value):
        self.writer.add_scalar(name, value, step)

  def text(self, name: str, text: str, step: int = 0) -> None:
    self.writer.add_text(name, text, step)

  def flush(self) -> None:
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()
