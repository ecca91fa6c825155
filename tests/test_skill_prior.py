import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lib.skill_prior import PRIOR_KINDS, SkillPrior, sphere_log_area


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
    elif kind == "cont_sphere":
      np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-6)
      np.testing.assert_allclose(z.mean(0), 0, atol=0.03)
    else:
      assert set(np.unique(z)) <= {0.0, 1.0}
      np.testing.assert_allclose(z.mean(0), 0.5, atol=0.03)


def test_log_prob_values():
  z = np.zeros((4, 2), np.float32)
  np.testing.assert_allclose(SkillPrior("cont_uniform", 2).log_prob(z), -2 * np.log(2), rtol=1e-6)
  np.testing.assert_allclose(SkillPrior("discrete_uniform", 4).log_prob(np.eye(4)), -np.log(4),
                             rtol=1e-6)
  np.testing.assert_allclose(SkillPrior("gaussian", 2).log_prob(z), -np.log(2 * np.pi), rtol=1e-6)


def test_sphere_log_prob_is_minus_log_surface_area():
  # Closed forms: S^0 = {-1, 1} (2 points), the circle 2 pi, S^2 4 pi, S^3 2 pi^2.
  for dim, area in ((1, 2.0), (2, 2 * np.pi), (3, 4 * np.pi), (4, 2 * np.pi**2)):
    assert sphere_log_area(dim) == pytest.approx(math.log(area), rel=1e-12)
    z = SkillPrior("cont_sphere", dim).sample(np.random.default_rng(0), 4)
    np.testing.assert_allclose(SkillPrior("cont_sphere", dim).log_prob(z), -np.log(area),
                               rtol=1e-6)


def _angle_pvalue(z: np.ndarray) -> float:
  """Chi-square p-value of the angles of 2-D vectors z [N, 2] in 32 equal sectors against
  equal counts (sectors catch periodic bias that a KS test on the angle averages out)."""
  angles = np.arctan2(z[:, 1], z[:, 0])
  return stats.chisquare(np.histogram(angles, bins=32, range=(-np.pi, np.pi))[0]).pvalue


def test_sphere_directions_are_uniform_and_a_biased_sampler_fails_the_same_test():
  n = 4000
  sphere = SkillPrior("cont_sphere", 2)
  host = sphere.sample(np.random.default_rng(3), n)
  device = np.asarray(sphere.sample_jax(jax.random.key(3), (n,)))
  for z in (host, device):
    assert _angle_pvalue(z) > 0.01
  # The square's points, normalised: directions crowd toward the diagonals (the corners
  # hold more area), which the same test must catch (its p-value is ~1e-22 here).
  square = SkillPrior("cont_uniform", 2).sample(np.random.default_rng(3), n)
  assert _angle_pvalue(square / np.linalg.norm(square, axis=-1, keepdims=True)) < 1e-6
  # On S^2 each coordinate of a uniform direction is uniform on [-1, 1] (Archimedes).
  z3 = SkillPrior("cont_sphere", 3).sample(np.random.default_rng(4), n)
  for k in range(3):
    assert stats.kstest(z3[:, k], stats.uniform(loc=-1, scale=2).cdf).pvalue > 0.01


@pytest.mark.parametrize("kind", PRIOR_KINDS)
def test_project_maps_into_the_support_and_keeps_its_points(kind):
  prior = SkillPrior(kind, 3)
  inside = jnp.asarray(prior.sample(np.random.default_rng(0), 50))
  np.testing.assert_allclose(prior.project(inside), inside, atol=1e-6)
  anywhere = 3.0 * jax.random.normal(jax.random.key(1), (50, 3))
  projected = np.asarray(prior.project(anywhere))
  if kind == "cont_sphere":
    np.testing.assert_allclose(np.linalg.norm(projected, axis=-1), 1.0, atol=1e-6)
    # The nearest point of the sphere: the same direction.
    np.testing.assert_allclose(projected * np.linalg.norm(anywhere, axis=-1, keepdims=True),
                               anywhere, atol=1e-5)
    np.testing.assert_array_equal(prior.project(jnp.zeros(3)), [1.0, 0.0, 0.0])
  elif kind == "cont_uniform":
    assert projected.min() >= -1 and projected.max() <= 1
  elif kind == "discrete_uniform":
    np.testing.assert_array_equal(projected.sum(-1), 1.0)
    np.testing.assert_array_equal(projected.argmax(-1), np.asarray(anywhere).argmax(-1))
  elif kind == "multivariate_bernoulli":
    assert set(np.unique(projected)) <= {0.0, 1.0}
  else:
    np.testing.assert_array_equal(projected, anywhere)


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


def test_test_policy_takes_a_sphere_skill_as_a_direction():
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning import test_policy as tp
  sphere = SkillPrior("cont_sphere", 2)
  plan = tp.plan_episodes(sphere, 2, "3,4", -1, np.random.default_rng(0))
  np.testing.assert_allclose(plan.skills, [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
  with pytest.raises(tp.UsageError, match="--skill=0,0: .*non-zero"):
    tp.plan_episodes(sphere, 1, "0,0", -1, np.random.default_rng(0))
  # Other priors take --skill as given.
  plan = tp.plan_episodes(SkillPrior("cont_uniform", 2), 1, "3,4", -1, np.random.default_rng(0))
  np.testing.assert_array_equal(plan.skills, [[3.0, 4.0]])


def test_dads_on_the_sphere_trains_and_evaluates(tmp_path):
  """configs/tiny.txt with --skill_type=cont_sphere: training, then --run_eval=1 (MPC on
  the circle, evenly spaced heading directions, a goal video). (test_policy on a sphere
  run: tests/test_metra.py.)"""
  # pylint: disable=import-outside-toplevel
  import json

  from testkit import TINY, run_module
  out = run_module("dads_off", f"--flagfile={TINY}", f"--logdir={tmp_path}",
                   "--skill_type=cont_sphere", "--num_epochs=2", "--num_evals=1", "--run_eval=1",
                   "--num_candidate_sequences=8", "--refine_steps=2", "--primitive_horizon=5",
                   "--goals=0.5,0.5")
  assert out.returncode == 0, out.stderr[-3000:]
  run_dir = tmp_path / "point_mass"
  summary = json.loads((run_dir / "eval" / "eval_summary.json").read_text())
  goals = summary["goal_reaching"]
  assert goals["controller"] == "mpc"
  chosen = np.asarray(goals["planned"]["per_goal"][0]["skills"])
  np.testing.assert_allclose(np.linalg.norm(chosen, axis=1), 1.0, atol=1e-5)
  headings = summary["skills"]["headings"]
  assert headings["predicted"]["num_skills"] == 41 * 41 and headings["actual"]["num_skills"] == 49
  assert (run_dir / "eval" / "mpc_eval" / "goal_0.mp4").exists()
  assert (run_dir / "eval" / "skills" / "skill_0.mp4").exists()
