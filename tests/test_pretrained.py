"""The shipped pretrained Ant model loads through the public evaluation path and plans."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from lib import checkpoint
from unsupervised_skill_learning.config import EnvConfig, RunConfig
from unsupervised_skill_learning.evaluation import model_io
from unsupervised_skill_learning.evaluation.skills import PolicyFn
from unsupervised_skill_learning.planning import goal_reaching

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained", "ant_xy")


@pytest.fixture(scope="module")
def model():
  """The shipped model, loaded as `--run_eval=1 --logdir=pretrained/ant_xy` loads it."""
  return model_io.load(RunConfig(logdir=PRETRAINED, env=EnvConfig(environment="Ant-v1")))


@pytest.fixture(scope="module")
def planner(model):
  return goal_reaching.make_planner(model)


def test_pretrained_ant_is_small_and_loads(model):
  path = os.path.join(PRETRAINED, "Ant-v1", "models", model_io.EVAL_MODEL)
  assert os.path.getsize(path) < 5e6
  checkpoint.verify_checksums(os.path.join(PRETRAINED, "Ant-v1"), kind="model file")
  assert model.checkpoint == path
  assert model.cfg.env.reduced_observation == 2 and model.parts.prior.dim == 2
  # Trained, not the initial weights.
  trained = jax.tree.leaves(model.state.agent.actor)
  initial = jax.tree.leaves(model.untrained_state.agent.actor)
  assert any(not np.array_equal(a, b) for a, b in zip(trained, initial))


def test_pretrained_ant_plans_one_step_toward_the_goal(model, planner):
  for goal in ((10.0, 10.0), (-10.0, 10.0), (0.0, -10.0)):
    goal = jnp.asarray(goal)
    skill, _, info = planner.plan(model.state.objective, jnp.zeros(2), goal, planner.init_plan(),
                                  jax.random.key(0))
    assert np.all(np.abs(np.asarray(skill)) <= 1.0)
    predicted_end = np.asarray(info["predicted_states"][-1])
    # The skill dynamics predicts that the chosen skill brings the Ant closer to the goal.
    assert np.linalg.norm(predicted_end - goal) < np.linalg.norm(goal) - 0.1
  # The policy acts on the planned skill.
  env = envs.make_skill_env("Ant-v1_goal", model.parts.prior, np.random.default_rng(0),
                            max_env_steps=10)
  obs, _ = env.reset(options={"goal": (10.0, 10.0)})
  env.set_skill(np.asarray(skill))
  policy = PolicyFn(model.parts.learner.policy, model.state.agent.actor, env, deterministic=False)
  assert env.action_space.contains(policy(obs["observation"], env.skill).astype(np.float32))


def test_pretrained_ant_walks_to_an_unseen_goal_with_mpc(model, planner):
  """The whole zero-shot loop on the shipped model, in MuJoCo: MPC over skills at the
  paper's settings (20 replans of 50 candidates x 10 refinements) walks the Ant toward a
  goal it never trained for, and far closer than a random skill per primitive does from
  the same start."""
  goal = np.array([0.0, -10.0])
  planned, _, skills = goal_reaching.reach_goal(model, planner, goal, 0, "planned", render=False)
  randomly, _, _ = goal_reaching.reach_goal(model, planner, goal, 0, "random", render=False)
  assert len(planned) == 201 and len(skills) == 20
  final = np.linalg.norm(planned[-1] - goal)
  assert final < 0.5 * np.linalg.norm(goal)
  assert final < np.linalg.norm(randomly[-1] - goal) - 2.0
  planned_score = goal_reaching.goal_metrics(planned, goal, 1.5)["normalized_reward"]
  assert planned_score > goal_reaching.goal_metrics(randomly, goal, 1.5)["normalized_reward"] + 0.2
