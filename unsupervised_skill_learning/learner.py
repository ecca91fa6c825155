"""One epoch of learning as two jitted calls: objective updates, then agent updates.

Batches arrive as dicts of arrays [N, B, ...] sampled up front from the replay buffer
(fields of lib.replay_buffer). Each call scans over the N batches on device:

  objective_epoch: importance weights (off-DADS) or skill relabelling, then one weighted
                   update of the skill dynamics (or discriminator) per batch;
  agent_epoch:     optional relabelling, the intrinsic reward recomputed on every batch
                   under the current objective model, then one SAC update per batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning import off_policy
from unsupervised_skill_learning.objectives import Objective, Transitions
from unsupervised_skill_learning.sac import SAC, Batch, HostPolicy, SACState, scan_updates


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
  policy_indices: tuple[int, ...]  # observation indices the agent sees
  is_clip_eps: float = 1.0         # <= 1: importance sampling off
  normalized_importance_sampling: bool = False
  dynamics_relabel_type: str = "importance_sampling"
  agent_relabel_type: str = "none"
  num_samples_for_relabelling: int = 1

  def __post_init__(self):
    for flag, value in (("skill_dynamics_relabel_type", self.dynamics_relabel_type),
                        ("agent_relabel_type", self.agent_relabel_type)):
      if value not in off_policy.RELABEL_TYPES:
        raise ValueError(f"{flag} must be one of {', '.join(off_policy.RELABEL_TYPES)}; "
                         f"got {value!r}")
    if self.agent_relabel_type == "importance_sampling":
      raise ValueError("agent_relabel_type cannot be importance_sampling (it weights the "
                       "skill-dynamics updates only)")
    if self.num_samples_for_relabelling < 1:
      raise ValueError("num_samples_for_relabelling must be >= 1")


class LearnerState(flax.struct.PyTreeNode):
  agent: SACState
  objective: Any


class Learner:

  def __init__(self, config: LearnerConfig, sac: SAC, objective: Objective, prior: SkillPrior):
    self.config = config
    self.sac = sac
    self.objective = objective
    self.prior = prior
    self.init = jax.jit(self._init)
    self.objective_epoch = jax.jit(self._objective_epoch)
    self.agent_epoch = jax.jit(self._agent_epoch)
    self.behaviour_log_prob = jax.jit(self._behaviour_log_prob)
    self.policy_step = jax.jit(self._policy_step, static_argnames="deterministic")

  def _init(self, key) -> LearnerState:
    k_agent, k_obj = jax.random.split(key)
    return LearnerState(self.sac.init(k_agent), self.objective.init(k_obj))

  def agent_obs(self, obs, skill):
    """[..., obs_dim], [..., dz] -> the agent's input [..., policy_dim + dz]."""
    return jnp.concatenate([obs[..., jnp.asarray(self.config.policy_indices, jnp.int32)], skill], -1)

  def _behaviour_log_prob(self, actor, obs, skill, action):
    return self.sac.log_prob(actor, self.agent_obs(obs, skill), action)

  def host_policy(self, actor):
    """policy(obs [N, obs_dim], skill [N, dz], rng, clip) -> (action, logp), in NumPy."""
    host = HostPolicy(actor)
    policy_indices = np.asarray(self.config.policy_indices)

    def policy(obs, skill, rng, clip=1.0):
      return host.sample(np.concatenate([obs[:, policy_indices], skill], 1), rng, clip)

    return policy

  def _policy_step(self, actor, obs, skill, key, step, clip=1.0, deterministic=False):
    """Actions [B, A] in [-clip, clip] and their log-probabilities [B] under the policy.

    The key for this step is folded in on device from (key, step), so acting costs one
    device call per environment step.
    """
    key = jax.random.fold_in(key, step)
    action = self.sac.act(actor, self.agent_obs(obs, skill), key, deterministic)
    action = jnp.clip(action, -clip, clip)
    return action, self._behaviour_log_prob(actor, obs, skill, action)

  # --- relabelling ----------------------------------------------------------------
  def relabel(self, kind: str, state: LearnerState, batch: dict, key) -> jnp.ndarray:
    """The batch's skills [B, dz], possibly replaced by the best of C candidates."""
    if kind in ("none", "importance_sampling") or self.config.num_samples_for_relabelling == 1:
      return batch["skill"]
    candidates = off_policy.relabel_candidates(
        self.prior, batch["skill"], self.config.num_samples_for_relabelling, key)
    if kind == "policy":
      c = candidates.shape[1]
      obs = jnp.repeat(batch["obs"][:, None], c, 1)
      action = jnp.repeat(batch["action"][:, None], c, 1)
      scores = self._behaviour_log_prob(state.agent.actor, obs, candidates, action)
    else:  # dynamics_posterior: likelihood x prior
      scores = (self.objective.skill_log_likelihood(state.objective, _transitions(batch),
                                                    candidates)
                + self.prior.log_prob(candidates))
    return off_policy.pick_best(candidates, scores)

  # --- epochs -----------------------------------------------------------------------
  def objective_step(self, state: LearnerState, batch: dict, key):
    cfg = self.config
    k_relabel, k_update = jax.random.split(key)
    weights = jnp.ones(batch["obs"].shape[0], jnp.float32)
    if cfg.dynamics_relabel_type == "importance_sampling":
      logp_now = self._behaviour_log_prob(state.agent.actor, batch["obs"], batch["skill"],
                                          batch["action"])
      weights = off_policy.importance_weights(logp_now, batch["behaviour_logp"],
                                              cfg.is_clip_eps,
                                              cfg.normalized_importance_sampling)
    skill = self.relabel(cfg.dynamics_relabel_type, state, batch, k_relabel)
    transitions = Transitions(batch["obs"], skill, batch["next_obs"])
    objective, metrics = self.objective.update(state.objective, transitions, weights, k_update)
    metrics = {**metrics, "is_weight_mean": jnp.mean(weights), "is_weight_max": jnp.max(weights)}
    return state.replace(objective=objective), metrics

  def agent_step(self, state: LearnerState, batch: dict, key):
    k_relabel, k_reward, k_update = jax.random.split(key, 3)
    skill = self.relabel(self.config.agent_relabel_type, state, batch, k_relabel)
    transitions = Transitions(batch["obs"], skill, batch["next_obs"])
    reward, reward_info = self.objective.reward(state.objective, transitions, k_reward)
    sac_batch = Batch(obs=self.agent_obs(batch["obs"], skill), action=batch["action"],
                      reward=reward, next_obs=self.agent_obs(batch["next_obs"], skill),
                      terminated=batch["terminated"].astype(jnp.float32))
    agent, metrics = self.sac.update(state.agent, sac_batch, k_update)
    return state.replace(agent=agent), {**metrics, **reward_info}

  def _objective_epoch(self, state: LearnerState, batches: dict, key):
    return scan_updates(self.objective_step, state, batches, key)

  def _agent_epoch(self, state: LearnerState, batches: dict, key):
    return scan_updates(self.agent_step, state, batches, key)


def _transitions(batch: dict) -> Transitions:
  return Transitions(batch["obs"], batch["skill"], batch["next_obs"])
