"""A host-side (NumPy) replay buffer of whole transitions, with exact save/restore.

Each row holds a full transition (obs and next_obs side by side), so a sampled pair can
never span two episodes, and time-limit truncations keep their true next observation.
"""

from __future__ import annotations

import numpy as np

from lib.atomic import atomic_write_with

from lib.transition import FIELDS, Transition


class ReplayBuffer:
  """Fixed capacity, wrap-around, uniform sampling.

  obs / next_obs: [obs_dim] float32 (without the skill); skill: [skill_dim];
  action: [action_dim] (the policy's [-1, 1] action); reward: env reward;
  terminated / truncated: bool; behaviour_logp: log pi_old(a | s, z) at collection.
  """

  def __init__(self, capacity: int, obs_dim: int, skill_dim: int, action_dim: int):
    if capacity <= 0:
      raise ValueError(f"replay_buffer_capacity must be positive; got {capacity}")
    self.capacity = capacity
    self.data = Transition.empty(capacity, obs_dim, skill_dim, action_dim).as_dict()
    self.size = 0
    self.next_index = 0

  def __len__(self) -> int:
    return self.size

  def add_batch(self, transitions: Transition) -> None:
    """Appends N transitions [N], overwriting the oldest."""
    n = len(transitions)
    idx = (self.next_index + np.arange(n)) % self.capacity
    for k in FIELDS:
      self.data[k][idx] = getattr(transitions, k)
    self.next_index = int((self.next_index + n) % self.capacity)
    self.size = int(min(self.size + n, self.capacity))

  def clear(self) -> None:
    self.size = 0
    self.next_index = 0

  def sample(self, rng: np.random.Generator, batch_size: int,
             num_batches: int | None = None) -> Transition:
    """Uniform with replacement: [batch_size] or [num_batches, batch_size] transitions."""
    if self.size == 0:
      raise ValueError("cannot sample from an empty replay buffer")
    shape = (batch_size,) if num_batches is None else (num_batches, batch_size)
    idx = rng.integers(0, self.size, size=shape)
    return Transition(**{k: v[idx] for k, v in self.data.items()})

  def all(self) -> Transition:
    """Every stored transition, oldest first."""
    if self.size < self.capacity:
      idx = np.arange(self.size)
    else:
      idx = (self.next_index + np.arange(self.capacity)) % self.capacity
    return Transition(**{k: v[idx] for k, v in self.data.items()})

  def save(self, path: str) -> None:
    """Writes the buffer (only the filled rows) to `path` (.npz), atomically."""
    filled = {k: v[:self.size] for k, v in self.data.items()}
    atomic_write_with(path, lambda tmp: np.savez(tmp, size=self.size, next_index=self.next_index,
                                                 capacity=self.capacity, **filled))

  def load(self, path: str) -> None:
    """Restores a buffer written by `save`; raises ValueError if it does not fit."""
    with np.load(path) as f:
      if int(f["capacity"]) != self.capacity:
        raise ValueError(f"{path}: replay buffer capacity {int(f['capacity'])} does not match "
                         f"--replay_buffer_capacity={self.capacity}")
      size = int(f["size"])
      for k in FIELDS:
        if f[k].shape[1:] != self.data[k].shape[1:]:
          raise ValueError(f"{path}: field {k} has shape {f[k].shape[1:]}, expected "
                           f"{self.data[k].shape[1:]}")
        self.data[k][:size] = f[k]
        self.data[k][size:] = 0
      self.size = size
      self.next_index = int(f["next_index"])
