"""The METRA objective (objectives/metra.py): its reward, the centring of one-hot skills,
the constraint and its dual variable, relabelling, the registry and flags."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.objectives import OBJECTIVES, ObjectiveContext
from unsupervised_skill_learning.objectives.base import GOAL_LATENT
from unsupervised_skill_learning.objectives.metra import METRA, METRAConfig
from unsupervised_skill_learning.validation import ConfigError
from testkit import state_transitions


def _metra(kind="cont_sphere", dim=2, **settings):
  context = ObjectiveContext(prior=SkillPrior(kind, dim), reduced_indices=(0, 1),
                             dynamics_input_positions=(), hidden=(8, 8))
  return METRA(METRAConfig(**{"metra_hidden_size": 32, **settings}), context)


def _batch(rng, n, skill):
  obs = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
  next_obs = obs + 0.1 * jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
  return state_transitions(obs, jnp.asarray(skill, jnp.float32), next_obs)


def test_reward_is_the_step_of_phi_along_the_skill():
  obj = _metra()
  state = obj.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  skill = SkillPrior("cont_sphere", 2).sample(rng, 16)
  batch = _batch(rng, 16, skill)
  phi = lambda x: np.asarray(obj.latent(state, x))  # noqa: E731
  expected = np.sum((phi(batch.next_obs) - phi(batch.obs)) * skill, -1)
  reward, _ = obj.reward(state, batch, None)
  np.testing.assert_allclose(reward, expected, rtol=1e-5, atol=1e-6)
  # Relabelling scores a candidate by the reward it would have earned.
  candidates = jnp.stack([batch.skill, -batch.skill], 1)
  ll = np.asarray(obj.skill_log_likelihood(state, batch, candidates))
  np.testing.assert_allclose(ll[:, 0], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ll[:, 1], -expected, rtol=1e-5, atol=1e-6)


def test_one_hot_skills_are_centred_as_metra():
  obj = _metra("discrete_uniform", 4)
  directions = np.asarray(obj.skill_direction(jnp.eye(4)))
  expected = np.full((4, 4), -1 / 3) + np.eye(4) * (1 + 1 / 3)
  np.testing.assert_allclose(directions, expected, rtol=1e-6)
  np.testing.assert_allclose(directions.sum(0), 0, atol=1e-6)
  # Continuous skills are used as they are.
  z = jnp.asarray([[0.6, 0.8]])
  np.testing.assert_array_equal(_metra().skill_direction(z), z)


@pytest.mark.parametrize("constraint", ["mean", "sum"])
def test_dual_variable_rises_when_the_constraint_is_violated_and_falls_when_slack(constraint):
  rng = np.random.default_rng(1)
  skill = SkillPrior("cont_sphere", 2).sample(rng, 64)
  near = _batch(rng, 64, skill)
  far = near.replace(next_obs=near.obs + 100.0)  # a step no small phi can keep under 1
  obj = _metra(metra_constraint=constraint, metra_dual_lr=1e-2)
  state = obj.init(jax.random.key(1))
  # Scale phi up so that the far step violates the constraint whatever the init.
  state = state.replace(phi_params=jax.tree.map(lambda p: 3.0 * p, state.phi_params))
  lam0 = float(jnp.exp(state.log_lambda))
  assert lam0 == pytest.approx(30.0, rel=1e-6)
  violated, metrics = obj.update(state, far, jnp.ones(64), None)
  assert float(metrics["metra/penalty"]) < 0 and float(jnp.exp(violated.log_lambda)) > lam0
  # A tiny phi step: penalty at the slack eps (> 0), so lambda falls.
  small = state.replace(phi_params=jax.tree.map(lambda p: 1e-3 * p, state.phi_params))
  slack, metrics = obj.update(small, near, jnp.ones(64), None)
  assert float(metrics["metra/penalty"]) == pytest.approx(1e-3, rel=1e-4)
  assert float(jnp.exp(slack.log_lambda)) < lam0
  # The step size is the mean (METRA's code) or the sum of the squared coordinates.
  delta = jnp.asarray([[3.0, 4.0]])
  assert float(obj.step_size(delta)[0]) == (12.5 if constraint == "mean" else 25.0)


def test_registry_flags_and_validation():
  spec = OBJECTIVES["metra"]
  assert spec.config is METRAConfig and spec.capabilities == frozenset({GOAL_LATENT})
  assert not spec.has_skill_dynamics
  cfg = RunConfig.build(logdir="x", objective="metra", skill_type="cont_sphere", metra_lr=3e-4)
  defaults = cfg.objective_config
  assert (defaults.metra_lr, defaults.metra_dual_lr, defaults.metra_dual_lam,
          defaults.metra_dual_slack, defaults.metra_hidden_size, defaults.metra_num_layers,
          defaults.metra_constraint) == (3e-4, 1e-4, 30.0, 1e-3, 1024, 2, "mean")
  assert RunConfig.from_dict(cfg.to_dict()) == cfg
  for bad in (dict(metra_lr=0.0), dict(metra_dual_slack=-1.0), dict(metra_hidden_size=0),
              dict(metra_constraint="max")):
    with pytest.raises(ConfigError, match=f"--{next(iter(bad))}="):
      RunConfig.build(logdir="x", objective="metra", **bad)
  with pytest.raises(ConfigError, match="--skill_type=multivariate_bernoulli"):
    RunConfig.build(logdir="x", objective="metra", skill_type="multivariate_bernoulli")
  with pytest.raises(ConfigError, match="--skill_type=cont_sphere"):
    RunConfig.build(logdir="x", objective="diayn", skill_type="cont_sphere")
