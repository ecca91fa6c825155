"""The DIAYN objective: a discriminator q(z | s') and the reward log q(z|s') - log p(z).

The discriminator sees the reduced observation (e.g. x-y with the paper's prior; the
hidden coordinates are *not* removed here, since they are what it must discriminate).
Its family follows the prior: categorical for discrete skills, independent Bernoullis
for multivariate_bernoulli, a Gaussian for gaussian skills and a tanh-squashed Gaussian
for cont_uniform skills (whose support is (-1, 1)). cont_sphere skills are refused (the
discriminator would need a density on the sphere, e.g. a von Mises-Fisher head).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.distributions import DISCRIMINATOR_LOG_STD_RANGE, TANH_EPS, gaussian_log_prob
from lib.networks import MLP
from unsupervised_skill_learning.objectives.base import ObjectiveContext, ObjectiveSpec, setting
from lib.transition import Transition
from unsupervised_skill_learning.validation import require, require_positive


@dataclasses.dataclass(frozen=True, kw_only=True)
class DIAYNConfig:
  """The DIAYN objective's settings (flags)."""

  diayn_lr: float = setting(3e-4, "DIAYN discriminator learning rate.")

  def __post_init__(self):
    require_positive(self, "diayn_lr")


def _check(config: DIAYNConfig, skills) -> None:
  del config
  require(skills.skill_type != "cont_sphere", "skill_type", skills.skill_type,
          "DIAYN's discriminator has no density on the sphere yet; use cont_uniform, gaussian, "
          "discrete_uniform or multivariate_bernoulli with --objective=diayn")


class DiscriminatorState(flax.struct.PyTreeNode):
  params: dict
  opt_state: optax.OptState
  steps: jnp.ndarray


class DIAYN:
  """The Objective with a skill discriminator; it has no skill dynamics."""

  dynamics = None

  def __init__(self, config: DIAYNConfig, context: ObjectiveContext):
    self.config = config
    self.prior = prior = context.prior
    self.reduced_indices = context.reduced_indices
    out = prior.dim if prior.kind in ("discrete_uniform", "multivariate_bernoulli") else 2 * prior.dim
    self.net = MLP(context.hidden, out)
    self.optimizer = optax.adam(config.diayn_lr)

  def reduce(self, obs):
    return obs[..., jnp.asarray(self.reduced_indices, jnp.int32)]

  def init(self, key) -> DiscriminatorState:
    params = self.net.init(key, jnp.zeros((1, len(self.reduced_indices))))
    return DiscriminatorState(params, self.optimizer.init(params), jnp.zeros((), jnp.int32))

  def log_q(self, params, s_next: jnp.ndarray, skills: jnp.ndarray) -> jnp.ndarray:
    """log q(z | s') for s_next [B, D] and skills [B, C, dz] -> [B, C]."""
    out = self.net.apply(params, s_next)[:, None]  # [B, 1, out]
    kind = self.prior.kind
    if kind == "discrete_uniform":
      return jnp.sum(jax.nn.log_softmax(out, -1) * skills, -1)
    if kind == "multivariate_bernoulli":
      return jnp.sum(skills * jax.nn.log_sigmoid(out) + (1 - skills) * jax.nn.log_sigmoid(-out), -1)
    mean, log_std = jnp.split(out, 2, -1)
    log_std = jnp.clip(log_std, *DISCRIMINATOR_LOG_STD_RANGE)
    if kind == "gaussian":
      u, log_det = skills, 0.0
    else:  # cont_uniform: z = tanh(u), u Gaussian
      z = jnp.clip(skills, -1 + TANH_EPS, 1 - TANH_EPS)
      u, log_det = jnp.arctanh(z), jnp.sum(jnp.log1p(-z**2 + TANH_EPS), -1)
    return gaussian_log_prob(u, mean, log_std) - log_det

  def update(self, state: DiscriminatorState, batch: Transition, weights, key):
    del key
    s_next = self.reduce(batch.next_obs)

    def loss_fn(params):
      logq = self.log_q(params, s_next, batch.skill[:, None])[:, 0]
      return -jnp.mean(weights * logq), logq

    (loss, logq), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
    state = state.replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state, steps=state.steps + 1)
    metrics = {"discriminator_loss": loss}
    if self.prior.is_discrete:
      out = self.net.apply(state.params, s_next)
      metrics["discriminator_accuracy"] = jnp.mean(
          jnp.argmax(out, -1) == jnp.argmax(batch.skill, -1))
    return state, metrics

  def reward(self, state: DiscriminatorState, batch: Transition, key):
    del key
    logq = self.log_q(state.params, self.reduce(batch.next_obs), batch.skill[:, None])[:, 0]
    reward = logq - self.prior.log_prob(batch.skill)
    return reward, {"diayn/logq": jnp.mean(logq)}

  def skill_log_likelihood(self, state, batch: Transition, skills):
    return self.log_q(state.params, self.reduce(batch.next_obs), skills)


SPEC = ObjectiveSpec(
    name="diayn", summary="DIAYN: a skill discriminator q(z|s') and log q(z|s') - log p(z)",
    config=DIAYNConfig, build=DIAYN, check=_check)
