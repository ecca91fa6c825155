"""What the training loop needs from a skill-discovery objective (DADS or DIAYN).

The loop never knows which objective it runs: it updates the objective's model on
transitions, asks it for intrinsic rewards on the agent's batches, and, for skill
relabelling, for how well candidate skills explain a transition.
"""

from __future__ import annotations

from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp


class Transitions(flax.struct.PyTreeNode):
  """Raw transitions, fields [B, ...]: observations without the skill."""

  obs: jnp.ndarray       # [B, obs_dim]
  skill: jnp.ndarray     # [B, skill_dim]
  next_obs: jnp.ndarray  # [B, obs_dim]


class Objective(Protocol):

  def init(self, key: jax.Array) -> Any:
    ...

  def update(self, state: Any, batch: Transitions, weights: jnp.ndarray,
             key: jax.Array) -> tuple[Any, dict]:
    """One weighted step of the objective's model (skill dynamics or discriminator)."""

  def reward(self, state: Any, batch: Transitions, key: jax.Array) -> tuple[jnp.ndarray, dict]:
    """Intrinsic reward [B] and logging info (scalars)."""

  def skill_log_likelihood(self, state: Any, batch: Transitions,
                           skills: jnp.ndarray) -> jnp.ndarray:
    """log-likelihood [B, C] of each candidate skill skills[B, C, dz] for the transition."""
