"""Soft actor-critic over K discrete actions (Christodoulou, 2019), as a SAC subclass.

The actor is a categorical policy; an action is a one-hot vector [K] (so a discrete
skill is its own action), stored in Transitions like any other action. With K actions
the expectations over the policy are exact sums instead of samples:

  critic target  y = scale r + gamma (1 - terminated) V(s'),
                 V(s') = sum_a pi(a|s') (min Q'(s', a) - alpha log pi(a|s'))
  actor loss     sum_a pi(a|s) (alpha log pi(a|s) - min Q(s, a))
  temperature    driven by the entropy -sum_a pi log pi toward `target_entropy`
                 (default half the uniform policy's, 0.5 log K).

Everything else (the twin critics over (input, one-hot action), the update order, Polyak
targets, SACState) is agents/sac.py's.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lib.networks import MLP
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.agents.sac import SAC, SACConfig, SACState
from lib.transition import Transition

DISCRETE_TARGET_ENTROPY = 0.5  # x log K: half the entropy of the uniform policy


class CategoricalPolicy(Policy):
  """pi(a | obs, skill) over K one-hot actions: pure functions of the actor's parameters.
  obs [..., obs_dim], skill [..., dz]. A Policy (its inputs, init, act and log_prob
  signatures) whose network outputs K logits instead of a Gaussian's mean and log-std."""

  def __init__(self, *, hidden: tuple[int, ...], num_actions: int,
               policy_indices: tuple[int, ...], skill_dim: int):
    super().__init__(hidden=hidden, action_dim=num_actions, policy_indices=policy_indices,
                     skill_dim=skill_dim)
    self.num_actions = num_actions
    self.net = MLP(self.hidden, num_actions)
    self.jit_logits = jax.jit(self.logits)

  def dist(self, params, obs, skill):
    del params, obs, skill
    raise TypeError("a categorical policy has logits (CategoricalPolicy.logits), not a "
                    "Gaussian's mean and log-std")

  def logits(self, params, obs, skill):
    """log pi(. | obs, skill) [..., K] (normalized)."""
    return jax.nn.log_softmax(self.net.apply(params, self.inputs(obs, skill)), -1)

  def sample(self, params, obs, skill, key):
    """A one-hot action [..., K] drawn from pi and its log-probability [...]."""
    logits = self.logits(params, obs, skill)
    index = jax.random.categorical(key, logits)
    return (jax.nn.one_hot(index, self.num_actions),
            jnp.take_along_axis(logits, index[..., None], -1)[..., 0])

  def _log_prob(self, params, obs, skill, action):
    """log pi(action | obs, skill) [...] of one-hot actions [..., K]."""
    return jnp.sum(action * self.logits(params, obs, skill), -1)

  def _act(self, params, obs, skill, key, clip=1.0, deterministic=False):
    """One-hot actions [..., K] (the most likely with deterministic) and their
    log-probabilities [...]; `clip` is accepted for Policy.act's signature (a one-hot
    action is inside every box)."""
    del clip
    if not deterministic:
      return self.sample(params, obs, skill, key)
    logits = self.logits(params, obs, skill)
    action = jax.nn.one_hot(jnp.argmax(logits, -1), self.num_actions)
    return action, jnp.sum(action * logits, -1)

  def host(self, params) -> "HostCategorical":
    return HostCategorical(self, params)


class HostCategorical:
  """CategoricalPolicy for the host backend's collector: one jitted call for the
  probabilities, the draw from a np.random.Generator (as HostPolicy draws its noise)."""

  def __init__(self, policy: CategoricalPolicy, params):
    self.policy = policy
    self.params = params

  def sample(self, obs: np.ndarray, skill: np.ndarray, rng: np.random.Generator,
             clip: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """obs [B, obs_dim], skill [B, dz] -> (one-hot actions [B, K], log pi [B])."""
    del clip
    logits = np.asarray(self.policy.jit_logits(self.params, obs, skill), np.float64)
    cdf = np.cumsum(np.exp(logits), -1)
    u = rng.random((len(obs), 1)) * cdf[:, -1:]
    index = np.minimum((u > cdf).sum(-1), self.policy.num_actions - 1)
    action = np.eye(self.policy.num_actions, dtype=np.float32)[index]
    return action, logits[np.arange(len(obs)), index].astype(np.float32)


class DiscreteSAC(SAC):
  """SAC (agents/sac.py) with a categorical actor over config.action_dim = K actions.

  config.target_entropy None: DISCRETE_TARGET_ENTROPY * log K.
  """

  def __init__(self, config: SACConfig):
    super().__init__(config)
    k = config.action_dim
    self.policy = CategoricalPolicy(hidden=config.hidden, num_actions=k,
                                    policy_indices=config.policy_indices,
                                    skill_dim=config.skill_dim)
    self.target_entropy = (DISCRETE_TARGET_ENTROPY * math.log(k)
                           if config.target_entropy is None else config.target_entropy)
    self._eye = jnp.eye(k)

  def q_all(self, critic, obs, skill) -> jax.Array:
    """min over the twin critics of Q(s, a) for every action: [B, K]."""
    inputs = self.policy.inputs(obs, skill)
    b, k = inputs.shape[0], self._eye.shape[0]
    q = self.critic_net.apply(critic, jnp.repeat(inputs, k, 0), jnp.tile(self._eye, (b, 1)))
    return jnp.min(q, 0).reshape(b, k)

  def critic_loss(self, critic, state: SACState, batch: Transition, key):
    del key  # the expectation over next actions is exact
    cfg = self.config
    logp = self.policy.logits(state.actor, batch.next_obs, batch.skill)
    next_q = self.q_all(state.target_critic, batch.next_obs, batch.skill)
    next_v = jnp.sum(jnp.exp(logp) * (next_q - jnp.exp(state.log_alpha) * logp), -1)
    terminated = batch.terminated.astype(jnp.float32)
    target = jax.lax.stop_gradient(
        cfg.reward_scale * batch.reward + cfg.gamma * (1.0 - terminated) * next_v)
    q = self.critic_net.apply(critic, self.policy.inputs(batch.obs, batch.skill), batch.action)
    loss = 0.5 * jnp.mean(jnp.sum((q - target) ** 2, 0))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}

  def actor_loss(self, actor, state: SACState, batch: Transition, key):
    del key
    logp = self.policy.logits(actor, batch.obs, batch.skill)
    probs = jnp.exp(logp)
    q = self.q_all(state.critic, batch.obs, batch.skill)
    loss = jnp.mean(jnp.sum(probs * (jnp.exp(state.log_alpha) * logp - q), -1))
    expected_logp = jnp.sum(probs * logp, -1)  # -entropy [B], what the temperature sees
    return loss, {"actor_loss": loss, "entropy": -jnp.mean(expected_logp), "logp": expected_logp}
