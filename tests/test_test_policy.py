"""test_policy on the shipped model and on a tiny run's older checkpoint; the per-skill
returns of --run_eval=1."""

import json
import os
import re

import jax
import numpy as np
import pytest

from lib import checkpoint
from lib.skill_prior import SkillPrior
from lib.video import read_mp4
from unsupervised_skill_learning import test_policy as tp
from unsupervised_skill_learning.evaluation import skills as skill_eval
from testkit import ROOT, TINY, run_module

PRETRAINED = os.path.join(ROOT, "pretrained", "ant_xy")
LINE = re.compile(r"^skill=(\d+) z=(\S+) episode=(\d+) return=(\S+) length=(\d+)$")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """2 epochs (checkpoints 1 and 2), then --run_eval=1 in the same invocation."""
  logdir = tmp_path_factory.mktemp("run")
  out = run_module("dads_off", f"--flagfile={TINY}", f"--logdir={logdir}", "--num_epochs=2",
                "--record_freq=1000", "--run_eval=1", "--record_eval_videos=0",
                "--num_candidate_sequences=8", "--refine_steps=2", "--primitive_horizon=5",
                "--goals=0.5,0.5")
  assert out.returncode == 0, out.stderr[-3000:]
  return logdir


def episode_lines(stdout):
  lines = stdout.strip().splitlines()
  assert all(LINE.match(line) for line in lines), stdout
  return [LINE.match(line).groups() for line in lines]


def test_pretrained_model_prints_each_episode_and_films_it(tmp_path):
  out = run_module("test_policy", f"--logdir={PRETRAINED}", "--episodes=2", "--max_env_steps=20",
                f"--video={tmp_path}")
  assert out.returncode == 0, out.stderr[-3000:]
  episodes = episode_lines(out.stdout)
  assert len(episodes) == 2  # a continuous prior: 2 skills drawn, one episode each
  assert [e[0] for e in episodes] == ["0", "1"] and episodes[0][1] != episodes[1][1]
  returns = [float(e[3]) for e in episodes]
  assert all(np.isfinite(returns)) and all(r != 0 for r in returns)  # Ant pays every step
  assert [e[4] for e in episodes] == ["20", "20"]
  frames = read_mp4(str(tmp_path / "skill_0_episode_0.mp4"))
  assert frames.shape[0] == 21 and frames.std() > 5  # reset + 20 steps, a real picture
  assert (tmp_path / "skill_1_episode_0.mp4").exists()


def test_older_checkpoint_with_a_given_skill(tiny_run):
  out = run_module("test_policy", f"--logdir={tiny_run}", "--checkpoint=1", "--episodes=2",
                "--skill=0.3,-0.5", "--deterministic")
  assert out.returncode == 0, out.stderr[-3000:]
  assert [e[:3] for e in episode_lines(out.stdout)] == [("0", "0.3,-0.5", "0"),
                                                        ("0", "0.3,-0.5", "1")]
  assert "ckpt-000001" in out.stderr
  # The chosen checkpoint's parameters, not the newest one's.
  older = tp.load_model(str(tiny_run / "point_mass"), "1")
  assert older.checkpoint.endswith("ckpt-000001")
  models = tiny_run / "point_mass" / "models"
  saved, newest = (checkpoint.restore_state(str(models / name), older.untrained_state).agent.actor
                   for name in ("ckpt-000001", "ckpt-000002"))
  for a, b in zip(jax.tree.leaves(older.state.agent.actor), jax.tree.leaves(saved)):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, c) for a, c in zip(
      jax.tree.leaves(older.state.agent.actor), jax.tree.leaves(newest)))


def test_bad_choices_are_one_line_naming_the_flag(tiny_run):
  out = run_module("test_policy", f"--logdir={tiny_run}", "--checkpoint=9")
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert out.stderr.strip().splitlines()[-1].startswith("test_policy: error: --checkpoint=9: ")
  assert "(epochs there: 1, 2)" in out.stderr


def test_episode_plans():
  rng = np.random.default_rng(0)
  discrete = SkillPrior("discrete_uniform", 3)
  plan = tp.plan_episodes(discrete, 2, "", -1, rng)  # every skill, 2 episodes each
  assert plan.skill_ids == [0, 0, 1, 1, 2, 2] and plan.episode_ids == [0, 1] * 3
  np.testing.assert_array_equal(plan.skills, np.repeat(np.eye(3), 2, axis=0))
  plan = tp.plan_episodes(discrete, 2, "", 2, rng)
  assert plan.skill_ids == [2, 2] and plan.skills[:, 2].tolist() == [1, 1]
  continuous = SkillPrior("cont_uniform", 2)
  plan = tp.plan_episodes(continuous, 4, "", -1, rng)  # 4 skills from the prior
  assert len(np.unique(plan.skills, axis=0)) == 4 and np.all(np.abs(plan.skills) <= 1)
  for args, start in (((discrete, 0, "", -1), "--episodes=0"),
                      ((discrete, 1, "1,0,0", 1), "--skill=1,0,0 and --skill_index=1"),
                      ((discrete, 1, "", 3), "--skill_index=3: must be in [0, 3)"),
                      ((continuous, 1, "", 0), "--skill_index=0: the run's skills are"),
                      ((continuous, 1, "0.1", -1), "--skill=0.1: expected 2 finite numbers"),
                      ((continuous, 1, "a,b", -1), "--skill=a,b: expected 2")):
    with pytest.raises(tp.UsageError) as err:
      tp.plan_episodes(*args, rng)
    assert str(err.value).startswith(start)


def test_eval_writes_returns_per_skill(tiny_run):
  skills_dir = tiny_run / "point_mass" / "eval" / "skills"
  png = (skills_dir / "skill_returns.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
  summary = json.loads((tiny_run / "point_mass" / "eval" / "eval_summary.json").read_text())
  returns = summary["skills"]["skill_returns"]
  # The evaluated skills (--num_evals=2 of tiny.txt), 5 episodes each, point_mass's 20 steps.
  assert returns["skills"] == summary["skills"]["skills"]
  assert np.shape(returns["episode_returns"]) == (2, 5)
  assert returns["episode_lengths"] == [[20] * 5] * 2
  np.testing.assert_allclose(returns["mean_return"], np.mean(returns["episode_returns"], 1))
  meta = json.loads((skills_dir / "skills.json").read_text())
  assert all("return" in m for m in meta)


def test_rollout_returns_sum_the_env_reward():
  """rollout_skill and run_batched (lockstep) both return the sum of the env's rewards."""
  prior = SkillPrior("discrete_uniform", 3)
  z = prior.enumerate()[1]
  fresh = lambda: skill_eval.make_eval_env("Ant-v1", prior, np.random.default_rng(3), 5)  # noqa: E731
  env = fresh()
  env.set_preset_skill(z)
  env.reset()
  rewards = [env.step(np.zeros(8))[1] for _ in range(5)]  # the Ant standing still
  env.close()
  env = fresh()
  alone = skill_eval.rollout_skill(env, lambda obs, skill: np.zeros(8), z)
  env.close()
  batched = skill_eval.run_batched([fresh()], lambda obs, skill: np.zeros((len(obs), 8)), z[None])
  assert alone.steps == 5 and batched.steps.tolist() == [5]
  assert alone.episode_return == pytest.approx(sum(rewards)) and sum(rewards) != 0
  assert batched.returns[0] == pytest.approx(sum(rewards))
