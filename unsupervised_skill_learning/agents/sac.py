"""Soft actor-critic as DADS used it (tf-agents' SAC), as pure functions over a pytree.

Actions live in [-1, 1] (a tanh-squashed Gaussian); the driver rescales them to the
environment's bounds. `reward_scale` multiplies the reward (DADS sets it to
1 / agent_entropy). Terminations cut the bootstrap; time-limit truncations do not, since
every stored transition keeps its true next observation.

Options that differ from tf-agents 0.4's SAC (the original's), each a flag:
  target_entropy:    -dim(A) here by default; tf-agents' default was -dim(A) / 2
                     (--target_entropy_scale=0.5);
  init:              Flax's initializers, or tf-agents' (--agent_init=tf_agents; see
                     Policy and DoubleCritic);
  alpha_loss_sample: the temperature's loss reuses the actor loss's sample, drawn from the
                     actor before its update ("pre_update"), or draws a fresh one from the
                     updated actor, as tf-agents' separate alpha_loss did ("fresh").
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.networks import MLP, fan_in_uniform, symmetric_uniform
from unsupervised_skill_learning.agents.policy import INITS, Policy
from lib.transition import Transition


ALPHA_LOSS_SAMPLES = ("pre_update", "fresh")
# tf-agents' ddpg CriticNetwork (which the original's SAC used): hidden kernels
# VarianceScaling(1/3, fan_in, uniform), the last layer U(-0.003, 0.003), zero biases.
TF_AGENTS_CRITIC_SCALE = 1.0 / 3.0
TF_AGENTS_CRITIC_LAST = 0.003


@dataclasses.dataclass(frozen=True, kw_only=True)
class SACConfig:
  """SAC's hyperparameters (validated as the run's AgentConfig) and the sizes it needs."""

  obs_dim: int
  skill_dim: int
  action_dim: int
  policy_indices: tuple[int, ...]  # observation indices the actor and critics see
  hidden: tuple[int, ...] = (512, 512)
  lr: float = 3e-4
  gamma: float = 0.99
  tau: float = 0.005
  reward_scale: float = 10.0
  target_entropy: float | None = None  # None: -action_dim
  initial_alpha: float = 1.0
  init: str = "flax"  # flax | tf_agents: the actor's and critics' initializers
  alpha_loss_sample: str = "pre_update"  # pre_update | fresh

  def __post_init__(self):
    if self.init not in INITS:
      raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
    if self.alpha_loss_sample not in ALPHA_LOSS_SAMPLES:
      raise ValueError(f"alpha_loss_sample must be one of {', '.join(ALPHA_LOSS_SAMPLES)}; "
                       f"got {self.alpha_loss_sample!r}")


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
  init_kind: str = "flax"  # tf_agents: tf-agents' ddpg CriticNetwork's initializers

  @nn.compact
  def __call__(self, obs, action):
    x = jnp.concatenate([obs, action], -1)
    inits = {}
    if self.init_kind == "tf_agents":
      inits = {"hidden_init": fan_in_uniform(TF_AGENTS_CRITIC_SCALE),
               "out_init": symmetric_uniform(TF_AGENTS_CRITIC_LAST)}
    return jnp.stack([MLP(self.hidden, 1, name=f"q{i}", **inits)(x)[..., 0] for i in range(2)])


class SAC:
  """Builds the networks and optimizers from a config; every method is pure.

  `update(state, batch, key) -> (state, metrics)` is one gradient step on a batch of
  Transitions whose `reward` is the reward to learn from (the objective's).
  """

  def __init__(self, config: SACConfig):
    self.config = config
    self.target_entropy = (-float(config.action_dim) if config.target_entropy is None
                           else config.target_entropy)
    self.policy = Policy(hidden=config.hidden, action_dim=config.action_dim,
                         policy_indices=config.policy_indices, skill_dim=config.skill_dim,
                         init=config.init)
    self.critic_net = DoubleCritic(config.hidden, init_kind=config.init)
    self.optimizer = optax.adam(config.lr)
    self.init = jax.jit(self._init)

  # --- state ------------------------------------------------------------------------
  def _init(self, key) -> SACState:
    k_actor, k_critic = jax.random.split(key)
    obs = jnp.zeros((1, self.policy.input_dim))
    act = jnp.zeros((1, self.config.action_dim))
    actor = self.policy.init(k_actor)
    critic = self.critic_net.init(k_critic, obs, act)
    log_alpha = jnp.asarray(math.log(self.config.initial_alpha), jnp.float32)
    return SACState(actor, critic, critic, log_alpha, self.optimizer.init(actor),
                    self.optimizer.init(critic), self.optimizer.init(log_alpha),
                    jnp.zeros((), jnp.int32))

  # --- losses (pure) ----------------------------------------------------------------
  def critic_loss(self, critic, state: SACState, batch: Transition, key):
    cfg = self.config
    policy = self.policy
    next_action, next_logp = policy.sample(state.actor, batch.next_obs, batch.skill, key)
    next_inputs = policy.inputs(batch.next_obs, batch.skill)
    next_q = jnp.min(self.critic_net.apply(state.target_critic, next_inputs, next_action), 0)
    next_v = next_q - jnp.exp(state.log_alpha) * next_logp
    terminated = batch.terminated.astype(jnp.float32)
    target = jax.lax.stop_gradient(
        cfg.reward_scale * batch.reward + cfg.gamma * (1.0 - terminated) * next_v)
    q = self.critic_net.apply(critic, policy.inputs(batch.obs, batch.skill), batch.action)
    loss = 0.5 * jnp.mean(jnp.sum((q - target) ** 2, 0))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}

  def actor_loss(self, actor, state: SACState, batch: Transition, key):
    action, logp = self.policy.sample(actor, batch.obs, batch.skill, key)
    inputs = self.policy.inputs(batch.obs, batch.skill)
    q = jnp.min(self.critic_net.apply(state.critic, inputs, action), 0)
    loss = jnp.mean(jnp.exp(state.log_alpha) * logp - q)
    return loss, {"actor_loss": loss, "entropy": -jnp.mean(logp), "logp": logp}

  def alpha_loss(self, log_alpha, logp):
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(logp + self.target_entropy))

  # --- updates ----------------------------------------------------------------------
  def update(self, state: SACState, batch: Transition, key) -> tuple[SACState, dict]:
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
    if self.config.alpha_loss_sample == "fresh":
      # tf-agents: the alpha loss samples the actor anew, after the actor's update.
      _, logp = self.policy.sample(actor, batch.obs, batch.skill, jax.random.fold_in(key, 2))
    alpha_loss, alpha_grad = jax.value_and_grad(self.alpha_loss)(state.log_alpha, logp)
    log_alpha, alpha_opt = _apply(self.optimizer, alpha_grad, state.alpha_opt, state.log_alpha)

    tau = self.config.tau
    target = jax.tree.map(lambda t, s: (1 - tau) * t + tau * s, state.target_critic, critic)
    state = state.replace(actor=actor, actor_opt=actor_opt, log_alpha=log_alpha,
                          alpha_opt=alpha_opt, target_critic=target, steps=state.steps + 1)
    metrics = {**c_metrics, **a_metrics, "alpha_loss": alpha_loss,
               "alpha": jnp.exp(log_alpha)}
    return state, metrics


def _apply(optimizer, grads, opt_state, params):
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state
