"""Baselines that use the skills without training on the task: they play the same test
episodes as the trained controllers (episodes.test_episodes), in the MetaEnv.

  mpc:            zero-shot: at every primitive, goal reaching's controller chooses the
                  skill toward the task's current goal (Task.goal), by the skills'
                  capability (api.Skills.goal_controller): MPC over the skill dynamics
                  (DADS), its plan carried from primitive to primitive as in
                  --run_eval=1, or the zero-shot rule of a goal-conditioned latent (METRA).
  random_skills:  a skill drawn from the prior at every primitive.
"""

from __future__ import annotations

import jax
import numpy as np

from unsupervised_skill_learning.api import Skills
from unsupervised_skill_learning.downstream import episodes
from unsupervised_skill_learning.downstream.tasks import Task, TaskError

# The planner's keys of test episode i: fold_in(key(seed), MPC_KEYS + i); the random
# skills of test episode i: SeedSequence(seed, spawn_key=(RANDOM_SKILLS, i)).
MPC_KEYS = 1000
RANDOM_SKILLS = episodes.TEST + 1


def check_mpc(skills: Skills, task: Task) -> None:
  """Fails before any work where MPC cannot run: a task without a goal (TaskError), or
  skills without goal reaching (api.CapabilityError: neither skill dynamics nor a
  goal-conditioned latent)."""
  if task.goal(task.reset(np.random.default_rng(0))) is None:
    raise TaskError(f"--method=mpc plans toward the task's goal; --task={task.name} gives none")
  skills.require_goal_reaching("--method=mpc")


def mpc_act(skills: Skills, key: jax.Array) -> episodes.Act:
  """A fresh goal controller (one test episode): skill toward env.goal() from the robot's
  observation."""
  controller = skills.goal_controller(key)
  return lambda env, obs: controller(env.robot_obs, env.goal())


def random_act(skills: Skills, rng: np.random.Generator) -> episodes.Act:
  return lambda env, obs: skills.prior.sample(rng)


def act_for(method: str, skills: Skills, seed: int):
  """episode index -> the baseline's act for that test episode, from streams of its own
  (the planner's keys, or the random skills' generator)."""
  if method == "mpc":
    base = jax.random.key(seed)
    return lambda i: mpc_act(skills, jax.random.fold_in(base, MPC_KEYS + i))
  return lambda i: random_act(skills, np.random.default_rng(
      np.random.SeedSequence(seed, spawn_key=(RANDOM_SKILLS, i))))
