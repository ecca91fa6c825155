"""Reading a run's TensorBoard scalars back, as TensorBoard itself shows them, and
finding the runs beneath folders (a folder of seeds, a sweep)."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog
from tensorboard.util import tensor_util


EVENTS = "events.out.tfevents.*"
# Folders of a run that never hold another run: not searched (a run's models/ may be big).
_RUN_PARTS = frozenset({"train", "models", "videos", "eval"})


def is_run(path: str) -> bool:
  """Whether `path` is a run (<logdir>/<environment>): its train/ has event files."""
  return bool(glob.glob(os.path.join(path, "train", EVENTS)))


def find_runs(paths: Iterable[str]) -> list[str]:
  """The runs (<logdir>/<environment> folders whose train/ holds TensorBoard event
  files) at or beneath each path, sorted, each once. A path may be a run, a run's
  train/ folder, a logdir, or any folder of them (seeds, sweeps); FileNotFoundError
  names a path that does not exist."""
  found = set()
  for path in paths:
    path = os.path.normpath(path)
    if not os.path.isdir(path):
      raise FileNotFoundError(f"{path}: no such folder")
    if os.path.basename(path) == "train" and is_run(os.path.dirname(path)):
      found.add(os.path.dirname(path))
      continue
    for root, dirs, _ in os.walk(path):
      if is_run(root):
        found.add(root)
        dirs[:] = [d for d in dirs if d not in _RUN_PARTS]
      dirs.sort()
  return sorted(found)


def read_scalars(run_dir: str) -> dict[str, dict[int, float]]:
  """{tag: {env_step: value}} over every event file of <run_dir>/train, oldest first.

  A resumed run's file starts with a purge step P (a SessionLog START at P): the points
  an earlier, killed process wrote at steps >= P are dropped, as TensorBoard drops them,
  so each step has the value of the process that owns it.
  """
  files = sorted(glob.glob(os.path.join(run_dir, "train", EVENTS)))
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
