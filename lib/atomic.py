"""Atomic file writes: a file is either its old version, its complete new version, or
absent; never half written, whatever stops the writer (exception, full disk, Ctrl-C).

Every writer of the project goes through `atomic_write_with`: the data goes to a
temporary file in the same directory (so the final rename never crosses filesystems),
is flushed to disk, renamed over the target with os.replace, and the directory entry
itself is flushed.

  atomic_write(path, b"bytes" or "text")
  atomic_write_json(path, {"a": 1})
  atomic_write_with(path, lambda tmp: np.savez(tmp, x=x))
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable
from typing import Any

TMP_PREFIX = ".tmp-"


def temporary_path(path: str) -> str:
  """A fresh temporary name next to `path`: `.tmp-<pid>-<random>-<basename>`.

  It ends with the target's own name so that writers which add an extension when it is
  missing (np.savez adds ".npz") write exactly this file; the pid tells other processes
  whose file it is."""
  directory, name = os.path.split(os.path.abspath(path))
  return os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}")


def fsync_directory(directory: str) -> None:
  """Flushes a directory's entries (a rename is durable only once its directory is)."""
  fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(fd)
  except OSError as err:
    # Some filesystems (and platforms) cannot fsync a directory; the rename still happened.
    if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
      raise
  finally:
    os.close(fd)


def _fsync_file(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _remove_quietly(path: str) -> None:
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


def atomic_write_with(path: str, writer: Callable[[str], None]) -> str:
  """Calls writer(tmp) to write the whole file at a temporary path, then moves it onto
  `path` atomically; returns `path`.

  On any exception (including OSError ENOSPC and KeyboardInterrupt) the temporary file
  is removed and the exception re-raised: `path` keeps its previous contents (or stays
  absent). The directory of `path` must exist."""
  tmp = temporary_path(path)
  try:
    writer(tmp)
    _fsync_file(tmp)  # raises FileNotFoundError if the writer wrote nothing
    os.replace(tmp, path)
  except BaseException:
    _remove_quietly(tmp)
    raise
  fsync_directory(os.path.dirname(os.path.abspath(path)))
  return path


def atomic_write(path: str, data: bytes | str) -> str:
  """Writes bytes, or str as UTF-8, to `path` atomically (see atomic_write_with)."""
  payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)

  def write(tmp: str) -> None:
    # O_EXCL: the name is fresh, never someone else's file; 0o666 so the umask applies
    # as for an ordinary open() (mkstemp would make it 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as f:
      f.write(payload)

  return atomic_write_with(path, write)


def atomic_write_json(path: str, obj: Any, **dump_kwargs: Any) -> str:
  """json.dumps(obj, **dump_kwargs) written to `path` atomically. The object is
  serialized before anything is written, so an unserializable one leaves no trace."""
  return atomic_write(path, json.dumps(obj, **dump_kwargs))
