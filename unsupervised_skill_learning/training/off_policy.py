"""off-DADS corrections: importance weights and skill relabelling (pure, vectorized)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior


def importance_weights(logp_now: jnp.ndarray, logp_behaviour: jnp.ndarray, clip_eps: float,
                       normalize: bool = False) -> jnp.ndarray:
  """clip(pi_now(a|s,z) / pi_old(a|s,z), 1/eps, eps) [B]; all ones when eps <= 1 (off).

  With normalize, the weights are divided by their batch mean (self-normalized IS).
  """
  if clip_eps <= 1.0:
    return jnp.ones_like(logp_now)
  # Clip the log-ratio first so exp never overflows.
  log_eps = jnp.log(clip_eps)
  weights = jnp.exp(jnp.clip(logp_now - logp_behaviour, -log_eps, log_eps))
  if normalize:
    weights = weights / jnp.mean(weights)
  return weights


def relabel_candidates(prior: SkillPrior, skills: jnp.ndarray, num_candidates: int,
                       key: jax.Array) -> jnp.ndarray:
  """[B, C, dz] candidates: the original skill first, then C-1 draws from the prior."""
  fresh = prior.sample_jax(key, (skills.shape[0], num_candidates - 1))
  return jnp.concatenate([skills[:, None], fresh], 1)


def pick_best(candidates: jnp.ndarray, scores: jnp.ndarray) -> jnp.ndarray:
  """candidates [B, C, dz], scores [B, C] -> the best-scoring skill per row [B, dz].
  Ties go to the first candidate, i.e. to the original skill."""
  best = jnp.argmax(scores, 1)
  return jnp.take_along_axis(candidates, best[:, None, None], 1)[:, 0]
