"""Goal reaching on top of any env whose observation holds its position."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def goal_reward(positions, goal):
  """-||positions - goal||: positions [..., P], goal [P] -> [...].

  The one goal reward: the goal environments' step reward and the planners' score of
  predicted states. NumPy in, NumPy out; JAX arrays (a jitted planner) likewise.
  """
  xp = jnp if isinstance(positions, jax.Array) or isinstance(goal, jax.Array) else np
  return -xp.linalg.norm(positions - goal, axis=-1)


class GoalReachingMixin:
  """Reward = goal_reward(position reached, goal); the goal is settable per episode.

  Mix in before the base env: `class AntGoalEnv(GoalReachingMixin, AntEnv)`.
  `position_indices` says where the position sits in the observation (the registry's
  ObservationSpec.position_indices for the same robot).
  """

  position_indices: tuple[int, ...] = (0, 1)

  def __init__(self, *args, goal=(10.0, 10.0), **kwargs):
    super().__init__(*args, **kwargs)
    self.goal = np.zeros(len(self.position_indices))
    self.set_goal(goal)

  def set_goal(self, goal) -> None:
    goal = np.asarray(goal, dtype=np.float64)
    if goal.shape != (len(self.position_indices),):
      raise ValueError(f"a goal has {len(self.position_indices)} coordinates; got shape "
                       f"{goal.shape}")
    self.goal = goal

  def reset(self, *, seed=None, options=None):
    if options and "goal" in options:
      self.set_goal(options["goal"])
    return super().reset(seed=seed, options=options)

  def step(self, action):
    obs, _, terminated, truncated, info = super().step(action)
    reward = float(goal_reward(np.asarray(obs)[list(self.position_indices)], self.goal))
    info["distance_to_goal"] = -reward
    return obs, reward, terminated, truncated, info


GOAL_SETS = ("paper", "random30")
RANDOM_GOALS_SEED = 30  # fixed: every run of --goal_set=random30 plans to the same goals


def random_goals(half_width: float, n: int = 30, min_distance: float | None = None,
                 seed: int = RANDOM_GOALS_SEED) -> np.ndarray:
  """n goals uniform in [-half_width, half_width]^2, none closer than min_distance to the
  start (0, 0): float64 [n, 2].

  The DADS paper's Figure 7 samples Ant goals from [-15, 15]^2. A goal near the start has
  a tiny ||g||, and the normalized reward divides by it, so such goals are redrawn
  (default min_distance: half_width / 3, 5 m for the Ant) rather than kept as noise.
  """
  if min_distance is None:
    min_distance = half_width / 3.0
  rng = np.random.default_rng(seed)
  goals = rng.uniform(-half_width, half_width, size=(n, 2))
  while True:
    near = np.linalg.norm(goals, axis=1) < min_distance
    if not near.any():
      return goals
    goals[near] = rng.uniform(-half_width, half_width, size=(int(near.sum()), 2))
