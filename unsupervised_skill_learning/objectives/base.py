"""What the training loop and the planners need from an intrinsic objective.

The loop never knows which objective it runs: it updates the objective's model on
transitions, asks it for intrinsic rewards on the agent's batches and, for skill
relabelling, for how well candidate skills explain a transition. Objectives are found by
name in `objectives.OBJECTIVES`; each brings its own settings dataclass, whose fields
become the driver's flags.

Goal reaching asks an objective for a capability (`ObjectiveSpec.capabilities`), never
for its class:

  SKILL_DYNAMICS: a skill-dynamics model q(s' | s, z), exposed as `dynamics` (with
      `dynamics_state(state)`); goal reaching plans through it (MPC, planning/planners.py).
      An objective without one sets `dynamics = None`.
  GOAL_LATENT: a goal-conditioned latent: `latent(state, reduced [..., D]) -> [..., dz]`,
      a map of reduced observations in which the skill z pointing from latent(s) to
      latent(g) leads from s toward g (METRA's phi); goal reaching then chooses skills
      zero-shot (planning/zero_shot.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior
from lib.transition import Transition


SKILL_DYNAMICS = "skill_dynamics"
GOAL_LATENT = "goal_latent"
CAPABILITIES = (SKILL_DYNAMICS, GOAL_LATENT)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectiveContext:
  """What an objective gets to know about the run it serves."""

  prior: SkillPrior
  reduced_indices: tuple[int, ...]           # observation indices the objective models
  dynamics_input_positions: tuple[int, ...]  # positions in the reduced observation a
                                             # dynamics model may condition on (hidden
                                             # coordinates excluded)
  hidden: tuple[int, ...]                    # hidden layer sizes of its networks


class Objective(Protocol):
  dynamics: Any  # a SkillDynamics, or None when the objective has none

  def init(self, key: jax.Array) -> Any:
    ...

  def update(self, state: Any, batch: Transition, weights: jnp.ndarray,
             key: jax.Array) -> tuple[Any, dict]:
    """One weighted step of the objective's model on a batch [B]; weights [B]."""

  def reward(self, state: Any, batch: Transition, key: jax.Array) -> tuple[jnp.ndarray, dict]:
    """Intrinsic reward [B] and extra logging scalars (the loop logs the reward's mean
    itself, as `intrinsic_reward`)."""

  def skill_log_likelihood(self, state: Any, batch: Transition,
                           skills: jnp.ndarray) -> jnp.ndarray:
    """log-likelihood [B, C] of each candidate skill skills[B, C, dz] for the transition."""


def no_check(config: Any, skills: Any) -> None:
  del config, skills


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectiveSpec:
  """A registered objective.

  config: its settings, a keyword-only frozen dataclass whose fields are flags (each
          with metadata {"help": ...}) and whose __post_init__ validates them.
  build(config, context) -> Objective.
  check(config, skill_config): cross-section validation (raises ConfigError).
  capabilities: what the built objective offers goal reaching, a subset of CAPABILITIES
          (SKILL_DYNAMICS, GOAL_LATENT; see the module docstring).
  """

  name: str
  summary: str
  config: type
  build: Callable[[Any, ObjectiveContext], Objective]
  capabilities: frozenset[str] = frozenset()
  check: Callable[[Any, Any], None] = no_check

  def __post_init__(self):
    unknown = set(self.capabilities) - set(CAPABILITIES)
    if unknown:
      raise ValueError(f"objective {self.name}: unknown capabilities {sorted(unknown)}; "
                       f"known: {', '.join(CAPABILITIES)}")

  @property
  def has_skill_dynamics(self) -> bool:
    return SKILL_DYNAMICS in self.capabilities


def setting(default, help_text: str):
  """A settings field that is also a flag."""
  return dataclasses.field(default=default, metadata={"help": help_text})
