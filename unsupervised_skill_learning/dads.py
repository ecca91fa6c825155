"""The DADS objective: skill dynamics q(s'|s,z) and the mutual-information reward.

  r(s, z, s') = log(L + 1) - log(1 + sum_i exp(clip(log q(s'|s,z_i) - log q(s'|s,z), -50, 50)))

with z_1..z_L drawn from the skill prior (or, for discrete skills with L = 0, every other
skill exactly). It is close to log(L + 1) when s' is predictable from z alone and close
to 0 when z says nothing about s'.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.objectives import Transitions
from unsupervised_skill_learning.skill_dynamics import (SkillDynamics, SkillDynamicsConfig,
                                                        SkillDynamicsState, mixture_log_prob)

LOGIT_CLIP = 50.0


@dataclasses.dataclass(frozen=True)
class DADSConfig:
  dynamics: SkillDynamicsConfig
  reduced_indices: tuple[int, ...]  # observation indices the skill dynamics models
  random_skills: int = 100          # L; 0 with discrete skills: the exact sum

  def __post_init__(self):
    if self.random_skills < 0:
      raise ValueError(f"random_skills must be >= 0; got {self.random_skills}")
    if len(self.reduced_indices) != self.dynamics.output_dim:
      raise ValueError("reduced_indices must match the skill dynamics' output size")


def dads_reward_from_logps(logp: jnp.ndarray, logp_alt: jnp.ndarray) -> jnp.ndarray:
  """logp [B], logp_alt [B, L] -> reward [B] (the formula above, in logsumexp form)."""
  diff = jnp.clip(logp_alt - logp[:, None], -LOGIT_CLIP, LOGIT_CLIP)
  # log(1 + sum_i exp(d_i)) = logsumexp over [0, d_1, ..., d_L]
  log_denominator = jax.nn.logsumexp(
      jnp.concatenate([jnp.zeros_like(logp)[:, None], diff], 1), 1)
  return math.log(logp_alt.shape[1] + 1) - log_denominator


class DADS:
  """Implements the Objective protocol with a SkillDynamics model."""

  def __init__(self, config: DADSConfig, prior: SkillPrior):
    self.config = config
    self.prior = prior
    self.dynamics = SkillDynamics(config.dynamics)
    if config.random_skills == 0 and not prior.is_discrete:
      raise ValueError("random_skills=0 (the exact sum over skills) needs discrete skills")

  def reduce(self, obs: jnp.ndarray) -> jnp.ndarray:
    return obs[..., jnp.asarray(self.config.reduced_indices, jnp.int32)]

  def init(self, key):
    return self.dynamics.init(key)

  def update(self, state: SkillDynamicsState, batch: Transitions, weights, key):
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

  def alternative_skills(self, key, batch_size: int) -> jnp.ndarray:
    """The skills the reward compares against: [B, L, dz]."""
    if self.config.random_skills == 0:
      all_skills = jnp.asarray(self.prior.enumerate())
      return jnp.broadcast_to(all_skills, (batch_size, *all_skills.shape))
    return self.prior.sample_jax(key, (batch_size, self.config.random_skills))

  def reward(self, state: SkillDynamicsState, batch: Transitions, key):
    s, s_next = self.reduce(batch.obs), self.reduce(batch.next_obs)
    logp = self.log_prob_many(state, s, batch.skill[:, None], s_next)[:, 0]
    alt = self.alternative_skills(key, s.shape[0])
    logp_alt = self.log_prob_many(state, s, alt, s_next)
    if self.config.random_skills == 0:
      # Exact sum over the *other* skills: drop the transition's own skill.
      own = jnp.all(alt == batch.skill[:, None], -1)
      logp_alt = jnp.where(own, -jnp.inf, logp_alt)
      diff = jnp.clip(logp_alt - logp[:, None], -LOGIT_CLIP, LOGIT_CLIP)
      diff = jnp.where(own, -jnp.inf, diff)
      num_other = alt.shape[1] - 1
      reward = math.log(num_other + 1) - jax.nn.logsumexp(
          jnp.concatenate([jnp.zeros_like(logp)[:, None], diff], 1), 1)
    else:
      reward = dads_reward_from_logps(logp, logp_alt)
    finite_alt = jnp.where(jnp.isfinite(logp_alt), logp_alt, jnp.nan)
    return reward, {"dads/reward": jnp.mean(reward), "dads/logp": jnp.mean(logp),
                    "dads/logp_altz": jnp.nanmean(finite_alt)}

  def skill_log_likelihood(self, state, batch: Transitions, skills):
    return self.log_prob_many(state, self.reduce(batch.obs), skills,
                              self.reduce(batch.next_obs))
