"""Atomic file writes: a file is either its old version, its complete new version, or
absent; never half written, whatever stops the writer (exception, full disk, Ctrl-C).

Every writer of the project goes through `atomic_write_with`: the data goes to a
temporary file in the same directory (so the final rename never crosses filesystems),
is flushed to disk, renamed over the target with os.replace, and the directory entry
itself is flushed.

  atomic_write(path, b"bytes" or "text")
  atomic_write_json(path, {"a": 1})
  atomic_write_with(path, lambda tmp: np.savez(tmp, x=x))

A whole folder (an evaluation's outputs) is written the same way: into a fresh temporary
folder beside it, which replaces the old folder only once complete.

  with folder_written_whole("<run>/eval") as tmp:
    ...write everything under tmp...

An OSError from a write names the file it was writing (a full disk says which file).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import Any

from lib.run_lock import process_alive

TMP_PREFIX = ".tmp-"
# temporary_path's names: .tmp-<pid>-<8 hex digits>-<target name>
_TMP_NAME = re.compile(r"^\.tmp-(\d+)-[0-9a-f]{8}-(.+)$")


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
  except OSError as err:
    _remove_quietly(tmp)
    if err.filename in (None, tmp):  # name the file being written, not our temporary
      raise OSError(err.errno, err.strerror or str(err), path) from err
    raise
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


def atomic_write_csv(path: str, rows: list[dict]) -> str:
  """rows (at least one; the first one's keys are the header) as CSV, written atomically."""
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  return atomic_write(path, buf.getvalue())


def remove_path(path: str) -> None:
  """Removes a file or a folder tree; nothing if it does not exist."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  else:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
      os.remove(path)


def move_into_place(tmp: str, final: str, aside: str) -> None:
  """Renames the complete folder `tmp` to `final`. An existing `final` (folder or file) is
  renamed to `aside` first, put back if the rename fails, and removed once `tmp` is in
  place: no moment leaves neither the old nor the new one under some name."""
  if not os.path.lexists(final):
    os.rename(tmp, final)
    return
  remove_path(aside)
  os.rename(final, aside)
  try:
    os.rename(tmp, final)
  except BaseException:
    os.rename(aside, final)
    raise
  remove_path(aside)


def remove_dead_temporaries(directory: str, name: str) -> list[str]:
  """Removes the temporaries of `<directory>/<name>` (temporary_path's names, files or
  folders, and their aside copies) whose writing process is no longer running; returns
  their paths. A live writer's are left alone."""
  removed = []
  with contextlib.suppress(FileNotFoundError, NotADirectoryError):
    for entry in os.listdir(directory):
      m = _TMP_NAME.match(entry)
      if m and m.group(2) in (name, f"{name}-replaced") and not process_alive(int(m.group(1))):
        remove_path(os.path.join(directory, entry))
        removed.append(os.path.join(directory, entry))
  return removed


@contextlib.contextmanager
def folder_written_whole(final: str, tmp: str | None = None) -> Iterator[str]:
  """Yields a fresh temporary folder beside `final` (`tmp`, from temporary_path(final),
  when the caller wants to know it beforehand); when the block ends normally it replaces
  `final` (see move_into_place), and on any exception (a full disk, Ctrl-C, SIGTERM) it
  is removed and `final` is left as it was. Temporaries of writers that were killed are
  removed first."""
  directory, name = os.path.split(os.path.abspath(final))
  os.makedirs(directory, exist_ok=True)
  remove_dead_temporaries(directory, name)
  tmp = tmp or temporary_path(final)
  os.makedirs(tmp)
  try:
    yield tmp
    move_into_place(tmp, final, f"{tmp}-replaced")
  except BaseException:
    remove_path(tmp)
    raise
  fsync_directory(directory)
