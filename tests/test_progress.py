"""progress.csv: one row per epoch, resume without repeated epochs, kill-safe lines."""

import csv

import numpy as np
import pytest

from lib.progress import ProgressWriter, read_progress


def rows_of(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def test_rows_episode_statistics_and_header_once(tmp_path):
  path = tmp_path / "run" / "progress.csv"
  writer = ProgressWriter(str(path))
  writer.write(1, 40, {"intrinsic_reward": 0.5}, episode_returns=[1.0, 3.0, 8.0])
  writer.write(2, 80, {"intrinsic_reward": -0.25}, episode_returns=[2.0])
  lines = path.read_text().splitlines()
  assert lines[0] == "epoch,env_steps,AverageEpRet,StdEpRet,MinEpRet,MaxEpRet,intrinsic_reward"
  assert len(lines) == 3  # the header once
  rows = rows_of(path)
  assert [r["epoch"] for r in rows] == ["1", "2"] and rows[1]["env_steps"] == "80"
  assert float(rows[0]["AverageEpRet"]) == 4.0
  assert float(rows[0]["StdEpRet"]) == pytest.approx(np.std([1.0, 3.0, 8.0]))
  assert (float(rows[0]["MinEpRet"]), float(rows[0]["MaxEpRet"])) == (1.0, 8.0)
  assert float(rows[1]["StdEpRet"]) == 0.0 and float(rows[1]["intrinsic_reward"]) == -0.25


def test_no_finished_episode_and_late_columns(tmp_path):
  path = tmp_path / "progress.csv"
  writer = ProgressWriter(str(path))
  writer.write(1, 40, {"loss": 1.0}, episode_returns=[])  # no episode ended: empty cells
  writer.write(2, 80, {"loss": 0.5, "alpha": 0.1}, episode_lengths=[20, 20])
  header, rows = read_progress(str(path))
  assert header == ["epoch", "env_steps", "AverageEpRet", "StdEpRet", "MinEpRet", "MaxEpRet",
                    "AverageEpLen", "loss", "alpha"]
  assert rows[0]["AverageEpRet"] == "" and rows[0]["alpha"] == ""  # widened, row kept
  assert rows[1]["AverageEpLen"] == "20" and rows[1]["AverageEpRet"] == ""


def test_resume_drops_rows_after_the_checkpoint(tmp_path):
  path = str(tmp_path / "progress.csv")
  writer = ProgressWriter(path)
  for epoch in range(1, 6):  # the killed run got to epoch 5; its checkpoint is epoch 3
    writer.write(epoch, 40 * epoch, {"x": float(epoch)})
  resumed = ProgressWriter(path, resume_epoch=3)
  resumed.write(4, 160, {"x": 40.0})
  assert [r["epoch"] for r in rows_of(path)] == ["1", "2", "3", "4"]  # no epoch twice
  assert rows_of(path)[3]["x"] == "40"
  fresh = ProgressWriter(path)  # a new run (epoch 0) starts an empty file
  fresh.write(1, 40, {"x": 7.0})
  assert [r["x"] for r in rows_of(path)] == ["7"]


def test_a_line_cut_short_by_a_kill_is_dropped(tmp_path):
  path = tmp_path / "progress.csv"
  writer = ProgressWriter(str(path))
  writer.write(1, 40, {"x": 1.0})
  writer.write(2, 80, {"x": 2.0})
  with open(path, "a", encoding="utf-8") as f:
    f.write("3,12")  # a kill in the middle of a write, no newline
  resumed = ProgressWriter(str(path), resume_epoch=5)
  resumed.write(3, 120, {"x": 3.0})
  assert path.read_text().splitlines()[1:] == ["1,40,1", "2,80,2", "3,120,3"]


@pytest.mark.parametrize("damage", ["header_without_epoch", "header_lost_a_column"])
def test_a_damaged_header_keeps_a_copy_and_warns(tmp_path, caplog, damage):
  """The rows a damaged header makes unreadable are never dropped silently: the file is
  kept whole beside it (progress.csv.damaged) and a warning names the copy."""
  path = tmp_path / "progress.csv"
  writer = ProgressWriter(str(path))
  for epoch in (1, 2, 3):
    writer.write(epoch, 40 * epoch, {"x": float(epoch), "y": 0.5})
  intact = path.read_text()
  header, rest = intact.split("\n", 1)
  header = "epXch,env_steps,x,y" if damage == "header_without_epoch" else "epoch,env_steps,x"
  path.write_text(header + "\n" + rest)
  with caplog.at_level("WARNING"):
    resumed = ProgressWriter(str(path), resume_epoch=3)
  copy = tmp_path / "progress.csv.damaged"
  assert copy.read_text() == header + "\n" + rest  # every row kept, as it was
  warned = [r.getMessage() for r in caplog.records if str(copy) in r.getMessage()]
  assert len(warned) == 1 and "3 row(s) cannot be read" in warned[0], caplog.text
  resumed.write(4, 160, {"x": 4.0, "y": 0.5})
  assert [r["epoch"] for r in rows_of(path)] == ["4"]
  # A second damage keeps a second copy; the first is not overwritten.
  path.write_text("garbage\n1,2,3\n")
  ProgressWriter(str(path), resume_epoch=4)
  assert (tmp_path / "progress.csv.damaged-2").read_text() == "garbage\n1,2,3\n"
  assert copy.read_text() == header + "\n" + rest
