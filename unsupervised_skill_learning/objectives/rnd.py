"""Random network distillation (Burda et al. 2018) as the intrinsic reward.

A fixed, randomly initialized target network f and a predictor g trained on the states
the agent visits to minimize ||g(s') - f(s')||^2; the reward is the predictor's error

  r(s') = mean_k (g(s')_k - f(s')_k)^2 / std_r

on the next observation s' (its reduced observation, `context.reduced_indices`, as DIAYN).
Rarely visited states are poorly predicted and so rewarded.

Normalization, as in the paper:
- observations: a running mean / variance of s' (`RunningStats`); both networks see
  clip((s' - mean) / std, -rnd_obs_clip, rnd_obs_clip);
- reward: the raw error is divided by a running std. The paper divides by the running
  std of the *discounted intrinsic return* of its on-policy rollouts; in this off-policy,
  per-transition setting there are no rollouts to discount along, so std_r is the running
  std of the *raw intrinsic reward* itself (the per-transition errors the predictor makes
  on its update batches, measured before each step).
Both statistics live in the objective's state (checkpoints carry them) and change only
in `update`; `reward` is pure. The observation statistics take every sampled transition
with equal weight (they describe the replayed data, like the paper's statistics of every
observation seen); the predictor's loss uses the learner's importance weights.

The skill plays no part: RND has no skills and no skill dynamics (`dynamics = None`), the
run still samples skills from its prior (pass --num_skills=1 if they are not wanted).
`skill_log_likelihood` is zero for every candidate skill: relabelling is meaningless for
RND (relabelling by dynamics posterior then falls back to the prior's density alone).

Variant --rnd_target=snd (self-supervised network distillation, Pecháč et al. 2023): the
target is not fixed but trained, with a VICReg loss (Bardes et al. 2022) on the batch's
pairs (s, s') as positive pairs: invariance (f(s) close to f(s')), a variance hinge
(each output dimension keeps a batch std >= 1) and a covariance penalty (decorrelated
dimensions), so its features reflect the environment's temporal structure rather than a
random projection. The predictor distills the current target (stop-gradient) as in RND;
both use --rnd_lr.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.networks import MLP
from lib.running_stats import RunningStats
from lib.transition import Transition
from unsupervised_skill_learning.objectives.base import ObjectiveContext, ObjectiveSpec, setting
from unsupervised_skill_learning.validation import require, require_positive

TARGETS = ("random", "snd")
# VICReg's weights (Bardes et al. 2022): invariance, variance, covariance.
VICREG_WEIGHTS = (25.0, 25.0, 1.0)
VICREG_EPS = 1e-4


@dataclasses.dataclass(frozen=True, kw_only=True)
class RNDConfig:
  """The RND objective's settings (flags)."""

  rnd_lr: float = setting(3e-4, "RND predictor (and SND target) learning rate.")
  rnd_output_dim: int = setting(64, "RND embedding size (outputs of target and predictor).")
  rnd_obs_clip: float = setting(5.0, "RND: whitened observations are clipped to +-this.")
  rnd_target: str = setting("random", "RND target network: random (fixed, RND) | snd "
                            "(trained with a VICReg loss on (s, s') pairs).")

  def __post_init__(self):
    require_positive(self, "rnd_lr", "rnd_obs_clip", "rnd_output_dim")
    require(isinstance(self.rnd_output_dim, int), "rnd_output_dim", self.rnd_output_dim,
            "must be a positive integer")
    require(self.rnd_target in TARGETS, "rnd_target", self.rnd_target,
            f"allowed: {', '.join(TARGETS)}")


class RNDState(flax.struct.PyTreeNode):
  target_params: dict
  predictor_params: dict
  predictor_opt_state: optax.OptState
  target_opt_state: Any      # the SND target's optimizer state; () for a fixed target
  obs_stats: RunningStats    # of the reduced next observations
  reward_stats: RunningStats  # of the raw intrinsic reward (dim 1)
  steps: jnp.ndarray


def vicreg_loss(z_a: jnp.ndarray, z_b: jnp.ndarray) -> tuple[jnp.ndarray, dict]:
  """VICReg on paired embeddings [B, K]; its weighted sum and the three terms."""
  invariance = jnp.mean(jnp.sum((z_a - z_b) ** 2, -1)) / z_a.shape[-1]
  variance = covariance = 0.0
  for z in (z_a, z_b):
    z = z - jnp.mean(z, 0)
    std = jnp.sqrt(jnp.var(z, 0) + VICREG_EPS)
    variance = variance + jnp.mean(jax.nn.relu(1.0 - std))
    cov = z.T @ z / (z.shape[0] - 1)
    off_diagonal = cov - jnp.diag(jnp.diag(cov))
    covariance = covariance + jnp.sum(off_diagonal**2) / z.shape[-1]
  w_inv, w_var, w_cov = VICREG_WEIGHTS
  loss = w_inv * invariance + w_var * variance + w_cov * covariance
  return loss, {"invariance": invariance, "variance": variance, "covariance": covariance}


class RND:
  """The Objective of random network distillation; it has no skill dynamics."""

  dynamics = None

  def __init__(self, config: RNDConfig, context: ObjectiveContext):
    self.config = config
    self.reduced_indices = context.reduced_indices
    self.target_net = MLP(context.hidden, config.rnd_output_dim)
    self.predictor_net = MLP(context.hidden, config.rnd_output_dim)
    self.optimizer = optax.adam(config.rnd_lr)
    self.snd = config.rnd_target == "snd"

  def reduce(self, obs: jnp.ndarray) -> jnp.ndarray:
    return obs[..., jnp.asarray(self.reduced_indices, jnp.int32)]

  def init(self, key) -> RNDState:
    k_target, k_predictor = jax.random.split(key)
    x = jnp.zeros((1, len(self.reduced_indices)))
    target = self.target_net.init(k_target, x)
    predictor = self.predictor_net.init(k_predictor, x)
    return RNDState(
        target_params=target, predictor_params=predictor,
        predictor_opt_state=self.optimizer.init(predictor),
        target_opt_state=self.optimizer.init(target) if self.snd else (),
        obs_stats=RunningStats.create(len(self.reduced_indices)),
        reward_stats=RunningStats.create(1), steps=jnp.zeros((), jnp.int32))

  def whiten(self, stats: RunningStats, s: jnp.ndarray) -> jnp.ndarray:
    clip = self.config.rnd_obs_clip
    return jnp.clip(stats.normalize(s), -clip, clip)

  def errors(self, predictor_params, target_params, x: jnp.ndarray) -> jnp.ndarray:
    """Per-transition squared prediction error [B] on whitened inputs x [B, D]."""
    target = jax.lax.stop_gradient(self.target_net.apply(target_params, x))
    return jnp.mean((self.predictor_net.apply(predictor_params, x) - target) ** 2, -1)

  def raw_reward(self, state: RNDState, batch: Transition) -> jnp.ndarray:
    x = self.whiten(state.obs_stats, self.reduce(batch.next_obs))
    return self.errors(state.predictor_params, state.target_params, x)

  def update(self, state: RNDState, batch: Transition, weights, key):
    del key  # Regression on the batch is deterministic.
    s_next = self.reduce(batch.next_obs)
    obs_stats = state.obs_stats.update(s_next)
    x = self.whiten(obs_stats, s_next)

    def predictor_loss(params):
      err = self.errors(params, state.target_params, x)
      return jnp.mean(weights * err), err

    (loss, err), grads = jax.value_and_grad(predictor_loss, has_aux=True)(state.predictor_params)
    updates, predictor_opt_state = self.optimizer.update(grads, state.predictor_opt_state,
                                                         state.predictor_params)
    metrics = {"rnd/predictor_loss": loss}
    target_params, target_opt_state = state.target_params, state.target_opt_state
    if self.snd:
      x_now = self.whiten(obs_stats, self.reduce(batch.obs))

      def target_loss(params):
        return vicreg_loss(self.target_net.apply(params, x_now), self.target_net.apply(params, x))

      (t_loss, terms), t_grads = jax.value_and_grad(target_loss, has_aux=True)(target_params)
      t_updates, target_opt_state = self.optimizer.update(t_grads, target_opt_state,
                                                          target_params)
      target_params = optax.apply_updates(target_params, t_updates)
      metrics["rnd/target_loss"] = t_loss
      metrics.update({f"rnd/target_{k}": v for k, v in terms.items()})
    reward_stats = state.reward_stats.update(jax.lax.stop_gradient(err)[:, None])
    metrics["rnd/reward_std"] = reward_stats.std[0]
    state = state.replace(
        predictor_params=optax.apply_updates(state.predictor_params, updates),
        predictor_opt_state=predictor_opt_state, target_params=target_params,
        target_opt_state=target_opt_state, obs_stats=obs_stats, reward_stats=reward_stats,
        steps=state.steps + 1)
    return state, metrics

  def reward(self, state: RNDState, batch: Transition, key):
    del key
    raw = self.raw_reward(state, batch)
    return raw / state.reward_stats.std[0], {"rnd/raw_reward": jnp.mean(raw)}

  def skill_log_likelihood(self, state, batch: Transition, skills):
    """Zeros [B, C]: no skill explains a transition better than another under RND."""
    del state, batch
    return jnp.zeros(skills.shape[:2], jnp.float32)


SPEC = ObjectiveSpec(
    name="rnd", summary="RND: a predictor distilling a random network; its error on s' "
    "(--rnd_target=snd: a VICReg-trained target)",
    config=RNDConfig, build=RND)
