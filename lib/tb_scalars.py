"""Reading a run's TensorBoard scalars back, as TensorBoard itself shows them."""

from __future__ import annotations

import glob
import os

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog
from tensorboard.util import tensor_util


def read_scalars(run_dir: str) -> dict[str, dict[int, float]]:
  """{tag: {env_step: value}} over every event file of <run_dir>/train, oldest first.

  A resumed run's file starts with a purge step P (a SessionLog START at P): the points
  an earlier, killed process wrote at steps >= P are dropped, as TensorBoard drops them,
  so each step has the value of the process that owns it.
  """
  files = sorted(glob.glob(os.path.join(run_dir, "train", "events.out.tfevents.*")))
  if not files:
    raise FileNotFoundError(f"{run_dir}/train: no TensorBoard event files")
  values: dict[str, dict[int, float]] = {}
  for path in files:
    for event in EventFileLoader(path).Load():
      if event.HasField("session_log") and event.session_log.status == SessionLog.START:
        for by_step in values.values():
          for step in [s for s in by_step if s >= event.step]:
            del by_step[step]
      for value in event.summary.value:
        # The loader hands scalars over as rank-0 float tensors (text is a string tensor).
        if (value.metadata.plugin_data.plugin_name == "scalars"
            and not value.tensor.tensor_shape.dim):
          values.setdefault(value.tag, {})[event.step] = float(
              tensor_util.make_ndarray(value.tensor))
  return values
