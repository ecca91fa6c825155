"""What the training loop and the planners need from an intrinsic objective.

The loop never knows which objective it runs: it updates the objective's model on
transitions, asks it for intrinsic rewards on the agent's batches and, for skill
relabelling, for how well candidate skills explain a transition. Objectives are found by
name in `objectives.OBJECTIVES`; each brings its own settings dataclass, whose fields
become the driver's flags.

Planning and goal reaching need one capability more: a skill-dynamics model
q(s' | s, z). An objective that has one exposes it as `dynamics` (with
`dynamics_state(state)`); one without sets `dynamics = None`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior
from lib.transition import Transition


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
  has_skill_dynamics: whether the built objective carries a skill-dynamics model (the
          capability planners and goal reaching require).
  """

  name: str
  summary: str
  config: type
  build: Callable[[Any, ObjectiveContext], Objective]
  has_skill_dynamics: bool
  check: Callable[[Any, Any], None] = no_check


def setting(default, help_text: str):
  """A settings field that is also a flag."""
  return dataclasses.field(default=default, metadata={"help": help_text})
