"""Atomic checkpoints: a folder per checkpoint, written under a temporary name, then
renamed, so a crash or Ctrl-C at any moment leaves the previous checkpoint usable.

  <models>/ckpt-000050/state.msgpack   parameters and optimizer states (flax state dict)
                      /arrays.npz      other arrays (environment physics, ...)
                      /meta.json       counters, RNG states, anything JSON
                      /<extra files>   e.g. the replay buffer, written by a callback
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import flax.serialization
import jax
import numpy as np

_NAME = re.compile(r"^ckpt-(\d+)$")


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read or does not fit this run; names the file."""


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
  """(step, path) of complete checkpoints, oldest first (temporaries are ignored)."""
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    m = _NAME.match(name)
    if m and os.path.exists(os.path.join(directory, name, "meta.json")):
      found.append((int(m.group(1)), os.path.join(directory, name)))
  return sorted(found)


def latest_checkpoint(directory: str) -> str | None:
  found = list_checkpoints(directory)
  return found[-1][1] if found else None


def save(directory: str, step: int, state: Any, meta: dict, arrays: dict[str, np.ndarray],
         extra: Callable[[str], None] | None = None, keep: int = 3) -> str:
  """Writes checkpoint `step`; keeps the newest `keep`; returns its path."""
  os.makedirs(directory, exist_ok=True)
  final = os.path.join(directory, f"ckpt-{step:06d}")
  tmp = os.path.join(directory, f".tmp-ckpt-{step:06d}-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  state_dict = flax.serialization.to_state_dict(jax.device_get(state))
  with open(os.path.join(tmp, "state.msgpack"), "wb") as f:
    f.write(flax.serialization.msgpack_serialize(state_dict))
  np.savez(os.path.join(tmp, "arrays.npz"), **arrays)
  if extra is not None:
    extra(tmp)
  # meta.json last: a folder without it is never taken for a checkpoint.
  with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
    json.dump(meta, f)
  for path in (os.path.join(tmp, n) for n in os.listdir(tmp)):
    with open(path, "rb") as f:
      os.fsync(f.fileno())
  if os.path.exists(final):
    shutil.rmtree(final)
  os.rename(tmp, final)
  for _, old in list_checkpoints(directory)[:-keep]:
    shutil.rmtree(old, ignore_errors=True)
  for name in os.listdir(directory):  # temporaries of killed writers
    if name.startswith(".tmp-ckpt-") and not name.endswith(f"-{os.getpid()}"):
      shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
  return final


def restore_state(path: str, template: Any) -> Any:
  """Reads state.msgpack into the structure of `template`; every leaf must match in
  shape and dtype, else CheckpointError naming the file and the first mismatch."""
  file = os.path.join(path, "state.msgpack")
  try:
    with open(file, "rb") as f:
      state_dict = flax.serialization.msgpack_restore(f.read())
    restored = flax.serialization.from_state_dict(template, state_dict)
  except Exception as err:  # msgpack/flax raise many types for a damaged file
    raise CheckpointError(f"{file}: unreadable or incompatible checkpoint ({err})") from err
  want = jax.tree_util.tree_leaves_with_path(template)
  got = jax.tree.leaves(restored)
  if len(want) != len(got):
    raise CheckpointError(f"{file}: incompatible checkpoint ({len(got)} arrays, expected "
                          f"{len(want)})")
  for (key_path, w), g in zip(want, got):
    if np.shape(w) != np.shape(g) or np.asarray(w).dtype != np.asarray(g).dtype:
      raise CheckpointError(
          f"{file}: incompatible checkpoint at {jax.tree_util.keystr(key_path)}: "
          f"{np.shape(g)} {np.asarray(g).dtype}, expected {np.shape(w)} {np.asarray(w).dtype} "
          "(was it written with other network sizes or environment?)")
  return jax.tree.map(np.asarray, restored)


def restore_meta(path: str) -> tuple[dict, dict[str, np.ndarray]]:
  """meta.json and arrays.npz of a checkpoint (CheckpointError if unreadable)."""
  try:
    with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
      meta = json.load(f)
    with np.load(os.path.join(path, "arrays.npz")) as f:
      arrays = {k: f[k] for k in f.files}
  except (OSError, ValueError) as err:
    raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from err
  return meta, arrays
