"""The DADS objective: skill dynamics q(s'|s,z) and the mutual-information reward.

  r(s, z, s') = log(L + 1) - log(1 + sum_i exp(clip(log q(s'|s,z_i) - log q(s'|s,z), -50, 50)))

with z_1..z_L drawn from the skill prior (or, for discrete skills with L = 0, every other
skill exactly). It is close to log(L + 1) when s' is predictable from z alone and close
to 0 when z says nothing about s'.

The alternatives (`alt_skills`): "shared" draws one set of L skills for the whole batch
(this project's default: a skill-only model is then evaluated once per distinct skill);
"per_transition" draws L independent skills for every transition, [B, L, dz], as the
original's compute_dads_reward did (np.random.uniform(size=(L * B, dz))).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lib.distributions import mixture_log_prob
from unsupervised_skill_learning.objectives.base import (SKILL_DYNAMICS, ObjectiveContext,
                                                         ObjectiveSpec, setting)
from unsupervised_skill_learning.objectives.skill_dynamics import (NORMALIZATIONS, SkillDynamics,
                                                                   SkillDynamicsConfig,
                                                                   SkillDynamicsState)
from lib.transition import Transition
from unsupervised_skill_learning.validation import require, require_positive

LOGIT_CLIP = 50.0
GRAPH_TYPES = ("default", "separate")
ALT_SKILLS = ("shared", "per_transition")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DADSConfig:
  """The DADS objective's settings (flags)."""

  random_skills: int = setting(100, "L: prior samples in the DADS reward's denominator "
                               "(0 with discrete skills: the exact sum over skills).")
  skill_dynamics_lr: float = setting(3e-4, "Skill-dynamics learning rate.")
  num_components: int = setting(4, "Mixture components of the skill dynamics.")
  fix_variance: bool = setting(True, "Unit-variance components (else learned, clipped).")
  normalize_data: bool = setting(True, "Normalize skill-dynamics inputs and targets.")
  graph_type: str = setting("default", "Skill dynamics input graph: default | separate.")
  normalization: str = setting(
      "running", "Skill-dynamics normalization (with --normalize_data=1): running (one running "
      "mean/variance over all data, eps 1e-8, for the loss, rewards and predictions) | batch "
      "(BatchNorm: the loss normalizes inputs and targets with the batch's own statistics; "
      "a momentum-0.99 moving average, from mean 0 and variance 1, eps 1e-3, serves rewards "
      "and predictions). original: batch.")
  alt_skills: str = setting(
      "shared", "Alternative skills of the DADS reward: shared (one set of --random_skills "
      "prior draws for the whole batch) | per_transition (--random_skills independent draws "
      "for every transition). original: per_transition.")

  def __post_init__(self):
    require_positive(self, "skill_dynamics_lr", "num_components")
    require(self.random_skills >= 0, "random_skills", self.random_skills, "must be >= 0")
    require(self.graph_type in GRAPH_TYPES, "graph_type", self.graph_type,
            f"allowed: {', '.join(GRAPH_TYPES)}")
    require(self.normalization in NORMALIZATIONS, "normalization", self.normalization,
            f"allowed: {', '.join(NORMALIZATIONS)}")
    require(self.alt_skills in ALT_SKILLS, "alt_skills", self.alt_skills,
            f"allowed: {', '.join(ALT_SKILLS)}")
    require(self.alt_skills == "shared" or self.random_skills > 0, "alt_skills",
            self.alt_skills, "per_transition needs --random_skills > 0 (0: the exact sum over "
            "every discrete skill, the same for every transition)")


def _check(config: DADSConfig, skills) -> None:
  require(config.random_skills > 0 or skills.skill_type == "discrete_uniform", "random_skills",
          config.random_skills, "0 (the exact sum over skills) needs --skill_type=discrete_uniform")


def dads_reward_from_logps(logp: jnp.ndarray, logp_alt: jnp.ndarray,
                           exclude: jnp.ndarray | None = None) -> jnp.ndarray:
  """logp [B], logp_alt [B, L] -> reward [B] (the formula above, in logsumexp form).

  exclude [B, L] (optional) leaves alternatives out of the sum and out of L, per row.
  """
  diff = jnp.clip(logp_alt - logp[:, None], -LOGIT_CLIP, LOGIT_CLIP)
  num_alt = jnp.full(logp.shape, logp_alt.shape[1], jnp.float32)
  if exclude is not None:
    diff = jnp.where(exclude, -jnp.inf, diff)
    num_alt = num_alt - jnp.sum(exclude, 1)
  # log(1 + sum_i exp(d_i)) = logsumexp over [0, d_1, ..., d_L]
  log_denominator = jax.nn.logsumexp(
      jnp.concatenate([jnp.zeros_like(logp)[:, None], diff], 1), 1)
  return jnp.log(num_alt + 1) - log_denominator


class DADS:
  """The Objective with a SkillDynamics model; its state is the model's state."""

  def __init__(self, config: DADSConfig, context: ObjectiveContext):
    self.config = config
    self.prior = context.prior
    self.reduced_indices = context.reduced_indices
    self.random_skills = config.random_skills
    self.dynamics = SkillDynamics(SkillDynamicsConfig(
        output_dim=len(context.reduced_indices), skill_dim=context.prior.dim,
        input_positions=context.dynamics_input_positions, hidden=context.hidden,
        num_components=config.num_components, fix_variance=config.fix_variance,
        normalize_data=config.normalize_data, graph_type=config.graph_type,
        lr=config.skill_dynamics_lr, normalization=config.normalization))

  def dynamics_state(self, state: SkillDynamicsState) -> SkillDynamicsState:
    return state

  def reduce(self, obs: jnp.ndarray) -> jnp.ndarray:
    return obs[..., jnp.asarray(self.reduced_indices, jnp.int32)]

  def init(self, key):
    return self.dynamics.init(key)

  def update(self, state: SkillDynamicsState, batch: Transition, weights, key):
    del key  # Maximum likelihood on the batch is deterministic.
    return self.dynamics.update(state, self.reduce(batch.obs), batch.skill,
                                self.reduce(batch.next_obs), weights)

  def log_prob_many(self, state: SkillDynamicsState, s, skills, s_next) -> jnp.ndarray:
    """log q(s'|s, z_c) [B, C] for skills [B, C, dz]: the state part of the first layer
    is computed once per transition, not once per (transition, skill) pair."""
    dyn = self.dynamics
    params = state.params
    state_part = dyn.net.apply(params, dyn.inputs(state, s), method="state_part")  # [B, H]
    skill_part = dyn.net.apply(params, skills, method="skill_part")               # [B, C, H]
    mixture = dyn.net.apply(params, state_part[:, None], skill_part, method="head")
    target = dyn.target(state, s, s_next)[:, None]                                # [B, 1, D]
    return mixture_log_prob(mixture, target)

  def alternative_skills(self, key, batch_size: int | None = None) -> jnp.ndarray:
    """The skills the reward compares against: [L, dz] shared by the whole batch, or,
    with alt_skills=per_transition and a batch_size B, [B, L, dz] drawn independently
    for every transition.

    Sharing keeps each transition's estimate an L-sample Monte Carlo estimate from the
    prior (as the original's per-transition draws), and lets a skill-only model be
    evaluated once per distinct skill instead of once per (transition, skill) pair; the
    estimates of one batch are then correlated (all use the same L skills).
    """
    if self.random_skills == 0:
      return jnp.asarray(self.prior.enumerate())
    if self.config.alt_skills == "per_transition" and batch_size is not None:
      return self.prior.sample_jax(key, (batch_size, self.random_skills))
    return self.prior.sample_jax(key, (self.random_skills,))

  def logps(self, state: SkillDynamicsState, batch: Transition, alt: jnp.ndarray):
    """(log q(s'|s,z) [B], log q(s'|s,z_l) [B, L]) for alternatives alt [L, dz] (shared)
    or [B, L, dz] (per transition)."""
    s, s_next = self.reduce(batch.obs), self.reduce(batch.next_obs)
    batch_size = s.shape[0]
    dyn = self.dynamics
    if alt.ndim == 3:  # per transition: the general path, one head pass per pair
      logp = self.log_prob_many(state, s, batch.skill[:, None], s_next)[:, 0]
      return logp, self.log_prob_many(state, s, alt, s_next)
    if dyn.config.input_dim == 0:
      # q depends on z only: B + L network passes, then a [B, L] density table.
      target = dyn.target(state, s, s_next)
      own = dyn.net.apply(state.params, jnp.zeros((batch_size, 0)), batch.skill)
      others = dyn.net.apply(state.params, jnp.zeros((alt.shape[0], 0)), alt)
      logp = mixture_log_prob(own, target)
      logp_alt = mixture_log_prob(jax.tree.map(lambda x: x[None], others), target[:, None])
      return logp, logp_alt
    logp = self.log_prob_many(state, s, batch.skill[:, None], s_next)[:, 0]
    alt = jnp.broadcast_to(alt, (batch_size, *alt.shape))
    return logp, self.log_prob_many(state, s, alt, s_next)

  def reward_from_logps(self, logp, logp_alt, skill, alt):
    """The DADS reward [B]; with the exact discrete sum, a transition's own skill is
    left out of the alternatives."""
    if self.random_skills > 0:
      return dads_reward_from_logps(logp, logp_alt)
    own = jnp.all(alt[None] == skill[:, None], -1)  # [B, K]
    return dads_reward_from_logps(logp, logp_alt, exclude=own)

  def reward(self, state: SkillDynamicsState, batch: Transition, key):
    alt = self.alternative_skills(key, batch.skill.shape[0])
    logp, logp_alt = self.logps(state, batch, alt)
    reward = self.reward_from_logps(logp, logp_alt, batch.skill, alt)
    return reward, {"dads/logp": jnp.mean(logp), "dads/logp_altz": jnp.mean(logp_alt)}

  def reward_naive(self, state: SkillDynamicsState, batch: Transition, key):
    """The straightforward computation: one full network pass per (transition, skill)
    pair, no shared first layer. Kept as the reference the fast path is tested against."""
    alt = self.alternative_skills(key)
    s, s_next = self.reduce(batch.obs), self.reduce(batch.next_obs)
    log_prob = self.dynamics.log_prob
    logp = log_prob(state, s, batch.skill, s_next)
    logp_alt = jax.vmap(lambda z: log_prob(state, s, jnp.broadcast_to(z, batch.skill.shape),
                                           s_next), out_axes=1)(alt)
    return self.reward_from_logps(logp, logp_alt, batch.skill, alt)

  def skill_log_likelihood(self, state, batch: Transition, skills):
    return self.log_prob_many(state, self.reduce(batch.obs), skills,
                              self.reduce(batch.next_obs))


SPEC = ObjectiveSpec(
    name="dads", summary="DADS: skill dynamics q(s'|s,z) and the mutual-information reward",
    config=DADSConfig, build=DADS, capabilities=frozenset({SKILL_DYNAMICS}), check=_check)
