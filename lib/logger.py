"""TensorBoard scalars and text, written synchronously to an event file.

Synchronous on purpose: tensorboardX's SummaryWriter queues events for a background
thread, and its flush() does not wait for that queue, so a kill right after a
"flushed" checkpoint could still lose the points the checkpoint covers. Here `flush`
means on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog


class Logger:
  """Writes scalars keyed by a step (env steps) to <directory>/events.out.tfevents.*.

  purge_step: a resumed run passes the first step after its checkpoint, so the points a
  killed run wrote from there on are hidden (TensorBoard, and lib.tb_scalars) instead of
  appearing twice. Non-finite values are written as they are: a diverging curve shows
  its NaN instead of silently stopping.
  """

  def __init__(self, directory: str, purge_step: int | None = None):
    os.makedirs(directory, exist_ok=True)
    # The pid in the name keeps two processes started within one second apart.
    self.writer = EventsWriter(os.path.join(directory, "events"), f".{os.getpid()}")
    if purge_step is not None:
      self._write(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

  def _write(self, event: Event) -> None:
    event.wall_time = time.time()
    self.writer.write_event(event)

  def scalars(self, values: Mapping[str, float], step: int) -> None:
    for name, value in values.items():
      self._write(Event(step=step, summary=summary.scalar(name, float(np.asarray(value)))))

  def text(self, name: str, text: str, step: int = 0) -> None:
    self._write(Event(step=step, summary=summary.text(name, text)))

  def flush(self) -> None:
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()
