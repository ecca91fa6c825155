"""One epoch of learning as two jitted calls: objective updates, then agent updates.

Batches arrive as Transitions [U, B, ...] sampled up front from the replay buffer. Each
call scans over the U batches on device:

  objective_epoch: importance weights (off-DADS) or skill relabelling, then one weighted
                   update of the objective's model (skill dynamics, discriminator) per batch;
  agent_epoch:     optional relabelling, the intrinsic reward recomputed on every batch
                   under the current objective model, then one SAC update per batch.

Both are `update(state, batches, key) -> (state, metrics)`, pure and jitted once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.sac import SAC, SACState
from unsupervised_skill_learning.config import OffPolicyConfig
from unsupervised_skill_learning.objectives.base import Objective
from unsupervised_skill_learning.training import off_policy
from lib.transition import Transition

INTRINSIC_REWARD = "intrinsic_reward"  # the one metric name of every objective's reward


class LearnerState(flax.struct.PyTreeNode):
  agent: SACState
  objective: Any


def scan_updates(update: Callable, state, batches, key):
  """Runs update(state, batch, key) over the leading axis of `batches` with lax.scan;
  returns the final state and the metrics averaged over the steps."""
  n = jax.tree.leaves(batches)[0].shape[0]
  keys = jax.random.split(key, n)

  def body(carry, xs):
    batch, k = xs
    carry, metrics = update(carry, batch, k)
    return carry, metrics

  state, metrics = jax.lax.scan(body, state, (batches, keys))
  return state, jax.tree.map(jnp.mean, metrics)


class Learner:

  def __init__(self, config: OffPolicyConfig, sac: SAC, objective: Objective, prior: SkillPrior):
    self.config = config
    self.sac = sac
    self.policy = sac.policy
    self.objective = objective
    self.prior = prior
    self.init = jax.jit(self._init)
    self.objective_epoch = jax.jit(self._objective_epoch)
    self.agent_epoch = jax.jit(self._agent_epoch)

  def _init(self, key) -> LearnerState:
    k_agent, k_obj = jax.random.split(key)
    return LearnerState(self.sac.init(k_agent), self.objective.init(k_obj))

  # --- relabelling ----------------------------------------------------------------
  def relabel(self, kind: str, state: LearnerState, batch: Transition, key) -> jnp.ndarray:
    """The batch's skills [B, dz], possibly replaced by the best of C candidates."""
    if kind in ("none", "importance_sampling") or self.config.num_samples_for_relabelling == 1:
      return batch.skill
    candidates = off_policy.relabel_candidates(
        self.prior, batch.skill, self.config.num_samples_for_relabelling, key)
    if kind == "policy":
      c = candidates.shape[1]
      obs = jnp.repeat(batch.obs[:, None], c, 1)
      action = jnp.repeat(batch.action[:, None], c, 1)
      scores = self.policy.log_prob(state.agent.actor, obs, candidates, action)
    else:  # dynamics_posterior: likelihood x prior
      scores = (self.objective.skill_log_likelihood(state.objective, batch, candidates)
                + self.prior.log_prob(candidates))
    return off_policy.pick_best(candidates, scores)

  # --- epochs -----------------------------------------------------------------------
  def objective_step(self, state: LearnerState, batch: Transition, key):
    cfg = self.config
    k_relabel, k_update = jax.random.split(key)
    weights = jnp.ones(batch.obs.shape[0], jnp.float32)
    if cfg.skill_dynamics_relabel_type == "importance_sampling":
      logp_now = self.policy.log_prob(state.agent.actor, batch.obs, batch.skill, batch.action)
      weights = off_policy.importance_weights(logp_now, batch.behaviour_logp, cfg.is_clip_eps,
                                              cfg.normalized_importance_sampling)
    skill = self.relabel(cfg.skill_dynamics_relabel_type, state, batch, k_relabel)
    objective, metrics = self.objective.update(state.objective, batch.replace(skill=skill),
                                               weights, k_update)
    metrics = {**metrics, "is_weight_mean": jnp.mean(weights), "is_weight_max": jnp.max(weights)}
    return state.replace(objective=objective), metrics

  def agent_step(self, state: LearnerState, batch: Transition, key):
    k_relabel, k_reward, k_update = jax.random.split(key, 3)
    batch = batch.replace(skill=self.relabel(self.config.agent_relabel_type, state, batch,
                                             k_relabel))
    reward, reward_info = self.objective.reward(state.objective, batch, k_reward)
    agent, metrics = self.sac.update(state.agent, batch.replace(reward=reward), k_update)
    return state.replace(agent=agent), {**metrics, **reward_info,
                                        INTRINSIC_REWARD: jnp.mean(reward)}

  def _objective_epoch(self, state: LearnerState, batches: Transition, key):
    return scan_updates(self.objective_step, state, batches, key)

  def _agent_epoch(self, state: LearnerState, batches: Transition, key):
    return scan_updates(self.agent_step, state, batches, key)
