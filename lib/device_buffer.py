"""A replay buffer that lives on the accelerator: a Transition pytree of fixed capacity
with pure add / sample / clear, so collection, storage, sampling and updates can be one
jitted call (backends/mjx.py). The host twin is lib/replay_buffer.py."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from lib.transition import Transition


class DeviceBuffer(flax.struct.PyTreeNode):
  """Fixed capacity, wrap-around, uniform sampling with replacement."""

  data: Transition        # [capacity, ...]
  size: jnp.ndarray       # [] int32, rows filled
  next_index: jnp.ndarray  # [] int32, the row the next transition goes to

  @classmethod
  def create(cls, capacity: int, obs_dim: int, skill_dim: int, action_dim: int) -> "DeviceBuffer":
    data = jax.tree.map(jnp.asarray, Transition.empty(capacity, obs_dim, skill_dim, action_dim))
    return cls(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

  @property
  def capacity(self) -> int:
    return self.data.obs.shape[0]

  def add(self, transitions: Transition) -> "DeviceBuffer":
    """Appends N transitions [N], overwriting the oldest (of more than `capacity`, the
    last `capacity` stay, as if added one by one)."""
    n = transitions.obs.shape[0]
    if n > self.capacity:  # shapes are static: this branch is resolved at trace time
      skipped = n - self.capacity
      moved = self.replace(next_index=(self.next_index + skipped) % self.capacity)
      return moved.add(jax.tree.map(lambda x: x[skipped:], transitions))
    idx = (self.next_index + jnp.arange(n)) % self.capacity
    data = jax.tree.map(lambda store, new: store.at[idx].set(new.astype(store.dtype)),
                        self.data, transitions)
    return DeviceBuffer(data, jnp.minimum(self.size + n, self.capacity).astype(jnp.int32),
                        ((self.next_index + n) % self.capacity).astype(jnp.int32))

  def sample(self, key: jax.Array, shape: tuple[int, ...]) -> Transition:
    """Transitions [*shape] drawn uniformly from the filled rows."""
    idx = jax.random.randint(key, shape, 0, jnp.maximum(self.size, 1))
    return jax.tree.map(lambda x: x[idx], self.data)

  def clear(self) -> "DeviceBuffer":
    return self.replace(size=jnp.zeros((), jnp.int32), next_index=jnp.zeros((), jnp.int32))
