"""Small Flax building blocks shared by the learners."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """ReLU MLP: [..., in] -> [..., out]; `hidden` sizes, linear output layer."""

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    for size in self.hidden:
      x = nn.relu(nn.Dense(size)(x))
    return nn.Dense(self.out)(x)
