"""One run per logdir: `<logdir>/.lock` holds the pid and host of the process using it.

  with RunLock(logdir):
    train(...)

A second process on the same logdir (two trainers, or a trainer and an export reading a
checkpoint being rotated away) stops at once with one line naming the holder, instead of
both writing checkpoints over each other. A lock left by a killed process is taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time

from absl import logging

LOCK_NAME = ".lock"
# A lock file is created and then written; a reader can see it empty for an instant.
_EMPTY_RETRIES = 20
_EMPTY_RETRY_S = 0.05


class LockError(RuntimeError):
  """The directory is in use by another live process (one line naming it)."""


def process_alive(pid: int) -> bool:
  """Whether process `pid` exists on this host (a zombie counts as alive; pid <= 0 never
  names a single process, so it is not)."""
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except OSError:  # PermissionError: it exists but belongs to someone else
    return True
  return True


def process_start_time(pid: int) -> str | None:
  """The start time of `pid` in clock ticks since boot (Linux /proc), or None where it
  cannot be read. With the pid it tells a process from a later one given the same pid
  (containers restart their processes with the same small pids)."""
  try:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
      stat = f.read()
    # Field 22; the command name (field 2, in parentheses) may contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _parse(text: str) -> dict | None:
  """{"pid", "host", "start"} from a lock file: JSON as written by RunLock, or a plain
  "<pid> [<host>]"; None if unparseable."""
  try:
    holder = json.loads(text)
    if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
      return {"pid": holder["pid"], "host": holder.get("host"), "start": holder.get("start")}
  except ValueError:
    pass
  words = text.split()
  if words and words[0].isdigit():
    return {"pid": int(words[0]), "host": words[1] if len(words) > 1 else None, "start": None}
  return None


@contextlib.contextmanager
def _takeover_guard(directory: str):
  """Serializes stale-lock takeovers in `directory` (flock on the directory itself, which
  the kernel releases if we die), so two processes cannot both remove a stale lock and
  one of them remove the other's fresh lock. Without flock support: no guard."""
  try:
    import fcntl  # pylint: disable=import-outside-toplevel  (absent on Windows)
  except ImportError:
    yield
    return
  fd = os.open(directory, os.O_RDONLY)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
      pass  # e.g. some network filesystems; the takeover is then only best effort
    yield
  finally:
    os.close(fd)  # also releases the flock


class RunLock:
  """Exclusive use of `directory` by this process, through `<directory>/.lock`.

  acquire() raises LockError if another live process holds the lock; release() removes
  the lock file only while it is still ours. Use as a context manager."""

  def __init__(self, directory: str):
    self.directory = directory
    self.path = os.path.join(directory, LOCK_NAME)
    self._me: dict | None = None

  @property
  def held(self) -> bool:
    return self._me is not None

  def __enter__(self) -> RunLock:
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()

  def live_holder(self) -> dict | None:
    """{"pid", "host", "start"} of the live process holding the lock, or None."""
    exists, text = self._read()
    holder = _parse(text) if exists else None
    return holder if holder is not None and self._is_live(holder) else None

  def _read(self) -> tuple[bool, str]:
    """(exists, content); waits briefly while the file is empty (being written)."""
    for _ in range(_EMPTY_RETRIES):
      try:
        with open(self.path, encoding="utf-8", errors="replace") as f:
          text = f.read()
      except FileNotFoundError:
        return False, ""
      if text.strip():
        return True, text
      time.sleep(_EMPTY_RETRY_S)
    return True, ""

  def _is_live(self, holder: dict) -> bool:
    if holder["host"] not in (None, socket.gethostname()):
      return True  # another machine's process (shared filesystem): cannot check, assume live
    if not process_alive(holder["pid"]):
      return False
    start = process_start_time(holder["pid"])
    return holder["start"] is None or start is None or str(holder["start"]) == start

  def _try_create(self, me: dict) -> bool:
    try:
      fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
      return False
    try:
      with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(me) + "\n")
        f.flush()
        os.fsync(f.fileno())
    except BaseException:
      # Stopped while writing it (SIGTERM, a full disk): no half-written lock stays.
      with contextlib.suppress(OSError):
        os.remove(self.path)
      raise
    return True

  def acquire(self) -> RunLock:
    """Takes the lock (creating `directory` if needed); returns self."""
    if self.held:
      return self
    os.makedirs(self.directory, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "start": process_start_time(os.getpid())}
    for _ in range(5):  # each round either wins, fails, or removes one stale lock
      if self._try_create(me):
        self._me = me
        return self
      exists, text = self._read()
      if not exists:
        continue  # released meanwhile
      holder = _parse(text)
      if holder is not None and self._is_live(holder):
        where = "" if holder["host"] in (None, socket.gethostname()) else f" on {holder['host']}"
        raise LockError(f"{self.directory} is in use by process {holder['pid']}{where} "
                        f"({self.path}); stop it first or use another --logdir")
      with _takeover_guard(self.directory):
        still, again = self._read()
        if still and again == text:  # nobody took it over before us
          if holder is None:
            logging.warning("%s: taking over an unreadable lock file", self.path)
          else:
            logging.warning("%s: taking over the lock of process %d, which is no longer "
                            "running", self.path, holder["pid"])
          os.remove(self.path)
    raise LockError(f"{self.path}: could not take the lock (it keeps changing); is another "
                    "process starting on this logdir? Stop it first or use another --logdir")

  def release(self) -> None:
    """Removes the lock file if it still holds our pid; no-op if not held."""
    if not self.held:
      return
    exists, text = self._read()
    holder = _parse(text) if exists else None
    if holder is not None and holder["pid"] == self._me["pid"] and \
        holder["host"] == self._me["host"]:
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)
    self._me = None
