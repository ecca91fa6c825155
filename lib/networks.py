"""Small Flax building blocks shared by the learners."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# An initializer: (key, shape, dtype) -> array.
Initializer = Callable[..., jnp.ndarray]


class MLP(nn.Module):
  """ReLU MLP: [..., in] -> [..., out]; `hidden` sizes, linear output layer.

  hidden_init / out_init: kernel initializers of the hidden layers and of the output
  layer; None keeps Flax's default (lecun_normal). Biases start at zero either way. The
  parameter tree (Dense_0 .. Dense_n) is the same whatever the initializers.
  """

  hidden: Sequence[int]
  out: int
  hidden_init: Initializer | None = None
  out_init: Initializer | None = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    hidden_kw = {} if self.hidden_init is None else {"kernel_init": self.hidden_init}
    out_kw = {} if self.out_init is None else {"kernel_init": self.out_init}
    for size in self.hidden:
      x = nn.relu(nn.Dense(size, **hidden_kw)(x))
    return nn.Dense(self.out, **out_kw)(x)


# --- tf-agents' initializers (TF 1.x / tf-agents 0.4, as the original DADS used them) -----
# glorot_uniform: U(+-sqrt(6 / (fan_in + fan_out))), tf.keras.initializers.glorot_uniform.
glorot_uniform = nn.initializers.glorot_uniform()


def tf1_variance_scaling(scale: float) -> Initializer:
  """tf.compat.v1.keras.initializers.VarianceScaling(scale): mode fan_in, a normal
  truncated at 2 standard deviations whose standard deviation is
  sqrt(scale / fan_in) / 0.8796 (so that the truncated samples have variance
  scale / fan_in); JAX's variance_scaling does the same correction."""
  return nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal")


def fan_in_uniform(scale: float) -> Initializer:
  """VarianceScaling(scale, mode='fan_in', distribution='uniform'):
  U(+-sqrt(3 scale / fan_in))."""
  return nn.initializers.variance_scaling(scale, "fan_in", "uniform")


def symmetric_uniform(limit: float) -> Initializer:
  """U(-limit, limit): tf.keras.initializers.RandomUniform(-limit, limit). (Flax's
  `uniform(scale)` draws from [0, scale), not a symmetric interval.)"""
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -limit, limit)
  return init
