"""Running mean and variance as an immutable pytree (for input/target normalization).

Two ways to keep them, on the same pytree (so a state's layout never depends on the
choice):
  update:      the exact mean and variance of every vector seen so far (Chan et al.);
  update_ema:  BatchNorm's moving averages: stat <- momentum * stat + (1 - momentum) *
               the batch's stat (tf.layers.BatchNormalization, as the original DADS'
               skill dynamics normalized with; its moving variance starts at 1).
"""

from __future__ import annotations

import flax.struct
import jax.numpy as jnp

EPS = 1e-8            # this project's normalization epsilon
BATCH_NORM_EPS = 1e-3  # tf.layers.BatchNormalization's default epsilon
BATCH_NORM_MOMENTUM = 0.99  # and its default momentum


class RunningStats(flax.struct.PyTreeNode):
  """Mean and variance of every vector seen so far, merged batch by batch (Chan et al.)."""

  mean: jnp.ndarray   # [dim]
  var: jnp.ndarray    # [dim]
  count: jnp.ndarray  # [] float32

  @classmethod
  def create(cls, dim: int) -> "RunningStats":
    return cls(jnp.zeros(dim, jnp.float32), jnp.ones(dim, jnp.float32),
               jnp.zeros((), jnp.float32))

  @classmethod
  def of_batch(cls, x: jnp.ndarray) -> "RunningStats":
    """The batch's own statistics (unweighted; the biased variance, as BatchNorm's
    training mode normalizes with): x [B, dim]."""
    mean = jnp.mean(x, 0)
    return cls(mean, jnp.mean((x - mean) ** 2, 0), jnp.asarray(x.shape[0], jnp.float32))

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

  def update_ema(self, x: jnp.ndarray, momentum: float = BATCH_NORM_MOMENTUM) -> "RunningStats":
    """BatchNorm's moving averages after a batch x [B, dim] (unweighted, biased batch
    variance, as Keras' non-fused BatchNormalization); `count` counts the vectors seen."""
    batch = RunningStats.of_batch(x)
    return RunningStats(momentum * self.mean + (1.0 - momentum) * batch.mean,
                        momentum * self.var + (1.0 - momentum) * batch.var,
                        self.count + batch.count)

  def normalize(self, x: jnp.ndarray, eps: float = EPS) -> jnp.ndarray:
    return (x - self.mean) / jnp.sqrt(self.var + eps)

  def denormalize(self, x: jnp.ndarray, eps: float = EPS) -> jnp.ndarray:
    return x * jnp.sqrt(self.var + eps) + self.mean

  @property
  def std(self) -> jnp.ndarray:
    return jnp.sqrt(self.var + EPS)
