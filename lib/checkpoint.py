"""Atomic, checksummed checkpoints: a folder per checkpoint, written under a temporary
name, then renamed, so a crash, Ctrl-C or full disk at any moment leaves the previous
checkpoint usable; a file damaged later (disk, copy, hand edit) is detected, never read.

  <models>/ckpt-000050/state.msgpack    parameters and optimizer states (flax state dict)
                      /arrays.npz       other arrays (environment physics, ...)
                      /<extra files>    e.g. the replay buffer, written by a callback
                      /checksums.json   sha256 of every other file (meta.json included),
                                        and of its own list (so a changed entry is told
                                        from a changed file)
                      /meta.json        counters, RNG states, format_version; written last

A `ckpt-N` folder is never a partial write (it only gets its name once complete), so a
`ckpt-N` without meta.json, with a file its checksums.json does not list, or with a bad
checksum is damage: list_checkpoints reports it, latest_valid_checkpoint skips it with a
warning (a `ckpt-N` that is a file, not a folder, too), restoring it raises CheckpointError.
Every error is one line starting with the file (or folder) it is about.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import flax.serialization
import jax
import msgpack
import numpy as np
from absl import logging

from lib.atomic import (atomic_write, atomic_write_json, atomic_write_with, fsync_directory,
                        move_into_place, remove_path)
from lib.run_lock import process_alive

FORMAT_VERSION = 2
STATE, ARRAYS, META, CHECKSUMS = "state.msgpack", "arrays.npz", "meta.json", "checksums.json"
FROM_SCRATCH = "rerun with --train_from_scratch=1 to start over"

_NAME = re.compile(r"^ckpt-(\d+)$")
# .tmp-ckpt-<step>-<pid>[-<what>]: the writer's pid tells whether it may still be writing.
_TMP_NAME = re.compile(r"^\.tmp-ckpt-(\d+)-(\d+)(?:-.*)?$")
# What reading a damaged file can raise: zip/CRC errors from np.load, msgpack's own
# errors, decoding errors, and the Value/Key/Type/Index/Attribute errors that flax and
# numpy raise when the decoded structure is not what they expect.
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, json.JSONDecodeError,
           msgpack.exceptions.UnpackException, ValueError, KeyError, TypeError, IndexError,
           AttributeError, OSError)


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read or does not fit this run; names the file."""


class FormatVersionError(CheckpointError):
  """A checkpoint written by another format version (not damaged: every older one of the
  run has the same format, so there is nothing to fall back to)."""


def _one_line(err: BaseException) -> str:
  text = " ".join(str(err).split())
  return text or type(err).__name__


def _sha256(file: str) -> str:
  digest = hashlib.sha256()
  with open(file, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


# --- checksums ----------------------------------------------------------------------------
def _files_of(folder: str) -> list[str]:
  """Relative '/'-separated paths of the files under `folder`, checksums.json excluded."""
  names = []
  for root, dirs, files in os.walk(folder):
    dirs.sort()
    for name in files:
      rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
      if rel != CHECKSUMS:
        names.append(rel)
  return sorted(names)


def _listing_digest(files: Any) -> str:
  """sha256 of a checksum list's "files" mapping in one canonical JSON form."""
  text = json.dumps(files, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_checksum_file(folder: str, digests: dict[str, str]) -> str:
  files = dict(sorted(digests.items()))
  return atomic_write_json(os.path.join(folder, CHECKSUMS),
                           {"algorithm": "sha256", "files": files,
                            "listing_sha256": _listing_digest(files)}, indent=1)


def write_checksums(folder: str, names: Iterable[str] | None = None) -> str:
  """Writes `<folder>/checksums.json`: the sha256 of `names` (paths relative to folder;
  default: every file under it); returns its path. Call it once the folder is complete,
  e.g. after exporting a model (eval_model.msgpack, config.json)."""
  names = _files_of(folder) if names is None else list(names)
  return _write_checksum_file(folder, {n: _sha256(os.path.join(folder, n)) for n in names})


def verify_checksums(folder: str, kind: str = "file", required: Iterable[str] = ()) -> None:
  """Checks every file listed in `<folder>/checksums.json` exists and has its sha256, and
  that every name in `required` (the files a loader reads, relative '/'-separated paths)
  is listed; raises CheckpointError naming the first missing or damaged file, or
  checksums.json itself when it is the damaged one (its own checksum, "listing_sha256",
  tells a changed entry from a changed file). `kind` words the message ("checkpoint
  file", "model file")."""
  listing = os.path.join(folder, CHECKSUMS)
  if not os.path.exists(listing):
    raise CheckpointError(f"{listing}: missing, so the {kind}s of {folder} cannot be verified")
  listed = _read_json(listing, "checksum list")
  files = listed.get("files") if isinstance(listed, dict) else None
  if not isinstance(files, dict) or not files:
    raise CheckpointError(f"{listing}: damaged checksum list (no \"files\" mapping)")
  own = listed.get("listing_sha256")
  if own is not None and own != _listing_digest(files):
    raise CheckpointError(f"{listing}: damaged checksum list (an entry was changed after it "
                          "was written: its own checksum, listing_sha256, differs); the "
                          f"{kind}s themselves may be intact")
  unlisted = [name for name in required if name not in files]
  if unlisted:
    raise CheckpointError(f"{os.path.join(folder, *unlisted[0].split('/'))}: not listed in "
                          f"{listing}, so it cannot be verified; the {kind} is not used")
  for name, want in files.items():
    parts = name.split("/") if isinstance(name, str) else [""]
    if not isinstance(want, str) or any(p in ("", ".", "..") for p in parts) or \
        os.path.isabs(name):
      raise CheckpointError(f"{listing}: damaged checksum list (entry {name!r}: {want!r})")
    file = os.path.join(folder, *parts)
    try:
      got = _sha256(file)
    except FileNotFoundError:
      raise CheckpointError(f"{file}: missing {kind} (listed in {CHECKSUMS})") from None
    except OSError as err:
      raise CheckpointError(f"{file}: unreadable {kind} ({_one_line(err)})") from err
    if got != want.lower():
      why = ("its sha256 differs from the one in " + CHECKSUMS + ", written with it" if own
             else f"its sha256 differs from its entry in {CHECKSUMS}; that list has no "
             "checksum of its own, so the entry may be what changed")
      raise CheckpointError(f"{file}: damaged {kind} ({why})")


# --- meta -----------------------------------------------------------------------------------
def _read_json(file: str, what: str) -> Any:
  try:
    with open(file, "rb") as f:
      return json.loads(f.read().decode("utf-8"))
  except FileNotFoundError:
    raise CheckpointError(f"{file}: missing {what}") from None
  except _DAMAGE as err:
    raise CheckpointError(f"{file}: unreadable {what} ({_one_line(err)})") from err


def _load_meta(path: str) -> dict:
  """meta.json of checkpoint `path`, checked: format version, then a dict with int
  "epoch" >= 0 and int "env_steps" >= 0 (what resuming relies on)."""
  file = os.path.join(path, META)
  meta = _read_json(file, "checkpoint meta")
  if not isinstance(meta, dict):
    raise CheckpointError(f"{file}: damaged checkpoint meta (a JSON {type(meta).__name__}, "
                          "expected an object)")
  if "format_version" not in meta:
    raise FormatVersionError(f"{path}: checkpoint from an older format (before version "
                             f"{FORMAT_VERSION}); {FROM_SCRATCH}")
  version = meta["format_version"]
  if version != FORMAT_VERSION:
    raise FormatVersionError(f"{path}: checkpoint of format version {version!r}; this code "
                             f"reads version {FORMAT_VERSION}; {FROM_SCRATCH}")
  for key in ("epoch", "env_steps"):
    value = meta.get(key)
    # bool is an int subclass; true/false is no counter.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      got = "missing" if key not in meta else f"got {json.dumps(value)}"
      raise CheckpointError(f"{file}: damaged checkpoint meta (\"{key}\" must be an integer "
                            f">= 0; {got})")
  return meta


# --- finding checkpoints -------------------------------------------------------------------
def check_folder(directory: str) -> None:
  """CheckpointError unless `directory` (a run's models/) is a folder or absent."""
  if os.path.lexists(directory) and not os.path.isdir(directory):
    raise CheckpointError(f"{directory}: is a file, not the folder of checkpoints; move it "
                          "away (nothing was read or written)")


def _entries(directory: str) -> list[tuple[int, str]]:
  """(step, path) of every entry named ckpt-N, folders and anything else."""
  if not os.path.isdir(directory):
    return []
  return sorted((int(m.group(1)), os.path.join(directory, name))
                for name in os.listdir(directory) if (m := _NAME.match(name)))


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
  """(step, path) of every ckpt-N folder, oldest first, complete or not (a folder that
  lost meta.json is damage to report, not an absent checkpoint); temporaries, and ckpt-N
  entries that are not folders (see latest_valid_checkpoint), are left out."""
  return [(step, path) for step, path in _entries(directory) if os.path.isdir(path)]


def latest_checkpoint(directory: str) -> str | None:
  """The newest ckpt-N folder, even a damaged one (restoring it then raises
  CheckpointError rather than silently restarting); None if there is none. Prefer
  latest_valid_checkpoint, which falls back to an older intact one."""
  found = list_checkpoints(directory)
  return found[-1][1] if found else None


def _looks_complete(path: str) -> bool:
  """Cheap test (no hashing) used by rotation and for the 'kept' of error messages."""
  return os.path.isfile(os.path.join(path, META)) and \
      os.path.isfile(os.path.join(path, CHECKSUMS))


def _newest_complete(directory: str) -> str | None:
  complete = [p for _, p in list_checkpoints(directory) if _looks_complete(p)]
  return complete[-1] if complete else None


def verify(path: str) -> None:
  """Checks checkpoint `path`: meta.json present, every file listed in checksums.json
  and matching it, and meta.json of this format with sane counters; raises
  CheckpointError naming the file."""
  if not os.path.isdir(path):
    raise CheckpointError(f"{path}: no such checkpoint folder")
  meta_file = os.path.join(path, META)
  if not os.path.exists(meta_file):
    raise CheckpointError(f"{meta_file}: missing, the checkpoint is incomplete (file deleted "
                          "after it was written)")
  if os.path.exists(os.path.join(path, CHECKSUMS)):
    # Every file of the folder: the loaders read them all (state, arrays, meta, buffer).
    verify_checksums(path, kind="checkpoint file", required=_files_of(path))
    _load_meta(path)
  else:
    _load_meta(path)  # an old-format checkpoint has no checksums: say that, not "missing"
    raise CheckpointError(f"{os.path.join(path, CHECKSUMS)}: missing, the checkpoint cannot be "
                          "verified (file deleted after it was written)")


def latest_valid_checkpoint(directory: str,
                            validate: Callable[[str], None] | None = None) -> str | None:
  """The newest checkpoint that passes verify (and `validate(path)`, which signals an
  unusable one by raising CheckpointError); damaged newer ones are skipped with one
  warning each, and kept on disk for inspection.

  Returns None only if `directory` has no ckpt-N folder at all. Raises CheckpointError
  naming the newest folder if there are some but none is usable, at once for one of
  another format version (all older ones are of that format too), and when `directory`
  itself is a file. A ckpt-N newer than the one returned that is not a folder (a file put
  in its place) is warned about, never skipped silently."""
  check_folder(directory)
  found = list_checkpoints(directory)
  newest = found[-1][0] if found else -1
  for step, path in _entries(directory):
    if not os.path.isdir(path) and step > newest:
      logging.warning("skipping %s: not a checkpoint folder (a file in its place)", path)
  if not found:
    return None
  newest_error = None
  for _, path in reversed(found):
    try:
      verify(path)
      if validate is not None:
        validate(path)
      return path
    except FormatVersionError:
      raise
    except CheckpointError as err:
      logging.warning("skipping damaged checkpoint %s: %s", path, _one_line(err))
      newest_error = newest_error or err
  raise CheckpointError(f"{found[-1][1]}: no usable checkpoint; {FROM_SCRATCH} (all "
                        f"{len(found)} checkpoint folders are damaged; the newest: "
                        f"{_one_line(newest_error)})")


# --- writing -------------------------------------------------------------------------------
def _write_folder(tmp: str, state: Any, meta_bytes: bytes, arrays: dict[str, np.ndarray],
                  extra: Callable[[str], None] | None) -> None:
  """Every file of a checkpoint into the fresh folder `tmp`; meta.json last."""
  os.makedirs(tmp)
  state_dict = flax.serialization.to_state_dict(jax.device_get(state))
  atomic_write(os.path.join(tmp, STATE), flax.serialization.msgpack_serialize(state_dict))
  atomic_write_with(os.path.join(tmp, ARRAYS), lambda p: np.savez(p, **arrays))
  if extra is not None:
    extra(tmp)
  # Hashing reads every file back; fsync first so the hash is of what is on disk (the
  # extra callback's files are not necessarily synced).
  digests = {}
  for name in _files_of(tmp):
    file = os.path.join(tmp, name)
    with open(file, "rb") as f:
      os.fsync(f.fileno())
    digests[name] = _sha256(file)
  # meta.json is covered too: its bytes are known before it is written.
  digests[META] = hashlib.sha256(meta_bytes).hexdigest()
  _write_checksum_file(tmp, digests)
  # meta.json last: a folder without it is never taken for a checkpoint.
  atomic_write(os.path.join(tmp, META), meta_bytes)
  fsync_directory(tmp)


def _rotate(directory: str, final: str, keep: int) -> None:
  """Removes complete checkpoints beyond the newest `keep` (at least 1); never `final`,
  nor incomplete or damaged-looking folders (left for inspection)."""
  complete = [p for _, p in list_checkpoints(directory) if _looks_complete(p)]
  for old in complete[:-max(int(keep), 1)]:
    if old != final:
      shutil.rmtree(old, ignore_errors=True)


def _remove_dead_temporaries(directory: str) -> None:
  """Removes the .tmp-ckpt-* entries (folders, or a file that was moved aside) of writers
  that died (killed mid-write). A live writer's (another process on this logdir) is left
  alone."""
  for name in os.listdir(directory):
    m = _TMP_NAME.match(name)
    if m and not process_alive(int(m.group(2))):
      remove_path(os.path.join(directory, name))


def save(directory: str, step: int, state: Any, meta: dict, arrays: dict[str, np.ndarray],
         extra: Callable[[str], None] | None = None, keep: int = 3) -> str:
  """Writes checkpoint `step` (state: a pytree of arrays; meta: JSON-able dict with
  "epoch" and "env_steps"; arrays: name -> array; extra(folder) writes more files into
  the folder), keeps the newest `keep` complete ones, returns its path.

  If writing fails (OSError, e.g. a full disk) nothing is left of the new checkpoint,
  no older one is touched, and CheckpointError says which one is kept."""
  step = int(step)
  meta_bytes = json.dumps({**meta, "format_version": FORMAT_VERSION}).encode("utf-8")
  final = os.path.join(directory, f"ckpt-{step:06d}")
  tmp = os.path.join(directory, f".tmp-ckpt-{step:06d}-{os.getpid()}")
  aside = f"{tmp}-replaced"
  try:
    os.makedirs(directory, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)  # ours, from an earlier failed attempt
    _write_folder(tmp, state, meta_bytes, arrays, extra)
    # An existing ckpt-N (the same step written again after its damaged copy was skipped,
    # or a file in its place) is replaced, never left beside the new one.
    move_into_place(tmp, final, aside)
    fsync_directory(directory)
  except OSError as err:
    shutil.rmtree(tmp, ignore_errors=True)
    kept = _newest_complete(directory) if os.path.isdir(directory) else None
    reason = err.strerror or _one_line(err)
    raise CheckpointError(f"{directory}: could not write checkpoint {step} ({reason}); kept "
                          f"{kept or 'nothing'}") from err
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  _rotate(directory, final, keep)
  _remove_dead_temporaries(directory)
  return final


# --- reading -------------------------------------------------------------------------------
def restore_state(path: str, template: Any) -> Any:
  """Verifies checkpoint `path`, then reads state.msgpack into the structure of
  `template`; every leaf must match in shape and dtype, else CheckpointError naming the
  file and the first mismatch. Returns the pytree with NumPy leaves."""
  verify(path)
  file = os.path.join(path, STATE)
  try:
    with open(file, "rb") as f:
      state_dict = flax.serialization.msgpack_restore(f.read())
    restored = flax.serialization.from_state_dict(template, state_dict)
  except _DAMAGE as err:
    raise CheckpointError(f"{file}: unreadable or incompatible checkpoint "
                          f"({_one_line(err)})") from err
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
  """Verifies checkpoint `path`, then returns (meta.json, arrays.npz as name -> array);
  meta has int "epoch" >= 0 and "env_steps" >= 0 (and "format_version")."""
  verify(path)
  meta = _load_meta(path)
  file = os.path.join(path, ARRAYS)
  try:
    with np.load(file, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except _DAMAGE as err:
    raise CheckpointError(f"{file}: unreadable checkpoint file ({_one_line(err)})") from err
  return meta, arrays
