"""The shipped pretrained Ant model loads through the public evaluation path and plans."""

import os

import jax
import jax.numpy as jnp
import numpy as np

import envs
from unsupervised_skill_learning import evaluate
from unsupervised_skill_learning.config import EnvConfig, RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained", "ant_xy")


def test_pretrained_ant_is_small_and_loads():
  path = os.path.join(PRETRAINED, "Ant-v1", "models", evaluate.EVAL_MODEL)
  assert os.path.getsize(path) < 5e6
  model = evaluate.load(RunConfig(logdir=PRETRAINED, env=EnvConfig("Ant-v1")))
  assert model.checkpoint == path
  assert model.cfg.env.reduced_observation == 2 and model.parts.prior.dim == 2
  # Trained, not the initial weights.
  trained = jax.tree.leaves(model.state.agent.actor)
  initial = jax.tree.leaves(model.untrained_state.agent.actor)
  assert any(not np.array_equal(a, b) for a, b in zip(trained, initial))


def test_pretrained_ant_plans_one_step_toward_the_goal():
  model = evaluate.load(RunConfig(logdir=PRETRAINED, env=EnvConfig("Ant-v1")))
  goal_env = envs.get_environment("Ant-v1_goal")
  planner = evaluate.make_planner(model, goal_env)
  for goal in ((10.0, 10.0), (-10.0, 10.0), (0.0, -10.0)):
    goal = jnp.asarray(goal)
    skill, _, info = planner.plan(model.state.objective, jnp.zeros(2), goal, jnp.zeros((1, 2)),
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
  policy = evaluate.policy_of(model, model.state, env)
  obs = np.concatenate([obs[:env.obs_dim], env.skill])
  assert env.action_space.contains(policy(obs).astype(np.float32))
