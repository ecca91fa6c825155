"""docs/tutorial.ipynb runs: its code cells in order, in one namespace, with the cell
tagged "parameters" overridden by small sizes (no Jupyter needed)."""

import json
import os

import numpy as np
import pytest

from lib.progress import read_progress
from lib.video import read_mp4
from testkit import ROOT

NOTEBOOK = os.path.join(ROOT, "docs", "tutorial.ipynb")
STEPS = 20


def code_cells(path: str) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    notebook = json.load(f)
  return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def test_notebook_is_stored_without_outputs():
  """What the reader sees is what the code makes when run, never a stale output."""
  for cell in code_cells(NOTEBOOK):
    assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")  # plt.show() headless
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ffmpeg writing the videos
def test_tutorial_runs_at_small_sizes(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)  # the notebook's paths are the project's (it moves there itself)
  small = {"OUT": str(tmp_path), "EPISODE_STEPS": STEPS, "META_ENV_STEPS": 120,
           "INITIAL_ENV_STEPS": 40, "ENV_STEPS_PER_EPOCH": 40, "TEST_EPISODES": 1,
           "CONTROLLER_HIDDEN": 16}
  cells = code_cells(NOTEBOOK)
  parameters = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
  assert len(parameters) == 1
  namespace: dict = {}
  for i, cell in enumerate(cells):
    exec(compile("".join(cell["source"]), f"{NOTEBOOK}:cell {i}", "exec"),  # pylint: disable=exec-used
         namespace)
    if cell is parameters[0]:
      assert set(small) <= set(namespace), "a parameter the test sets is gone from the notebook"
      namespace.update(small)
  # Two skills filmed, one episode each.
  for i in range(2):
    assert read_mp4(str(tmp_path / "skills" / f"skill_{i}.mp4")).shape[0] == STEPS + 1
  # The planned episode went its length, toward the goal.
  path, goal = namespace["path"], namespace["goal"]
  assert path.shape == (STEPS + 1, 2)
  assert np.linalg.norm(path[-1] - goal) < np.linalg.norm(path[0] - goal)
  # The meta-controller trained: tested before any update and after each epoch.
  rows = read_progress(str(tmp_path / "ant_goal" / "meta" / "progress.csv"))[1]
  assert [r["env_steps"] for r in rows] == ["0", "80", "120"]
  assert set(namespace["tested"]) == {"mpc", "random_skills", "meta"}
