import numpy as np
import pytest

import envs
from lib.skill_prior import SkillPrior


def _env(name="point_mass", kind="cont_uniform", dim=2, **kw):
  kw.setdefault("max_env_steps", 50)
  return envs.make_skill_env(name, SkillPrior(kind, dim), np.random.default_rng(0), **kw)


def test_skill_beside_the_observation_kept_through_the_episode():
  env = _env()
  obs, _ = env.reset()
  assert obs["observation"].shape == (8,) and obs["skill"].shape == (2,)
  assert env.observation_space["observation"].shape == (8,)
  assert env.observation_space["skill"].shape == (2,)
  assert env.observation_space.contains(obs)
  skill = obs["skill"].copy()
  assert np.all(np.abs(skill) <= 1)
  for _ in range(20):
    obs, *_ = env.step(np.zeros(2))
    np.testing.assert_array_equal(obs["skill"], skill)
    np.testing.assert_array_equal(obs["observation"], env.unwrapped._get_obs().astype(np.float32))


def test_one_hot_skills():
  env = _env(kind="discrete_uniform", dim=5)
  seen = set()
  for _ in range(40):
    z = env.reset()[0]["skill"]
    assert z.sum() == 1 and set(np.unique(z)) == {0.0, 1.0}
    seen.add(int(z.argmax()))
  assert seen == set(range(5))


def test_truncation_at_max_env_steps_not_termination():
  env = _env(max_env_steps=7)
  env.reset()
  for t in range(1, 8):
    _, _, terminated, truncated, _ = env.step(np.zeros(2))
    assert not terminated
    assert truncated == (t == 7)


def test_resampling_frequency_matches_probability():
  p = 0.2
  env = _env(max_env_steps=100_000, min_steps_before_resample=5, resample_prob=p)
  obs, _ = env.reset()
  changes, steps, eligible = 0, 4000, 0
  since = 0
  z = obs["skill"]
  for _ in range(steps):
    obs, *_ = env.step(np.zeros(2))
    since += 1
    if since >= 5:
      eligible += 1
    if not np.array_equal(obs["skill"], z):
      changes += 1
      assert since >= 5  # never before min_steps_before_resample
      since = 0
      z = obs["skill"]
  # Eligible steps each redraw with probability p (binomial std ~ sqrt(n p (1-p))).
  assert abs(changes / eligible - p) < 0.03


def test_no_resampling_when_min_steps_exceeds_episode():
  env = _env(max_env_steps=200, min_steps_before_resample=2000, resample_prob=1.0)
  z = env.reset()[0]["skill"]
  for _ in range(199):
    np.testing.assert_array_equal(env.step(np.zeros(2))[0]["skill"], z)


def test_preset_skill_and_validation():
  env = _env()
  env.set_preset_skill(np.array([0.5, -0.5]))
  for _ in range(3):
    np.testing.assert_array_equal(env.reset()[0]["skill"], [0.5, -0.5])
  with pytest.raises(ValueError, match="shape"):
    env.set_preset_skill(np.zeros(3))
  with pytest.raises(ValueError, match="max_env_steps"):
    _env(max_env_steps=0)


@pytest.mark.parametrize("name", ["Ant-v1", "point_mass"])
def test_state_round_trip_continues_identically(name):
  env = _env(name, max_env_steps=1000, min_steps_before_resample=3, resample_prob=0.3)
  env.reset()
  actions = np.random.default_rng(1).uniform(-1, 1, (40, env.action_space.shape[0]))
  for a in actions[:10]:
    env.step(a)
  state = env.get_state()
  first = [_flat(env.step(a)[0]) for a in actions[10:]]
  other = _env(name, max_env_steps=1000, min_steps_before_resample=3, resample_prob=0.3)
  other.reset()
  other.set_state(state)
  second = [_flat(other.step(a)[0]) for a in actions[10:]]
  np.testing.assert_array_equal(np.asarray(first), np.asarray(second))


def _flat(obs):
  return np.concatenate([obs["observation"], obs["skill"]])
