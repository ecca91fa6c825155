"""Goal reaching on top of any env whose observation starts with x, y."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class GoalReachingMixin:
  """Reward = -||xy - goal|| of the state reached; the goal is settable per episode.

  Mix in before the base env: `class AntGoalEnv(GoalReachingMixin, AntEnv)`.
  `compute_reward` is vectorized over batches of (predicted) states and agrees with
  `step`'s reward, which is what lets a planner score imagined trajectories.
  """

  def __init__(self, *args, goal=(10.0, 10.0), **kwargs):
    super().__init__(*args, **kwargs)
    self.goal = np.zeros(2)
    self.set_goal(goal)

  def set_goal(self, goal) -> None:
    goal = np.asarray(goal, dtype=np.float64)
    if goal.shape != (2,):
      raise ValueError(f"a goal is an (x, y) pair; got shape {goal.shape}")
    self.goal = goal

  def reset(self, *, seed=None, options=None):
    if options and "goal" in options:
      self.set_goal(options["goal"])
    return super().reset(seed=seed, options=options)

  def compute_reward(self, obs, next_obs, goal=None):
    """obs, next_obs: [..., D] with x-y first -> reward [...].

    Works on NumPy arrays and, inside a jitted planner, on JAX arrays (then `goal` is
    passed in as an array so that one compiled planner serves every goal).
    """
    del obs  # The reward depends on the state reached only.
    if isinstance(next_obs, jax.Array):
      goal = jnp.asarray(self.goal if goal is None else goal)
      return -jnp.linalg.norm(next_obs[..., :2] - goal, axis=-1)
    goal = self.goal if goal is None else np.asarray(goal)
    return -np.linalg.norm(np.asarray(next_obs)[..., :2] - goal, axis=-1)

  def step(self, action):
    obs, _, terminated, truncated, info = super().step(action)
    reward = float(self.compute_reward(None, obs))
    info["distance_to_goal"] = -reward
    return obs, reward, terminated, truncated, info
