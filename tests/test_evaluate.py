"""--run_eval=1 end to end on a tiny trained logdir, and its error paths."""

import json
import os

import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning import dads_off
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.planning import goal_reaching
from testkit import TINY, main_in_process, run_module

EVAL_FLAGS = ("--num_candidate_sequences=8", "--refine_steps=2", "--primitive_horizon=5",
              "--goals=0.5,0.5;-0.5,0.2")


def drive(*args):
  return run_module("dads_off", f"--flagfile={TINY}", *args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny run trained and evaluated in one invocation, that evaluation then moved out of
  the run to a folder of its own (test_train_then_eval_in_one_invocation checks it), so
  that an evaluation of the trained logdir starts, as ever, without an eval/:
  (logdir, the first evaluation's folder)."""
  logdir = tmp_path_factory.mktemp("run")
  out = drive(f"--logdir={logdir}", "--num_epochs=2", "--num_evals=0", "--run_eval=1",
              "--record_eval_videos=0", *EVAL_FLAGS)
  assert out.returncode == 0, out.stderr[-3000:]
  first_eval = tmp_path_factory.mktemp("first") / "eval"
  os.rename(logdir / "point_mass" / "eval", first_eval)
  return logdir, first_eval


def test_eval_on_trained_logdir_writes_report(trained):
  trained, _ = trained
  out = drive(f"--logdir={trained}", "--run_train=0", "--run_eval=1", *EVAL_FLAGS)
  assert out.returncode == 0, out.stderr[-3000:]
  mpc = trained / "point_mass" / "eval" / "mpc_eval"
  rows = np.loadtxt(mpc / "eval_data.txt", ndmin=2)
  assert rows.shape == (2, 7)  # one line per goal, the original's 7 columns
  np.testing.assert_allclose(rows[:, :2], [[0.5, 0.5], [-0.5, 0.2]])
  assert np.all(rows[:, 2] < 0) and np.all(rows[:, 4:] >= 0)
  header = (mpc / "eval_data.txt").read_text().splitlines()[0]
  assert header.startswith("# goal_x goal_y normalized_reward first_step_within")
  summary = json.loads((trained / "point_mass" / "eval" / "eval_summary.json").read_text())
  for mode in ("planned", "random"):
    res = summary["goal_reaching"][mode]
    assert len(res["per_goal"]) == 2 and "mean_normalized_reward" in res
    assert len(res["per_goal"][0]["skills"]) == 4  # 20 steps / primitive_horizon 5
  np.testing.assert_allclose(summary["goal_reaching"]["planned"]["mean_normalized_reward"],
                             rows[:, 2].mean(), rtol=1e-5)
  assert summary["skills"]["coverage_trained"]["cells_visited"] > 0
  for name in ("goal_plot.png", "goal_plot_random.png", "goal_0.mp4"):
    assert (mpc / name).stat().st_size > 1000, name
  skills = trained / "point_mass" / "eval" / "skills"
  assert (skills / "traj_plot.png").exists() and (skills / "skill_0.mp4").exists()
  meta = json.loads((skills / "skills.json").read_text())
  assert len(meta) == 2 and len(meta[0]["final_position"]) == 2  # --num_evals=2 (tiny.txt)
  # point_mass never terminates: every episode lasts --max_env_steps=20 (tiny.txt).
  assert [m["steps"] for m in meta] == summary["skills"]["episode_lengths"] == [20, 20]
  assert summary["goal_reaching"]["planned"]["per_goal"][0]["steps"] == 20
  assert summary["skills"]["coverage_trained"]["mean_episode_length"] == 20


def test_train_then_eval_in_one_invocation(trained):
  _, first_eval = trained  # --run_eval=1 with training, without --run_train=0
  assert (first_eval / "mpc_eval" / "eval_data.txt").exists()


def test_logdir_without_model_is_a_clear_error(tmp_path, capsys):
  code, err = main_in_process(dads_off.main, ["dads_off", f"--flagfile={TINY}",
                                              f"--logdir={tmp_path}", "--run_train=0",
                                              "--run_eval=1"], capsys)
  assert code == 2
  assert "no trained run to evaluate" in err and "Traceback" not in err


def test_run_without_checkpoint_is_a_clear_error(tmp_path, capsys):
  out = drive(f"--logdir={tmp_path}", "--num_epochs=1", "--num_evals=0", "--save_model=")
  assert out.returncode == 0, out.stderr[-3000:]
  code, err = main_in_process(dads_off.main, ["dads_off", f"--flagfile={TINY}",
                                              f"--logdir={tmp_path}", "--run_train=0",
                                              "--run_eval=1"], capsys)
  assert code == 2
  assert "no trained model" in err and "Traceback" not in err


def test_goal_metrics_follow_the_paper():
  goal = np.array([3.0, 4.0])
  xy = np.array([[0, 0], [0, 0], [3, 3], [3, 4]], float)
  m = goal_reaching.goal_metrics(xy, goal, 1.5)
  np.testing.assert_allclose(m["normalized_reward"], -(5 + 1 + 0) / (3 * 5))
  assert m["first_step_within"] == 2 and m["last_distances"] == [5.0, 1.0, 0.0]
  assert m["steps"] == 3  # a robot that fell after 3 steps reports 3
  assert goal_reaching.goal_metrics(xy[:2], goal, 1.5)["first_step_within"] == -1


def test_diayn_run_declines_goal_reaching_with_one_line(tmp_path):
  """Goal reaching asks the objective for the skill-dynamics capability, never its class."""
  out = drive(f"--logdir={tmp_path}", "--num_epochs=1", "--num_evals=0", "--objective=diayn",
              "--run_eval=1", "--record_eval_videos=0", *EVAL_FLAGS)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "goal reaching needs skill dynamics; objective diayn has none" in out.stderr
  eval_dir = tmp_path / "point_mass" / "eval"
  assert not (eval_dir / "mpc_eval").exists()
  summary = json.loads((eval_dir / "eval_summary.json").read_text())
  assert "goal_reaching" not in summary and summary["skills"]["coverage_trained"]["cells_visited"] > 0


def test_discrete_skills_are_each_shown_once_before_any_repeats():
  prior = SkillPrior("discrete_uniform", 4)
  rng = np.random.default_rng(0)
  shown = skill_eval.choose_skills(prior, rng, 6, every_discrete_skill=False).argmax(-1)
  assert shown.tolist() == [0, 1, 2, 3, 0, 1]
  few = skill_eval.choose_skills(prior, rng, 2, every_discrete_skill=False)
  assert few.argmax(-1).tolist() == [0, 1]
  # Training videos: every skill, once.
  every = skill_eval.choose_skills(prior, rng, 2, every_discrete_skill=True)
  np.testing.assert_array_equal(every, np.eye(4))
  continuous = skill_eval.choose_skills(SkillPrior("cont_uniform", 3), rng, 5,
                                        every_discrete_skill=True)
  assert continuous.shape == (5, 3) and len(np.unique(continuous, axis=0)) == 5
