import jax
import numpy as np
import pytest

from lib.skill_prior import PRIOR_KINDS, SkillPrior


@pytest.mark.parametrize("kind", PRIOR_KINDS)
def test_shapes_and_support_host_and_device(kind):
  prior = SkillPrior(kind, 3)
  rng = np.random.default_rng(0)
  one = prior.sample(rng)
  many = prior.sample(rng, 5000)
  dev = np.asarray(prior.sample_jax(jax.random.key(0), (50, 100)))
  assert one.shape == (3,) and one.dtype == np.float32
  assert many.shape == (5000, 3) and dev.shape == (50, 100, 3)
  for z in (many, dev.reshape(-1, 3)):
    if kind == "discrete_uniform":
      assert set(np.unique(z)) <= {0.0, 1.0}
      np.testing.assert_array_equal(z.sum(-1), 1.0)
      freq = z.mean(0)
      np.testing.assert_allclose(freq, 1 / 3, atol=0.03)
    elif kind == "cont_uniform":
      assert z.min() >= -1 and z.max() <= 1
      np.testing.assert_allclose(z.mean(0), 0, atol=0.05)
      np.testing.assert_allclose(z.var(0), 1 / 3, atol=0.03)
    elif kind == "gaussian":
      np.testing.assert_allclose(z.mean(0), 0, atol=0.06)
      np.testing.assert_allclose(z.std(0), 1, atol=0.05)
    else:
      assert set(np.unique(z)) <= {0.0, 1.0}
      np.testing.assert_allclose(z.mean(0), 0.5, atol=0.03)


def test_log_prob_values():
  z = np.zeros((4, 2), np.float32)
  np.testing.assert_allclose(SkillPrior("cont_uniform", 2).log_prob(z), -2 * np.log(2), rtol=1e-6)
  np.testing.assert_allclose(SkillPrior("discrete_uniform", 4).log_prob(np.eye(4)), -np.log(4),
                             rtol=1e-6)
  np.testing.assert_allclose(SkillPrior("gaussian", 2).log_prob(z), -np.log(2 * np.pi), rtol=1e-6)


def test_same_generator_state_same_skills():
  prior = SkillPrior("cont_uniform", 2)
  a = prior.sample(np.random.default_rng(7), 10)
  b = prior.sample(np.random.default_rng(7), 10)
  np.testing.assert_array_equal(a, b)


def test_bad_prior_names_the_flag():
  with pytest.raises(ValueError, match="skill_type"):
    SkillPrior("beta", 2)
  with pytest.raises(ValueError, match="num_skills"):
    SkillPrior("gaussian", 0)
