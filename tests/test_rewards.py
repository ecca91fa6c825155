import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.config import RunConfig, SkillConfig
from unsupervised_skill_learning.objectives import OBJECTIVES, ObjectiveContext
from unsupervised_skill_learning.objectives.dads import DADS, DADSConfig, dads_reward_from_logps
from unsupervised_skill_learning.objectives.diayn import DIAYN, DIAYNConfig
from unsupervised_skill_learning.validation import ConfigError
from testkit import state_transitions


def _context(prior, input_positions=()):
  return ObjectiveContext(prior=prior, reduced_indices=(0, 1),
                          dynamics_input_positions=input_positions, hidden=(64, 64))


def _dads(prior, random_skills=20, input_positions=(), **dads_kwargs):
  cfg = DADSConfig(random_skills=random_skills, skill_dynamics_lr=1e-3, **dads_kwargs)
  return DADS(cfg, _context(prior, input_positions))


def _train(obj, make_batch, steps, seed=0):
  rng = np.random.default_rng(seed)
  state = obj.init(jax.random.key(seed))
  update = jax.jit(obj.update)
  for i in range(steps):
    batch = make_batch(rng, 256)
    state, metrics = update(state, batch, jnp.ones(256), jax.random.key(i))
  return state, metrics


def _skill_effect(scale, noise, skill_matters=True):
  def make(rng, n):
    z = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    nxt = obs.copy()
    effect = z if skill_matters else rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    nxt[:, :2] += scale * effect + noise * rng.normal(size=(n, 2)).astype(np.float32)
    return state_transitions(jnp.asarray(obs), jnp.asarray(z), jnp.asarray(nxt))
  return make


def test_dads_reward_near_log_L_plus_1_for_skill_predictive_model():
  L = 20
  # Unnormalized, learned variance: the skill pins s' down to about 0.3 out of a range of 20.
  obj = _dads(SkillPrior("cont_uniform", 2), L, normalize_data=False, fix_variance=False)
  make = _skill_effect(10.0, 0.01)
  state, _ = _train(obj, make, 1500)
  reward, info = jax.jit(obj.reward)(state, make(np.random.default_rng(9), 512), jax.random.key(0))
  assert float(jnp.mean(reward)) > math.log(L + 1) - 0.35, float(jnp.mean(reward))
  assert float(info["dads/logp"]) > float(info["dads/logp_altz"]) + 5


def test_dads_reward_near_zero_for_skill_independent_model():
  obj = _dads(SkillPrior("cont_uniform", 2), 50)
  make = _skill_effect(1.0, 0.1, skill_matters=False)
  state, _ = _train(obj, make, 400)
  reward, _ = jax.jit(obj.reward)(state, make(np.random.default_rng(9), 512), jax.random.key(0))
  assert abs(float(jnp.mean(reward))) < 0.1


@pytest.mark.parametrize("input_positions", [(), (0, 1)])
def test_dads_reward_matches_plain_numpy_formula(input_positions):
  prior = SkillPrior("gaussian", 2)
  obj = _dads(prior, 30, input_positions=input_positions)
  state = obj.init(jax.random.key(1))
  batch = _skill_effect(1.0, 0.5)(np.random.default_rng(2), 64)
  key = jax.random.key(3)
  reward, _ = obj.reward(state, batch, key)
  # Recompute with the model's ordinary forward pass (no split first layer) and NumPy.
  s, s_next = obj.reduce(batch.obs), obj.reduce(batch.next_obs)
  alt = np.asarray(obj.alternative_skills(key))  # [30, 2], shared by the batch
  assert alt.shape == (30, 2)

  def logq(z):
    return np.asarray(obj.dynamics.log_prob(state, s, jnp.asarray(z), s_next))

  logp = logq(batch.skill)
  logp_alt = np.stack([logq(np.broadcast_to(alt[i], (64, 2))) for i in range(30)], 1)
  diff = np.clip(logp_alt - logp[:, None], -50, 50)
  expected = np.log(31) - np.log(1 + np.exp(diff).sum(1))
  np.testing.assert_allclose(reward, expected, atol=2e-4)
  np.testing.assert_allclose(dads_reward_from_logps(jnp.asarray(logp), jnp.asarray(logp_alt)),
                             expected, atol=2e-5)


def test_exact_sum_over_other_discrete_skills():
  prior = SkillPrior("discrete_uniform", 4)
  obj = _dads(prior, random_skills=0)
  state = obj.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  z = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 16)]
  obs = rng.normal(size=(16, 4)).astype(np.float32)
  batch = state_transitions(jnp.asarray(obs), jnp.asarray(z), jnp.asarray(obs + 0.3))
  reward, _ = obj.reward(state, batch, jax.random.key(0))
  s = obj.reduce(batch.obs)
  logps = np.stack([np.asarray(obj.dynamics.log_prob(state, s, jnp.tile(jnp.eye(4)[k], (16, 1)),
                                                     obj.reduce(batch.next_obs)))
                    for k in range(4)], 1)
  own = z.argmax(1)
  expected = []
  for b in range(16):
    others = [k for k in range(4) if k != own[b]]
    expected.append(np.log(4) - np.log(1 + np.exp(logps[b, others] - logps[b, own[b]]).sum()))
  np.testing.assert_allclose(reward, expected, atol=2e-4)
  with pytest.raises(ConfigError, match="discrete"):
    OBJECTIVES["dads"].check(DADSConfig(random_skills=0), SkillConfig(skill_type="cont_uniform"))
  with pytest.raises(ConfigError, match="discrete"):
    RunConfig.build(logdir="/tmp/unused", random_skills=0, skill_type="cont_uniform")
  OBJECTIVES["dads"].check(DADSConfig(random_skills=0), SkillConfig(skill_type="discrete_uniform"))


@pytest.mark.parametrize("kind", ["discrete_uniform", "cont_uniform", "gaussian",
                                  "multivariate_bernoulli"])
def test_diayn_discriminator_learns_separable_skills(kind):
  prior = SkillPrior(kind, 4 if kind == "discrete_uniform" else 2)
  obj = DIAYN(DIAYNConfig(diayn_lr=1e-3), _context(prior))
  centers = np.array([[3, 0], [0, 3], [-3, 0], [0, -3]], np.float32)

  def make(rng, n):
    z = prior.sample(rng, n)
    xy = (z @ centers if kind == "discrete_uniform" else 3 * z) + 0.1 * rng.normal(size=(n, 2))
    obs = np.zeros((n, 3), np.float32)
    nxt = np.concatenate([xy, np.zeros((n, 1))], 1).astype(np.float32)
    return state_transitions(jnp.asarray(obs), jnp.asarray(z), jnp.asarray(nxt))

  untrained = obj.init(jax.random.key(0))
  test_batch = make(np.random.default_rng(7), 512)
  r0, _ = obj.reward(untrained, test_batch, None)
  state, metrics = _train(obj, make, 500)
  r1, _ = obj.reward(state, test_batch, None)
  assert float(jnp.mean(r1)) > float(jnp.mean(r0)) + 0.5
  if kind == "discrete_uniform":
    assert float(metrics["discriminator_accuracy"]) > 0.95
    np.testing.assert_allclose(float(jnp.mean(r1)), math.log(4), atol=0.1)  # log K at best


@pytest.mark.parametrize("kind,random_skills,input_positions", [
    ("cont_uniform", 100, ()), ("cont_uniform", 100, (1,)), ("gaussian", 7, (0, 1)),
    ("discrete_uniform", 0, ()), ("discrete_uniform", 0, (0,))])
def test_fast_reward_equals_straightforward_computation(kind, random_skills, input_positions):
  prior = SkillPrior(kind, 3)
  obj = _dads(prior, random_skills, input_positions=input_positions, fix_variance=False)
  state = obj.init(jax.random.key(4))
  rng = np.random.default_rng(5)
  obs = rng.normal(size=(128, 4)).astype(np.float32)
  batch = state_transitions(jnp.asarray(obs), jnp.asarray(prior.sample(rng, 128)),
                       jnp.asarray(obs + rng.normal(size=(128, 4)).astype(np.float32)))
  fast, _ = jax.jit(obj.reward)(state, batch, jax.random.key(6))
  naive = jax.jit(obj.reward_naive)(state, batch, jax.random.key(6))
  np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
  assert float(jnp.std(fast)) > 1e-3  # not a degenerate constant
