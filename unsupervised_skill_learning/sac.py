"""Soft actor-critic as DADS used it (tf-agents' SAC), as pure functions over a pytree.

Actions live in [-1, 1] (a tanh-squashed Gaussian); the driver rescales them to the
environment's bounds. `reward_scale` multiplies the reward (DADS sets it to
1 / agent_entropy). Terminations cut the bootstrap; time-limit truncations do not, since
every stored transition keeps its true next observation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.networks import MLP

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class SACConfig:
  obs_dim: int      # the agent's input: observation (hidden coordinates removed) + skill
  action_dim: int
  hidden: tuple[int, ...] = (512, 512)
  lr: float = 3e-4
  gamma: float = 0.99
  tau: float = 0.005
  reward_scale: float = 10.0
  target_entropy: float | None = None  # None: -action_dim
  initial_alpha: float = 1.0

  def __post_init__(self):
    if self.obs_dim <= 0 or self.action_dim <= 0:
      raise ValueError(f"SAC needs positive sizes; got obs {self.obs_dim}, action {self.action_dim}")
    if not 0.0 <= self.gamma <= 1.0:
      raise ValueError(f"agent_gamma must be in [0, 1]; got {self.gamma}")
    if self.lr <= 0:
      raise ValueError(f"agent_lr must be positive; got {self.lr}")


class Batch(flax.struct.PyTreeNode):
  """Agent transitions; fields [B, ...] (or [N, B, ...] for a scan over N updates)."""

  obs: jnp.ndarray         # [B, obs_dim] (observation + skill)
  action: jnp.ndarray      # [B, action_dim] in [-1, 1]
  reward: jnp.ndarray      # [B] (unscaled)
  next_obs: jnp.ndarray    # [B, obs_dim]
  terminated: jnp.ndarray  # [B] float, 1 cuts the bootstrap


class SACState(flax.struct.PyTreeNode):
  actor: dict
  critic: dict
  target_critic: dict
  log_alpha: jnp.ndarray
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  alpha_opt: optax.OptState
  steps: jnp.ndarray


class DoubleCritic(nn.Module):
  """Twin Q networks: (obs [B, o], action [B, a]) -> [2, B]."""

  hidden: tuple[int, ...]

  @nn.compact
  def __call__(self, obs, action):
    x = jnp.concatenate([obs, action], -1)
    return jnp.stack([MLP(self.hidden, 1, name=f"q{i}")(x)[..., 0] for i in range(2)])


def _gaussian_log_prob(u, mean, log_std):
  return jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std
                 - 0.5 * math.log(2 * math.pi), axis=-1)


def _tanh_log_det(u):
  """log |d tanh(u) / du| summed over the last axis, in a numerically stable form."""
  return jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


class SAC:
  """Builds the networks and optimizers from a config; every method is pure.

  `update` is one gradient step; `update_many` fuses N of them (a lax.scan over batches
  sampled up front) into one jitted call. Both return (state, metrics).
  """

  def __init__(self, config: SACConfig):
    self.config = config
    self.target_entropy = (-float(config.action_dim) if config.target_entropy is None
                           else config.target_entropy)
    self.actor_net = MLP(config.hidden, 2 * config.action_dim)
    self.critic_net = DoubleCritic(config.hidden)
    self.optimizer = optax.adam(config.lr)
    self.init = jax.jit(self._init)
    self.update_many = jax.jit(self._update_many)
    self.act = jax.jit(self._act, static_argnames="deterministic")
    self.log_prob = jax.jit(self._log_prob)

  # --- the policy -----------------------------------------------------------------
  def _dist(self, actor_params, obs):
    out = self.actor_net.apply(actor_params, obs)
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

  def sample(self, actor_params, obs, key):
    """a ~ pi(. | obs) in (-1, 1) [B, A] with log pi(a | obs) [B]."""
    mean, log_std = self._dist(actor_params, obs)
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), _gaussian_log_prob(u, mean, log_std) - _tanh_log_det(u)

  def _log_prob(self, actor_params, obs, action):
    """log pi(action | obs) [B] for stored actions in [-1, 1] (used by off-DADS)."""
    mean, log_std = self._dist(actor_params, obs)
    u = jnp.arctanh(jnp.clip(action, -1.0 + _EPS, 1.0 - _EPS))
    return _gaussian_log_prob(u, mean, log_std) - _tanh_log_det(u)

  def _act(self, actor_params, obs, key, deterministic=False):
    """Actions for acting: a sample, or tanh(mean) when deterministic."""
    if deterministic:
      return jnp.tanh(self._dist(actor_params, obs)[0])
    return self.sample(actor_params, obs, key)[0]

  # --- state ------------------------------------------------------------------------
  def _init(self, key) -> SACState:
    k_actor, k_critic = jax.random.split(key)
    obs = jnp.zeros((1, self.config.obs_dim))
    act = jnp.zeros((1, self.config.action_dim))
    actor = self.actor_net.init(k_actor, obs)
    critic = self.critic_net.init(k_critic, obs, act)
    log_alpha = jnp.asarray(math.log(self.config.initial_alpha), jnp.float32)
    return SACState(actor, critic, critic, log_alpha, self.optimizer.init(actor),
                    self.optimizer.init(critic), self.optimizer.init(log_alpha),
                    jnp.zeros((), jnp.int32))

  # --- losses (pure) ----------------------------------------------------------------
  def critic_loss(self, critic, state: SACState, batch: Batch, key):
    cfg = self.config
    next_action, next_logp = self.sample(state.actor, batch.next_obs, key)
    next_q = jnp.min(self.critic_net.apply(state.target_critic, batch.next_obs, next_action), 0)
    next_v = next_q - jnp.exp(state.log_alpha) * next_logp
    target = jax.lax.stop_gradient(
        cfg.reward_scale * batch.reward + cfg.gamma * (1.0 - batch.terminated) * next_v)
    q = self.critic_net.apply(critic, batch.obs, batch.action)
    loss = 0.5 * jnp.mean(jnp.sum((q - target) ** 2, 0))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}

  def actor_loss(self, actor, state: SACState, batch: Batch, key):
    action, logp = self.sample(actor, batch.obs, key)
    q = jnp.min(self.critic_net.apply(state.critic, batch.obs, action), 0)
    loss = jnp.mean(jnp.exp(state.log_alpha) * logp - q)
    return loss, {"actor_loss": loss, "entropy": -jnp.mean(logp), "logp": logp}

  def alpha_loss(self, log_alpha, logp):
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(logp + self.target_entropy))

  # --- updates ----------------------------------------------------------------------
  def update(self, state: SACState, batch: Batch, key) -> tuple[SACState, dict]:
    """One SAC step: critic, then actor, then temperature, then Polyak targets."""
    k_critic, k_actor = jax.random.split(key)
    (_, c_metrics), c_grad = jax.value_and_grad(self.critic_loss, has_aux=True)(
        state.critic, state, batch, k_critic)
    critic, critic_opt = _apply(self.optimizer, c_grad, state.critic_opt, state.critic)
    state = state.replace(critic=critic, critic_opt=critic_opt)

    (_, a_metrics), a_grad = jax.value_and_grad(self.actor_loss, has_aux=True)(
        state.actor, state, batch, k_actor)
    actor, actor_opt = _apply(self.optimizer, a_grad, state.actor_opt, state.actor)
    logp = a_metrics.pop("logp")
    alpha_loss, alpha_grad = jax.value_and_grad(self.alpha_loss)(state.log_alpha, logp)
    log_alpha, alpha_opt = _apply(self.optimizer, alpha_grad, state.alpha_opt, state.log_alpha)

    tau = self.config.tau
    target = jax.tree.map(lambda t, s: (1 - tau) * t + tau * s, state.target_critic, critic)
    state = state.replace(actor=actor, actor_opt=actor_opt, log_alpha=log_alpha,
                          alpha_opt=alpha_opt, target_critic=target, steps=state.steps + 1)
    metrics = {**c_metrics, **a_metrics, "alpha_loss": alpha_loss,
               "alpha": jnp.exp(log_alpha)}
    return state, metrics

  def _update_many(self, state: SACState, batches: Batch, key) -> tuple[SACState, dict]:
    """N updates over batches [N, B, ...]; metrics are averaged over the N steps."""
    return scan_updates(self.update, state, batches, key)


def _apply(optimizer, grads, opt_state, params):
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


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


class HostPolicy:
  """The actor evaluated in NumPy on the host, for acting in environments.

  Acting runs batches of a few observations, for which a jitted call costs ~10x more in
  dispatch than in arithmetic; this computes the same function as SAC.sample / act
  (same parameters, same formulas) with randomness from a np.random.Generator.
  """

  def __init__(self, actor_params):
    params = jax.device_get(actor_params)["params"]
    names = sorted(params, key=lambda n: int(n.rsplit("_", 1)[1]))  # Dense_0, Dense_1, ...
    self.layers = [(np.asarray(params[n]["kernel"], np.float32),
                    np.asarray(params[n]["bias"], np.float32)) for n in names]

  def dist(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(obs, np.float32)
    for w, b in self.layers[:-1]:
      x = np.maximum(x @ w + b, 0.0)
    w, b = self.layers[-1]
    mean, log_std = np.split(x @ w + b, 2, axis=-1)
    return mean, np.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

  def sample(self, obs: np.ndarray, rng: np.random.Generator, clip: float = 1.0,
             deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Actions [B, A] in [-clip, clip] and log pi(action | obs) [B] of the clipped action."""
    mean, log_std = self.dist(obs)
    u = mean if deterministic else mean + np.exp(log_std) * rng.standard_normal(mean.shape)
    action = np.clip(np.tanh(u), -clip, clip).astype(np.float32)
    # The log-prob of the stored (clipped) action, evaluated exactly as SAC.log_prob does.
    u = np.arctanh(np.clip(action, -1.0 + _EPS, 1.0 - _EPS)).astype(np.float32)
    logp = np.sum(-0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std
                  - 0.5 * math.log(2 * math.pi), -1)
    log_det = np.sum(2.0 * (math.log(2.0) - u - np.logaddexp(0.0, -2.0 * u)), -1)
    return action, (logp - log_det).astype(np.float32)
