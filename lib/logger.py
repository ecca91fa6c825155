"""TensorBoard scalars and text through tensorboardX's event-file writer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tensorboardX import SummaryWriter


class Logger:
  """Writes scalars keyed by a step (env steps); one writer per run directory.

  purge_step: a resumed run passes the step its checkpoint ends at, so the points a killed
  run wrote after that checkpoint are hidden (TensorBoard, and export_curves) instead of
  appearing twice. Non-finite values are written as they are: a diverging curve shows
  its NaN instead of silently stopping.
  """

  def __init__(self, directory: str, purge_step: int | None = None):
    self.writer = SummaryWriter(directory, flush_secs=30, purge_step=purge_step)

  def scalars(self, values: Mapping[str, float], step: int) -> None:
    for name, value in values.items():
      self.writer.add_scalar(name, float(np.asarray(value)), step)

  def text(self, name: str, text: str, step: int = 0) -> None:
    self.writer.add_text(name, text, step)

  def flush(self) -> None:
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()
