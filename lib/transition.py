"""The one transition type: what a backend collects, the replay buffer stores and the
learners consume. The skill travels beside the observation, never inside it."""

from __future__ import annotations

import flax.struct
import numpy as np

# Field order of a stored transition (also the order of the replay buffer's arrays).
FIELDS = ("obs", "skill", "action", "next_obs", "reward", "terminated", "truncated",
          "behaviour_logp")


class Transition(flax.struct.PyTreeNode):
  """Transitions with leading batch axes [...]: [N] collected, [B] a batch, [U, B] the
  batches of U fused updates. NumPy on the host, jnp on device."""

  obs: np.ndarray             # [..., obs_dim] float32, the env observation (no skill)
  skill: np.ndarray           # [..., skill_dim] float32, the skill the action was taken under
  action: np.ndarray          # [..., action_dim] float32, the policy's action in [-1, 1]
  next_obs: np.ndarray        # [..., obs_dim] float32, the true next observation
  reward: np.ndarray          # [...] float32, the env's reward (objectives replace it)
  terminated: np.ndarray      # [...] bool, cuts the bootstrap
  truncated: np.ndarray       # [...] bool, a time limit (does not cut the bootstrap)
  behaviour_logp: np.ndarray  # [...] float32, log pi_behaviour(action | obs, skill)

  @classmethod
  def empty(cls, capacity: int, obs_dim: int, skill_dim: int, action_dim: int) -> "Transition":
    """Zeroed host storage for `capacity` transitions."""
    f32 = np.float32
    return cls(obs=np.zeros((capacity, obs_dim), f32), skill=np.zeros((capacity, skill_dim), f32),
               action=np.zeros((capacity, action_dim), f32),
               next_obs=np.zeros((capacity, obs_dim), f32), reward=np.zeros(capacity, f32),
               terminated=np.zeros(capacity, bool), truncated=np.zeros(capacity, bool),
               behaviour_logp=np.zeros(capacity, f32))

  def as_dict(self) -> dict[str, np.ndarray]:
    return {k: getattr(self, k) for k in FIELDS}

  def __len__(self) -> int:
    return int(np.shape(self.obs)[0])
