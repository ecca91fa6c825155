"""Zero-shot goal reaching with a goal-conditioned latent (METRA's phi), beside MPC.

METRA rewards moving along z in the latent space, so the skill that heads from s toward
a goal g is the direction from phi(s) to phi(g) (METRA, section 5.3):

  z = (phi(g) - phi(s)) / |phi(g) - phi(s)|,

re-chosen every primitive_horizon steps (the caller's loop), then put into the prior's
support (SkillPrior.project: unchanged on the sphere; the box clips it; a one-hot prior
takes its largest coordinate, the skill whose centred direction scores highest). A goal
is a position; phi reads a reduced observation, so the goal's reduced state is the
current one with its position coordinates replaced by the goal (for the Ant's x-y prior,
where the reduced observation is the position, that is just (g_x, g_y)).

No search, no model of the dynamics: one latent evaluation of two states per choice.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior

# latent(params, reduced [..., D]) -> [..., dz]
Latent = Callable[[Any, jax.Array], jax.Array]
MIN_DISTANCE = 1e-12  # below this phi(g) = phi(s): no direction (the projection picks one)


def goal_state(s: jax.Array, goal: jax.Array, position_indices: tuple[int, ...]) -> jax.Array:
  """The reduced state [D] whose position (at position_indices) is goal [P], the rest s's."""
  return s.at[jnp.asarray(position_indices)].set(goal.astype(s.dtype))


def direction_to_goal(latent: Latent, params, s: jax.Array, goal: jax.Array,
                      position_indices: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
  """(unit vector [dz] from phi(s) toward phi(goal's state), the latent distance [])."""
  both = latent(params, jnp.stack([s, goal_state(s, goal, position_indices)]))
  delta = both[1] - both[0]
  distance = jnp.linalg.norm(delta)
  return delta / jnp.maximum(distance, MIN_DISTANCE), distance


def _choose(latent: Latent, prior: SkillPrior, position_indices: tuple[int, ...], params,
            s, goal):
  direction, distance = direction_to_goal(latent, params, s, goal, position_indices)
  return prior.project(direction), {"latent_distance": distance}


@dataclasses.dataclass(frozen=True)
class ZeroShot:
  """A planners.Controller without memory: choose(params, s [D], goal [P], memory, key)
  -> (skill [dz], memory, {"latent_distance": |phi(g) - phi(s)|}); params are the
  latent's (the objective's state), key is not used (the rule is deterministic).

  latent(params, reduced [..., D]) -> [..., dz]: the objective's `latent`;
  position_indices: where the position sits in the reduced observation.
  """
  latent: Latent
  prior: SkillPrior
  position_indices: tuple[int, ...]
  title: str = "skills along the latent direction to the goal"

  def __post_init__(self):
    object.__setattr__(self, "_jitted", jax.jit(functools.partial(
        _choose, self.latent, self.prior, tuple(self.position_indices))))

  def start(self, key: jax.Array) -> None:
    del key

  def choose(self, params, s, goal, memory, key):
    del key
    skill, info = self._jitted(params, s, goal)
    return skill, memory, info
