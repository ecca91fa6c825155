"""Running mean and variance as an immutable pytree (for input/target normalization)."""

from __future__ import annotations

import flax.struct
import jax.numpy as jnp


class RunningStats(flax.struct.PyTreeNode):
  """Mean and variance of every vector seen so far, merged batch by batch (Chan et al.)."""

  mean: jnp.ndarray   # [dim]
  var: jnp.ndarray    # [dim]
  count: jnp.ndarray  # [] float32

  @classmethod
  def create(cls, dim: int) -> "RunningStats":
    return cls(jnp.zeros(dim, jnp.float32), jnp.ones(dim, jnp.float32),
               jnp.zeros((), jnp.float32))

  def update(self, x: jnp.ndarray, weights: jnp.ndarray | None = None) -> "RunningStats":
    """Merges a batch x [B, dim] (optionally weighted [B]); returns the new stats."""
    w = jnp.ones(x.shape[0], jnp.float32) if weights is None else weights.astype(jnp.float32)
    n = jnp.sum(w)
    batch_mean = jnp.sum(w[:, None] * x, 0) / n
    batch_var = jnp.sum(w[:, None] * (x - batch_mean) ** 2, 0) / n
    total = self.count + n
    delta = batch_mean - self.mean
    mean = self.mean + delta * n / total
    m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
    return RunningStats(mean, m2 / total, total)

  def normalize(self, x: jnp.ndarray) -> jnp.ndarray:
    return (x - self.mean) / jnp.sqrt(self.var + 1e-8)

  def denormalize(self, x: jnp.ndarray) -> jnp.ndarray:
    return x * jnp.sqrt(self.var + 1e-8) + self.mean

  @property
  def std(self) -> jnp.ndarray:
    return jnp.sqrt(self.var + 1e-8)
