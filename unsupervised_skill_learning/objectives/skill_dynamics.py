"""Skill dynamics q(s' - s | s, z): a mixture of Gaussians over the normalized change.

The model works on the *reduced* observation (the coordinates the skill dynamics
predicts, e.g. x-y for the paper's Ant prior). It conditions on the reduced observation
less the env's hidden coordinates (`input_positions`), so with the x-y prior the input is
empty and q depends on z alone. Inputs and deltas are normalized (`normalize_data`), with
statistics that are part of the state, in one of two ways (`normalization`):

  running: one running mean and variance over everything seen (eps 1e-8), used by the
           loss, the reward and the predictions alike (this project's default);
  batch:   the original's BatchNorm (tf.layers.batch_normalization on the inputs,
           BatchNormalization(center=False, scale=False) on the deltas): the loss
           normalizes with the training batch's own statistics, and each update moves a
           momentum-0.99 average (mean from 0, variance from 1, eps 1e-3) that rewards,
           likelihoods and predictions use. The original's input BatchNorm also had a
           learned affine (gamma, beta) after normalizing; it is left out here, since the
           first dense layer absorbs any affine map of its input.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.distributions import MixtureParams, mixture_log_prob, mixture_mean
from lib.running_stats import BATCH_NORM_EPS, BATCH_NORM_MOMENTUM, EPS, RunningStats

STD_MIN, STD_MAX = 0.3, 10.0
NORMALIZATIONS = ("running", "batch")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SkillDynamicsConfig:
  """The model's shape, derived from the run's settings (validated there, in
  objectives/dads.py's DADSConfig). output_dim: size of the reduced observation (the
  delta predicted); input_positions: positions within the reduced observation the model
  conditions on."""

  output_dim: int
  skill_dim: int
  input_positions: tuple[int, ...] = ()
  hidden: tuple[int, ...] = (512, 512)
  num_components: int = 4
  fix_variance: bool = True
  normalize_data: bool = True
  graph_type: str = "default"  # default: one layer over (s, z); separate: own first layers
  lr: float = 3e-4
  normalization: str = "running"  # running | batch (see the module's docstring)

  def __post_init__(self):
    if self.normalization not in NORMALIZATIONS:
      raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got "
                       f"{self.normalization!r}")

  @property
  def norm_eps(self) -> float:
    return BATCH_NORM_EPS if self.normalization == "batch" else EPS

  @property
  def input_dim(self) -> int:
    return len(self.input_positions)


class MixtureNet(nn.Module):
  """(s [.., in], z [.., dz]) -> MixtureParams. The first layer is split into a state
  part and a skill part, which is what lets the DADS reward evaluate it cheaply for
  many skills: h1 = relu(state_part(s) + skill_part(z))."""

  config: SkillDynamicsConfig

  def setup(self):
    cfg = self.config
    width = cfg.hidden[0]
    if cfg.graph_type == "default":
      # Dense over concat(s, z) written as two matrices: the same function.
      self.state_layer = nn.Dense(width, use_bias=False) if cfg.input_dim else None
      self.skill_layer = nn.Dense(width)
    else:
      self.state_layer = nn.Dense(width) if cfg.input_dim else None
      self.skill_layer = nn.Dense(width)
      self.merge_layer = nn.Dense(width)
    self.trunk = [nn.Dense(h) for h in cfg.hidden[1:]]
    k, d = cfg.num_components, cfg.output_dim
    self.logits_head = nn.Dense(k)
    self.means_head = nn.Dense(k * d)
    self.std_head = None if cfg.fix_variance else nn.Dense(k * d)

  def state_part(self, s):
    if self.state_layer is None:
      return jnp.zeros((*s.shape[:-1], self.config.hidden[0]), jnp.float32)
    return self.state_layer(s)

  def skill_part(self, z):
    return self.skill_layer(z)

  def head(self, state_part, skill_part) -> MixtureParams:
    if self.config.graph_type == "default":
      h = nn.relu(state_part + skill_part)
    else:
      h = nn.relu(self.merge_layer(jnp.concatenate(
          [nn.relu(state_part), nn.relu(skill_part)], -1)))
    for layer in self.trunk:
      h = nn.relu(layer(h))
    k, d = self.config.num_components, self.config.output_dim
    means = self.means_head(h).reshape(*h.shape[:-1], k, d)
    if self.std_head is None:
      log_std = jnp.zeros_like(means)
    else:
      std = jnp.clip(jax.nn.softplus(self.std_head(h)), STD_MIN, STD_MAX)
      log_std = jnp.log(std).reshape(means.shape)
    return MixtureParams(self.logits_head(h), means, log_std)

  def __call__(self, s, z):
    return self.head(self.state_part(s), self.skill_part(z))


class SkillDynamicsState(flax.struct.PyTreeNode):
  params: dict
  opt_state: optax.OptState
  input_stats: RunningStats
  delta_stats: RunningStats
  steps: jnp.ndarray


class SkillDynamics:
  """Pure functions over SkillDynamicsState. s, s_next: reduced observations [B, D]."""

  def __init__(self, config: SkillDynamicsConfig):
    self.config = config
    self.net = MixtureNet(config)
    self.optimizer = optax.adam(config.lr)
    self.init = jax.jit(self._init)
    self.update = jax.jit(self._update)
    self.log_prob = jax.jit(self._log_prob)
    self.predict_next = jax.jit(self._predict_next, static_argnames="mode")

  def _init(self, key) -> SkillDynamicsState:
    cfg = self.config
    params = self.net.init(key, jnp.zeros((1, cfg.input_dim)), jnp.zeros((1, cfg.skill_dim)))
    return SkillDynamicsState(params, self.optimizer.init(params),
                              RunningStats.create(cfg.input_dim),
                              RunningStats.create(cfg.output_dim), jnp.zeros((), jnp.int32))

  # --- normalization ----------------------------------------------------------------
  def inputs(self, state: SkillDynamicsState, s: jnp.ndarray) -> jnp.ndarray:
    """Normalized network input [..., input_dim] from reduced observations [..., D]."""
    x = s[..., jnp.asarray(self.config.input_positions, jnp.int32)]
    if not self.config.normalize_data:
      return x
    return state.input_stats.normalize(x, self.config.norm_eps)

  def target(self, state: SkillDynamicsState, s, s_next) -> jnp.ndarray:
    delta = s_next - s
    if not self.config.normalize_data:
      return delta
    return state.delta_stats.normalize(delta, self.config.norm_eps)

  # --- model --------------------------------------------------------------------------
  def mixture(self, params, state: SkillDynamicsState, s, z) -> MixtureParams:
    return self.net.apply(params, self.inputs(state, s), z)

  def _log_prob(self, state: SkillDynamicsState, s, z, s_next) -> jnp.ndarray:
    """log q(s_next - s | s, z) [B] of the normalized delta."""
    return mixture_log_prob(self.mixture(state.params, state, s, z),
                            self.target(state, s, s_next))

  def _predict_next(self, state: SkillDynamicsState, s, z, mode: str = "mean"):
    """s + de-normalized predicted delta [..., D]."""
    delta = mixture_mean(self.mixture(state.params, state, s, z), mode)
    if self.config.normalize_data:
      delta = state.delta_stats.denormalize(delta, self.config.norm_eps)
    return s + delta

  def loss(self, params, state: SkillDynamicsState, s, z, s_next, weights):
    logp = mixture_log_prob(self.mixture(params, state, s, z), self.target(state, s, s_next))
    return -jnp.mean(weights * logp), logp

  def _update(self, state: SkillDynamicsState, s, z, s_next, weights=None):
    """One weighted maximum-likelihood step on a batch [B, ...]; weights [B] (IS)."""
    if weights is None:
      weights = jnp.ones(s.shape[0], jnp.float32)
    loss_state = state
    if self.config.normalize_data:
      x = s[..., jnp.asarray(self.config.input_positions, jnp.int32)]
      if self.config.normalization == "batch":
        # BatchNorm in training mode: the loss sees the batch's own statistics; the
        # moving averages (what rewards and predictions use) take a momentum step.
        loss_state = state.replace(input_stats=RunningStats.of_batch(x),
                                   delta_stats=RunningStats.of_batch(s_next - s))
        state = state.replace(
            input_stats=state.input_stats.update_ema(x, BATCH_NORM_MOMENTUM),
            delta_stats=state.delta_stats.update_ema(s_next - s, BATCH_NORM_MOMENTUM))
      else:
        state = state.replace(input_stats=state.input_stats.update(x),
                              delta_stats=state.delta_stats.update(s_next - s))
        loss_state = state
    (loss, logp), grads = jax.value_and_grad(self.loss, has_aux=True)(
        state.params, loss_state, s, z, s_next, weights)
    updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
    state = state.replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state, steps=state.steps + 1)
    return state, {"dynamics_loss": loss, "dynamics_logp": jnp.mean(logp)}
