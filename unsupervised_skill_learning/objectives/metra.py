"""METRA (Park, Rybkin and Levine, ICLR 2024): skills that travel far in a learned metric.

A representation phi maps the reduced observation (the coordinates `--reduced_observation`
selects, e.g. x-y under the Ant's x-y prior, as DADS sees them) to the skill space R^dz.
Under the constraint that one step moves phi by at most a unit, skill z is rewarded for
moving along z:

  r(s, z, s') = (phi(s') - phi(s))^T z'      z' = z, or, for one-hot skills, METRA's
                                             centring (z - mean_k z_k) K / (K - 1)

phi maximizes, with the dual variable lambda held fixed in the step,

  J(phi) = E[ r + lambda * min(eps, 1 - c(phi(s') - phi(s))) ]

and lambda, stored as log lambda, minimizes log lambda * E[stop_grad(penalty)], with
penalty = min(eps, 1 - c(...)): a violated constraint (negative penalty) raises lambda,
a slack one lowers it (METRA's `LossDualLam`).

The step size c (`--metra_constraint`): METRA's code (iod/metra.py, _update_loss_te:
`torch.square(phi_y - phi_x).mean(dim=1)`) takes the *mean* of the squared coordinates,
so its constraint is |phi(s') - phi(s)|^2 <= dz, not <= 1. `mean` (the default) is that;
`sum` is the paper's |phi(s') - phi(s)|^2 <= 1. The reward's scale differs by sqrt(dz)
between the two; the directions phi learns do not.

Both expectations are over the objective's batch, weighted by the learner's importance
weights (all ones unless --skill_dynamics_relabel_type=importance_sampling with
--is_clip_eps > 1; METRA's own expectation is uniform over the replay buffer, which
--skill_dynamics_relabel_type=none gives).

Relabelling: `skill_log_likelihood` is the reward (phi(s') - phi(s))^T z' itself: the
log-density of z under a von Mises-Fisher distribution with mean direction and
concentration phi(s') - phi(s), up to a term that depends on the transition alone, so
relabelling picks the candidate skill the transition served best.

Goal reaching (capability GOAL_LATENT): `latent(state, reduced)` is phi, and the skill
toward a goal g is the unit vector (phi(g) - phi(s)) / |phi(g) - phi(s)|
(planning/zero_shot.py).

Settings and their source (METRA's tests/main.py defaults; state-based Ant):
--metra_lr 1e-4 (common_lr), --metra_dual_lr 1e-4 (dual_lr, defaults to common_lr),
--metra_dual_lam 30 (dual_lam, lambda's initial value), --metra_dual_slack 1e-3
(dual_slack, eps), --metra_hidden_size 1024 and --metra_num_layers 2 (model_master_dim,
model_master_num_layers; ReLU, Glorot-uniform kernels).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.networks import MLP, glorot_uniform
from lib.transition import Transition
from unsupervised_skill_learning.objectives.base import (GOAL_LATENT, ObjectiveContext,
                                                         ObjectiveSpec, setting)
from unsupervised_skill_learning.validation import require, require_positive

CONSTRAINTS = ("mean", "sum")
SKILL_TYPES = ("cont_sphere", "cont_uniform", "gaussian", "discrete_uniform")


@dataclasses.dataclass(frozen=True, kw_only=True)
class METRAConfig:
  """The METRA objective's settings (flags); defaults are METRA's (see the module)."""

  metra_lr: float = setting(1e-4, "METRA: learning rate of phi. METRA: 1e-4.")
  metra_dual_lr: float = setting(1e-4, "METRA: learning rate of log lambda. METRA: 1e-4.")
  metra_dual_lam: float = setting(30.0, "METRA: initial dual variable lambda. METRA: 30.")
  metra_dual_slack: float = setting(1e-3, "METRA: eps, the penalty min(eps, 1 - step) is "
                                    "capped at. METRA: 1e-3.")
  metra_hidden_size: int = setting(1024, "METRA: width of phi's hidden layers. METRA: 1024.")
  metra_num_layers: int = setting(2, "METRA: hidden layers of phi. METRA: 2.")
  metra_constraint: str = setting(
      "mean", "METRA: the step size the constraint bounds by 1: mean (of the squared "
      "coordinates of phi(s') - phi(s), as METRA's code: |dphi|^2 <= num_skills) | sum "
      "(|dphi|^2 <= 1, as the paper writes it).")

  def __post_init__(self):
    require_positive(self, "metra_lr", "metra_dual_lr", "metra_dual_lam", "metra_dual_slack",
                     "metra_hidden_size", "metra_num_layers")
    for name in ("metra_hidden_size", "metra_num_layers"):
      require(isinstance(getattr(self, name), int), name, getattr(self, name),
              "must be a positive integer")
    require(self.metra_constraint in CONSTRAINTS, "metra_constraint", self.metra_constraint,
            f"allowed: {', '.join(CONSTRAINTS)}")


def _check(config: METRAConfig, skills) -> None:
  del config
  require(skills.skill_type in SKILL_TYPES, "skill_type", skills.skill_type,
          f"METRA's reward needs skills that are directions; allowed with --objective=metra: "
          f"{', '.join(SKILL_TYPES)}")


class METRAState(flax.struct.PyTreeNode):
  phi_params: dict
  phi_opt_state: optax.OptState
  log_lambda: jnp.ndarray       # [] log of the dual variable
  dual_opt_state: optax.OptState
  steps: jnp.ndarray


class METRA:
  """The Objective with a representation phi; it has no skill dynamics."""

  dynamics = None

  def __init__(self, config: METRAConfig, context: ObjectiveContext):
    self.config = config
    self.prior = context.prior
    self.reduced_indices = context.reduced_indices
    self.net = MLP((config.metra_hidden_size,) * config.metra_num_layers, context.prior.dim,
                   hidden_init=glorot_uniform, out_init=glorot_uniform)
    self.phi_optimizer = optax.adam(config.metra_lr)
    self.dual_optimizer = optax.adam(config.metra_dual_lr)

  def reduce(self, obs: jnp.ndarray) -> jnp.ndarray:
    return obs[..., jnp.asarray(self.reduced_indices, jnp.int32)]

  def init(self, key) -> METRAState:
    params = self.net.init(key, jnp.zeros((1, len(self.reduced_indices))))
    log_lambda = jnp.log(jnp.asarray(self.config.metra_dual_lam, jnp.float32))
    return METRAState(phi_params=params, phi_opt_state=self.phi_optimizer.init(params),
                      log_lambda=log_lambda, dual_opt_state=self.dual_optimizer.init(log_lambda),
                      steps=jnp.zeros((), jnp.int32))

  # --- phi and the reward --------------------------------------------------------------
  def latent(self, state: METRAState, reduced: jnp.ndarray) -> jnp.ndarray:
    """phi of reduced observations [..., D] -> [..., dz] (the GOAL_LATENT capability)."""
    return self.net.apply(state.phi_params, reduced)

  def skill_direction(self, skills: jnp.ndarray) -> jnp.ndarray:
    """The vector a skill rewards moving along [..., dz]: z itself, or for one-hot skills
    METRA's centring (z - mean_k z_k) K / (K - 1), which makes the K directions sum to
    zero (the chosen coordinate up by 1, every other down by 1 / (K - 1))."""
    if not self.prior.is_discrete:
      return skills
    k = self.prior.dim
    return (skills - jnp.mean(skills, -1, keepdims=True)) * (k / (k - 1) if k > 1 else 1.0)

  def step_size(self, delta: jnp.ndarray) -> jnp.ndarray:
    """c(dphi) [B] of phi(s') - phi(s) [B, dz]: the mean or sum of its squared coordinates."""
    squared = jnp.square(delta)
    return jnp.mean(squared, -1) if self.config.metra_constraint == "mean" else jnp.sum(squared, -1)

  def delta(self, params, batch: Transition) -> jnp.ndarray:
    """phi(s') - phi(s) [B, dz]."""
    phi = self.net.apply(params, jnp.stack([self.reduce(batch.obs), self.reduce(batch.next_obs)]))
    return phi[1] - phi[0]

  # --- the Objective protocol ----------------------------------------------------------
  def update(self, state: METRAState, batch: Transition, weights, key):
    del key  # Both steps are deterministic given the batch.
    lam = jnp.exp(state.log_lambda)  # held fixed in phi's step
    slack = self.config.metra_dual_slack
    direction = self.skill_direction(batch.skill)

    def phi_loss(params):
      delta = self.delta(params, batch)
      reward = jnp.sum(delta * direction, -1)
      penalty = jnp.minimum(slack, 1.0 - self.step_size(delta))
      return -jnp.mean(weights * (reward + lam * penalty)), (reward, penalty, delta)

    (loss, (reward, penalty, delta)), grads = jax.value_and_grad(phi_loss, has_aux=True)(
        state.phi_params)
    updates, phi_opt_state = self.phi_optimizer.update(grads, state.phi_opt_state,
                                                       state.phi_params)
    # The dual step on the penalty measured in phi's step (stop-gradient), as METRA.
    mean_penalty = jnp.mean(weights * penalty)
    dual_grad = mean_penalty  # d/dlog_lambda of log_lambda * mean_penalty
    dual_updates, dual_opt_state = self.dual_optimizer.update(dual_grad, state.dual_opt_state,
                                                              state.log_lambda)
    state = state.replace(
        phi_params=optax.apply_updates(state.phi_params, updates), phi_opt_state=phi_opt_state,
        log_lambda=optax.apply_updates(state.log_lambda, dual_updates),
        dual_opt_state=dual_opt_state, steps=state.steps + 1)
    metrics = {"metra/phi_loss": loss, "metra/phi_reward": jnp.mean(reward),
               "metra/penalty": mean_penalty, "metra/step_size": jnp.mean(self.step_size(delta)),
               "metra/violated": jnp.mean(weights * (penalty < 0)),
               "metra/lambda": jnp.exp(state.log_lambda)}
    return state, metrics

  def reward(self, state: METRAState, batch: Transition, key):
    del key
    delta = self.delta(state.phi_params, batch)
    return jnp.sum(delta * self.skill_direction(batch.skill), -1), {}

  def skill_log_likelihood(self, state: METRAState, batch: Transition, skills):
    """(phi(s') - phi(s))^T z' [B, C] for candidates skills [B, C, dz]: a von Mises-Fisher
    log-density of z up to a per-transition term (see the module docstring)."""
    delta = self.delta(state.phi_params, batch)
    return jnp.sum(delta[:, None] * self.skill_direction(skills), -1)


SPEC = ObjectiveSpec(
    name="metra", summary="METRA: phi with |phi(s') - phi(s)| <= 1 and the reward "
    "(phi(s') - phi(s))^T z; zero-shot goal reaching",
    config=METRAConfig, build=METRA, capabilities=frozenset({GOAL_LATENT}), check=_check)
