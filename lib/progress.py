"""progress.csv: one row per epoch of a run's key statistics, as Spinning Up's
progress.txt (readable by pandas, spreadsheets, or `column -s, -t`).

  writer = ProgressWriter("<run_dir>/progress.csv", resume_epoch=epoch_of_the_checkpoint)
  writer.write(epoch, env_steps, {"intrinsic_reward": 0.3, ...},
               episode_returns=[12.0, 15.5])   # -> AverageEpRet, StdEpRet, MinEpRet, MaxEpRet

Columns: epoch, env_steps, then (when episode returns or lengths were ever given)
AverageEpRet, StdEpRet, MinEpRet, MaxEpRet, AverageEpLen, then the values' names in the
order they first appeared. A value missing in a row is an empty cell.

What survives what:
- a kill at any moment: each row is one write of a whole line, flushed; a line cut short
  (no newline) is dropped on the next open;
- a resumed run: rows of epochs after the checkpoint it resumes from (written by the
  killed process) are dropped, so no epoch appears twice; the kept rows are rewritten
  atomically (lib.atomic), never half a file;
- a value name that appears after the first row (say, episode statistics once the first
  episode ends): the file is rewritten atomically with the wider header;
- a damaged file (a header without the epoch column, rows that do not fit the header):
  before it is rewritten without what cannot be read, a copy of it is kept beside it
  (progress.csv.damaged, .damaged-2, ...) and a warning names the copy and the rows
  left out. Rows are never dropped silently.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from absl import logging

from lib.atomic import atomic_write

EPOCH, ENV_STEPS = "epoch", "env_steps"
EPISODE_COLUMNS = ("AverageEpRet", "StdEpRet", "MinEpRet", "MaxEpRet", "AverageEpLen")


def episode_columns(returns: Sequence[float] | None,
                    lengths: Sequence[float] | None = None) -> dict[str, float]:
  """Statistics of the episodes that finished: returns [E] -> AverageEpRet, StdEpRet
  (population std), MinEpRet, MaxEpRet; lengths [E] -> AverageEpLen. An empty or None
  list gives NaN for its columns (written as empty cells)."""
  out = {}
  if returns is not None:
    r = np.asarray(returns, np.float64).reshape(-1)
    stats = (r.mean(), r.std(), r.min(), r.max()) if r.size else (math.nan,) * 4
    out.update(zip(EPISODE_COLUMNS[:4], (float(v) for v in stats)))
  if lengths is not None:
    n = np.asarray(lengths, np.float64).reshape(-1)
    out["AverageEpLen"] = float(n.mean()) if n.size else math.nan
  return out


def _cell(value) -> str:
  if value is None:
    return ""
  if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
    return str(int(value))
  value = float(value)
  return "" if math.isnan(value) else format(value, ".8g")


def _line(cells: Sequence[str]) -> str:
  buf = io.StringIO()
  csv.writer(buf, lineterminator="\n").writerow(cells)
  return buf.getvalue()


def _parse(path: str) -> tuple[list[str], list[dict[str, str]], int]:
  """(header, rows that fit it, the number of rows that do not). A last line without its
  newline (a write cut short by a kill) is no row."""
  try:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
      text = f.read()
  except FileNotFoundError:
    return [], [], 0
  if not text.endswith("\n"):
    text = text[:text.rfind("\n") + 1]
  try:
    lines = [cells for cells in csv.reader(io.StringIO(text)) if cells]
  except csv.Error:  # e.g. a NUL byte: nothing can be trusted
    return [], [], max(text.count("\n") - 1, 1)
  if not lines:
    return [], [], 0
  header = lines[0]
  rows = [dict(zip(header, cells)) for cells in lines[1:] if len(cells) == len(header)]
  return header, rows, len(lines) - 1 - len(rows)


def read_progress(path: str) -> tuple[list[str], list[dict[str, str]]]:
  """(header, rows as {column: cell text}) of a progress.csv; a last line without its
  newline (a write cut short) and rows of the wrong width are left out. ([], []) when
  the file does not exist or is empty."""
  header, rows, _ = _parse(path)
  return header, rows


def _keep_copy(path: str) -> str:
  """Copies `path` to the first free name of path.damaged, path.damaged-2, ...;
  returns the copy's path."""
  with open(path, "rb") as f:
    data = f.read()
  copy, n = f"{path}.damaged", 1
  while os.path.exists(copy):
    n += 1
    copy = f"{path}.damaged-{n}"
  return atomic_write(copy, data)


class ProgressWriter:
  """Appends one row per epoch to a CSV file (see the module docstring).

  Args:
    path: the CSV file (its folder is created).
    resume_epoch: the epoch the run continues from (its checkpoint's epoch count): rows
      of later epochs are dropped. 0 (a new run) drops every row.
  """

  def __init__(self, path: str, resume_epoch: int = 0):
    self.path = path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    header, rows, unfit = _parse(path)
    if EPOCH not in header:
      unfit += len(rows)
      rows = []
    unreadable = unfit + sum(_epoch_of(r) is None for r in rows)
    if unreadable:
      copy = _keep_copy(path)
      logging.warning("%s: damaged (%s; %d row(s) cannot be read); kept a copy as %s, and "
                      "the rows that can be read", path,
                      "its header has no epoch column" if header and EPOCH not in header
                      else "rows that do not fit its header", unreadable, copy)
    kept = [r for r in rows if _epoch_of(r) is not None and _epoch_of(r) <= resume_epoch]
    self.columns: list[str] = header if kept else []
    if kept:
      self._rewrite(kept)
    elif os.path.exists(path):
      atomic_write(path, "")

  def write(self, epoch: int, env_steps: int, values: Mapping[str, float], *,
            episode_returns: Sequence[float] | None = None,
            episode_lengths: Sequence[float] | None = None) -> None:
    """Appends the row of `epoch`: env_steps, the episode statistics of the raw
    episode_returns [E] / episode_lengths [E] (see episode_columns), and `values`
    (name -> scalar)."""
    row = {EPOCH: int(epoch), ENV_STEPS: int(env_steps),
           **episode_columns(episode_returns, episode_lengths), **values}
    new = [k for k in row if k not in self.columns]
    if new:
      self.columns = _ordered([*self.columns, *new])
      _, rows = read_progress(self.path)
      self._rewrite(rows)
    line = _line([_cell(row.get(c)) for c in self.columns])
    with open(self.path, "a", encoding="utf-8", newline="") as f:
      f.write(line)
      f.flush()

  def _rewrite(self, rows: list[dict]) -> None:
    """The whole file with the current header, atomically."""
    text = _line(self.columns) + "".join(
        _line([str(r.get(c, "")) for c in self.columns]) for r in rows)
    atomic_write(self.path, text)


def _ordered(columns: list[str]) -> list[str]:
  """epoch, env_steps, the episode columns, then the others in their given order."""
  fixed = [c for c in (EPOCH, ENV_STEPS, *EPISODE_COLUMNS) if c in columns]
  return fixed + [c for c in columns if c not in fixed]


def _epoch_of(row: Mapping[str, str]) -> int | None:
  try:
    return int(row.get(EPOCH, ""))
  except ValueError:
    return None
