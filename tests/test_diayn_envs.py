"""DIAYN-PyTorch's four environments train, evaluate and record video end to end:
Hopper and HalfCheetah (MuJoCo, filmed by our camera), MountainCarContinuous (classic
control) and BipedalWalker (Box2D, the `box2d` extra), both drawn by Gymnasium's own
rgb_array rendering."""

import json
import sys

import numpy as np
import pytest

import envs
from lib import rendering
from lib.skill_prior import SkillPrior
from lib.video import read_mp4
from unsupervised_skill_learning import dads_off
from unsupervised_skill_learning.evaluation import skills as skill_eval
from testkit import TINY, main_in_process, run_module

STEPS = 30


def drive(*args):
  return run_module("dads_off", f"--flagfile={TINY}", *args)


@pytest.mark.parametrize("name", ["MountainCarContinuous-v0", "BipedalWalker-v3", "HalfCheetah-v5"])
def test_diayn_trains_evaluates_and_films(tmp_path, name):
  """(Hopper-v5 runs the same way in test_eval_falling.py, with its falls.)"""
  out = drive(f"--logdir={tmp_path}", f"--environment={name}", "--objective=diayn",
              "--skill_type=discrete_uniform", "--num_skills=3", "--reduced_observation=0",
              f"--max_env_steps={STEPS}", "--num_epochs=2", "--record_freq=2", "--num_evals=2",
              "--run_eval=1")
  assert out.returncode == 0, out.stderr[-3000:]
  run = tmp_path / name
  # A training video round (every skill of the discrete prior) and the evaluation's.
  assert sorted(p.name for p in (run / "videos" / "2").glob("*.mp4")) == [
      "skill_0.mp4", "skill_1.mp4", "skill_2.mp4"]
  frames = read_mp4(str(run / "eval" / "skills" / "skill_0.mp4"))
  assert frames.shape[0] == STEPS + 1 and frames.shape[-1] == 3
  # The picture is drawn (not blank) and changes as the episode goes on.
  assert frames[0].std() > 5
  assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 0.05
  summary = json.loads((run / "eval" / "eval_summary.json").read_text())
  returns = summary["skills"]["skill_returns"]
  assert len(returns["mean_return"]) == 3 and all(np.isfinite(returns["mean_return"]))
  assert (run / "eval" / "skills" / "skill_returns.png").stat().st_size > 1000
  assert "diayn/logq" in (run / "progress.csv").read_text().splitlines()[0]


def test_non_mujoco_envs_are_filmed_by_their_own_rendering():
  entry = envs.lookup("BipedalWalker-v3")
  assert entry.renders_itself and not envs.lookup("Hopper-v5").renders_itself
  env = skill_eval.make_eval_env("BipedalWalker-v3", SkillPrior("discrete_uniform", 2),
                                 np.random.default_rng(0), 10)
  env.reset()
  renderer = skill_eval.renderer_for("BipedalWalker-v3", env)
  assert isinstance(renderer, rendering.EnvFrameRenderer)
  frame = renderer.capture(env)
  env.close()
  assert frame.dtype == np.uint8 and frame.shape == (400, 600, 3)


def test_missing_pygame_is_one_line_before_training(tmp_path, monkeypatch, capsys):
  """Without the box2d extra's pygame, a run that would film MountainCar is refused at
  start-up with the install command, not at its first video. (dads_off.main in this
  process; the tests above start the real command.)"""
  monkeypatch.setitem(sys.modules, "pygame", None)  # `import pygame` raises ImportError
  code, err = main_in_process(dads_off.main, [
      "dads_off", f"--flagfile={TINY}", f"--logdir={tmp_path}",
      "--environment=MountainCarContinuous-v0", "--reduced_observation=0"], capsys)
  assert code == 2, err[-2000:]
  line = err.strip().splitlines()[-1]
  assert line.startswith("dads_off: error: --environment=MountainCarContinuous-v0")
  assert "pip install -e '.[box2d]'" in line and "--num_evals=0" in line
  assert not (tmp_path / "MountainCarContinuous-v0" / "models").exists()
