"""Planning over skills with a learned skill dynamics model (DADS' zero-shot MPC).

A plan is `planning_horizon` skills, each held for `primitive_horizon` steps. Candidates
are rolled out through predict(params, s, z) -> s' and scored with the goal reward
summed over every predicted step. One replanning step, all refinements included, is one
jitted call:

  MPPI (prior_type=normal):   candidates ~ N(mean, 1.5 I) clipped to the skill bounds,
                              weights exp(gamma (R - max R)), mean <- weighted average.
  CEM-like (prior_type=uniform): candidates ~ U(low, high); the `top_primitives` elites
                              refit low/high (and the mean) per refinement.
  Both smooth each candidate sequence along the plan before scoring it, as the original
  did: z'[h] = beta z'[h-1] + (1 - beta) z[h] (no effect with planning_horizon 1).
  Discrete (one-hot skills):  every sequence of skills is scored exactly; the best wins.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

PROPOSAL_VARIANCE = 1.5  # the original's N(mean, 1.5 I)

# predict(params, s [..., D], z [..., dz]) -> s' [..., D]
Predict = Callable[..., jax.Array]
# reward(s [..., D], s' [..., D], goal [2]) -> [...]
Reward = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
  skill_dim: int
  skill_low: float = -1.0
  skill_high: float = 1.0
  planning_horizon: int = 1
  primitive_horizon: int = 10
  num_candidates: int = 50
  refine_steps: int = 10
  mppi_gamma: float = 10.0
  smoothing_beta: float = 0.9
  top_primitives: int = 5
  kind: str = "mppi"  # mppi | cem | discrete
  skill_only: bool = False  # predict ignores s: a primitive's change is constant

  def __post_init__(self):
    if self.kind not in ("mppi", "cem", "discrete"):
      raise ValueError(f"planner kind must be mppi, cem or discrete; got {self.kind!r}")


class Planner:
  """plan(params, s0 [D], goal [2], mean [H, dz], key) -> (skill [dz], mean [H, dz], info)."""

  def __init__(self, config: PlannerConfig, predict: Predict, reward: Reward):
    self.config = config
    self.predict = predict
    self.reward = reward
    self.plan = jax.jit(self._plan)

  # --- scoring ----------------------------------------------------------------------
  def rollout(self, params, s0, skills):
    """Predicted states [N, H * P, D] for skill sequences [N, H, dz] from s0 [D]."""
    cfg = self.config
    n = skills.shape[0]
    if cfg.skill_only:
      # The change per step depends on z alone: one pass per (candidate, skill).
      deltas = self.predict(params, jnp.zeros((n, cfg.planning_horizon, s0.shape[0])), skills)
      steps = jnp.repeat(deltas, cfg.primitive_horizon, axis=1)  # [N, H*P, D]
      return s0 + jnp.cumsum(steps, axis=1)
    per_step = jnp.repeat(skills, cfg.primitive_horizon, axis=1).swapaxes(0, 1)  # [H*P, N, dz]

    def step(s, z):
      s_next = self.predict(params, s, z)
      return s_next, s_next

    _, states = jax.lax.scan(step, jnp.broadcast_to(s0, (n, s0.shape[0])), per_step)
    return states.swapaxes(0, 1)

  def score(self, params, s0, goal, skills):
    """Summed goal reward [N] of each candidate and its predicted states."""
    states = self.rollout(params, s0, skills)
    prev = jnp.concatenate([jnp.broadcast_to(s0, (states.shape[0], 1, s0.shape[0])),
                            states[:, :-1]], 1)
    return jnp.sum(self.reward(prev, states, goal), 1), states

  # --- planning ---------------------------------------------------------------------
  def _plan(self, params, s0, goal, mean, key):
    cfg = self.config
    if cfg.kind == "discrete":
      return self._plan_discrete(params, s0, goal, mean)
    shape = (cfg.num_candidates, cfg.planning_horizon, cfg.skill_dim)
    init = (mean, jnp.full(mean.shape, cfg.skill_low), jnp.full(mean.shape, cfg.skill_high))

    def refine(carry, k):
      mean, low, high = carry
      if cfg.kind == "mppi":
        noise = jnp.sqrt(PROPOSAL_VARIANCE) * jax.random.normal(k, shape)
        candidates = jnp.clip(mean + noise, cfg.skill_low, cfg.skill_high)
      else:
        candidates = jax.random.uniform(k, shape, minval=low, maxval=high)
      candidates = smooth(candidates, cfg.smoothing_beta)
      returns, _ = self.score(params, s0, goal, candidates)
      if cfg.kind == "mppi":
        new_mean = mppi_average(candidates, returns, cfg.mppi_gamma)
      else:
        elites = candidates[jnp.argsort(-returns)[:cfg.top_primitives]]
        low, high = elites.min(0), elites.max(0)
        new_mean = elites.mean(0)
      return (new_mean, low, high), jnp.max(returns)

    (mean, _, _), best = jax.lax.scan(refine, init, jax.random.split(key, cfg.refine_steps))
    planned_return, states = self.score(params, s0, goal, mean[None])
    info = {"planned_return": planned_return[0], "predicted_states": states[0],
            "best_candidate_return": jnp.max(best, initial=planned_return[0])}
    return mean[0], mean, info

  def _plan_discrete(self, params, s0, goal, mean):
    cfg = self.config
    eye = np.eye(cfg.skill_dim, dtype=np.float32)
    sequences = jnp.asarray(np.array(
        [[eye[i] for i in seq]
         for seq in itertools.product(range(cfg.skill_dim), repeat=cfg.planning_horizon)]))
    returns, states = self.score(params, s0, goal, sequences)
    best = jnp.argmax(returns)
    info = {"planned_return": returns[best], "predicted_states": states[best],
            "best_candidate_return": returns[best]}
    del mean
    return sequences[best, 0], sequences[best], info


def mppi_average(candidates: jax.Array, returns: jax.Array, gamma: float) -> jax.Array:
  """Reward-weighted average of candidates [N, ...] with weights exp(gamma (R - max R))."""
  weights = jnp.exp(gamma * (returns - jnp.max(returns)))
  weights = weights / jnp.sum(weights)
  return jnp.tensordot(weights, candidates, axes=1)


def smooth(sequences: jax.Array, beta: float) -> jax.Array:
  """Skill sequences [..., H, dz] smoothed along the plan (axis -2), as the original:
  z'[0] = z[0], z'[h] = beta * z'[h - 1] + (1 - beta) * z[h]. beta = 0 leaves them as they
  are; beta near 1 makes each sequence nearly one repeated skill."""
  steps = jnp.moveaxis(sequences, -2, 0)

  def body(prev, z):
    out = beta * prev + (1 - beta) * z
    return out, out

  _, rest = jax.lax.scan(body, steps[0], steps[1:])
  return jnp.moveaxis(jnp.concatenate([steps[:1], rest], 0), 0, -2)


def shift(mean: jax.Array) -> jax.Array:
  """Receding horizon: drop the executed skill, repeat the last one."""
  return jnp.concatenate([mean[1:], mean[-1:]], 0)
