"""The policy is one function: `Policy.act` (JAX) and `HostPolicy.act` (its NumPy fast path)
compute it identically, and it reads only the observation's policy coordinates and the skill."""

import types

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.distributions import POLICY_LOG_STD_RANGE, tanh_gaussian_log_prob
from unsupervised_skill_learning.agents.policy import HostPolicy, Policy
from unsupervised_skill_learning.evaluation.skills import PolicyFn

OBS_DIM, SKILL_DIM, ACTION_DIM = 6, 2, 3
POLICY_INDICES = (2, 3, 5)  # coordinates 0, 1 and 4 are hidden from the policy
HIDDEN_INDICES = tuple(i for i in range(OBS_DIM) if i not in POLICY_INDICES)


def _policy(seed=0):
  policy = Policy(hidden=(32, 32), action_dim=ACTION_DIM, policy_indices=POLICY_INDICES,
                  skill_dim=SKILL_DIM)
  return policy, policy.init(jax.random.key(seed))


def _inputs(n=64, seed=0):
  rng = np.random.default_rng(seed)
  obs = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
  skill = rng.uniform(-1, 1, (n, SKILL_DIM)).astype(np.float32)
  return obs, skill


def test_host_policy_is_built_from_the_policy():
  policy, params = _policy()
  host = policy.host(params)
  assert isinstance(host, HostPolicy)
  obs, skill = _inputs()
  mean, log_std = policy.dist(params, obs, skill)
  host_mean, host_log_std = host.dist(obs, skill)
  np.testing.assert_allclose(host_mean, mean, atol=1e-5)
  np.testing.assert_allclose(host_log_std, log_std, atol=1e-5)


@pytest.mark.parametrize("clip", [1.0, 0.5])
def test_host_act_equals_jax_act_for_the_same_noise(clip):
  policy, params = _policy()
  host = HostPolicy(policy, params)
  obs, skill = _inputs()
  for seed in range(3):
    key = jax.random.key(seed)
    # The standard normal the JAX path draws from `key`.
    mean, _ = policy.dist(params, obs, skill)
    noise = np.asarray(jax.random.normal(key, mean.shape))
    action, logp = policy.act(params, obs, skill, key, clip)
    host_action, host_logp = host.act(obs, skill, noise, clip)
    assert host_action.dtype == np.float32 and host_logp.dtype == np.float32
    assert host_action.shape == (64, ACTION_DIM) and host_logp.shape == (64,)
    np.testing.assert_allclose(host_action, action, atol=1e-5)
    # The actions agree to float32 rounding (an ulp or two). Near +-1, arctanh turns that
    # ulp into a log-prob difference of order ulp / (1 - a^2) (1.7e-4 at a = 0.9996), so
    # the log-probs are compared to 1e-5 where tanh is well-conditioned (|a| <= 0.98,
    # every row when clip = 0.5), and on every row through the same action below.
    conditioned = np.all(np.abs(host_action) <= 0.98, -1)
    assert conditioned.mean() > 0.5 and (clip < 1.0 or not conditioned.all())
    np.testing.assert_allclose(host_logp[conditioned], np.asarray(logp)[conditioned], atol=1e-5)
    np.testing.assert_allclose(host_logp, policy.log_prob(params, obs, skill, host_action),
                               atol=1e-5)
    assert np.all(np.abs(host_action) <= clip) and np.all(np.abs(np.asarray(action)) <= clip)
    if clip < 1.0:  # the clip binds on some actions, and not on all
      assert np.any(np.abs(host_action) == clip) and np.any(np.abs(host_action) < clip)


@pytest.mark.parametrize("clip", [1.0, 0.5])
def test_deterministic_host_act_equals_jax_act(clip):
  policy, params = _policy()
  host = HostPolicy(policy, params)
  obs, skill = _inputs()
  action, logp = policy.act(params, obs, skill, jax.random.key(0), clip, deterministic=True)
  host_action, host_logp = host.act(obs, skill, None, clip)
  np.testing.assert_allclose(host_action, action, atol=1e-5)
  np.testing.assert_allclose(host_logp, logp, atol=1e-5)
  mean, _ = policy.dist(params, obs, skill)
  np.testing.assert_allclose(action, np.clip(np.tanh(np.asarray(mean)), -clip, clip), atol=1e-6)
  # The deterministic action does not depend on the key.
  again, _ = policy.act(params, obs, skill, jax.random.key(7), clip, deterministic=True)
  np.testing.assert_array_equal(again, action)


@pytest.mark.parametrize("clip", [1.0, 0.9, 0.5])
def test_act_returns_the_log_prob_of_the_returned_action(clip):
  policy, params = _policy()
  host = HostPolicy(policy, params)
  obs, skill = _inputs()
  action, logp = policy.act(params, obs, skill, jax.random.key(1), clip)
  np.testing.assert_allclose(logp, policy.log_prob(params, obs, skill, action), atol=1e-5)
  host_action, host_logp = host.sample(obs, skill, np.random.default_rng(1), clip)
  assert np.all(np.abs(host_action) <= clip)
  np.testing.assert_allclose(host_logp, policy.log_prob(params, obs, skill, host_action),
                             atol=1e-5)
  if clip < 1.0:
    # The clipped action's log-prob, not the unclipped sample's.
    assert np.any(np.abs(host_action) == clip)
    mean, log_std = policy.dist(params, obs, skill)
    np.testing.assert_allclose(host_logp, tanh_gaussian_log_prob(host_action, mean, log_std),
                               atol=1e-5)


def test_host_sample_is_act_with_the_generators_noise():
  policy, params = _policy()
  host = HostPolicy(policy, params)
  obs, skill = _inputs()
  action, logp = host.sample(obs, skill, np.random.default_rng(3), 0.9)
  noise = np.random.default_rng(3).standard_normal((64, ACTION_DIM))
  expected_action, expected_logp = host.act(obs, skill, noise, 0.9)
  np.testing.assert_array_equal(action, expected_action)
  np.testing.assert_array_equal(logp, expected_logp)
  again, _ = host.sample(obs, skill, np.random.default_rng(3), 0.9)
  np.testing.assert_array_equal(action, again)  # reproducible from the generator
  other, _ = host.sample(obs, skill, np.random.default_rng(4), 0.9)
  assert not np.allclose(action, other)


def test_the_policy_never_sees_the_hidden_coordinates():
  policy, params = _policy()
  host = HostPolicy(policy, params)
  obs, skill = _inputs()
  moved = obs.copy()
  moved[:, HIDDEN_INDICES] += np.random.default_rng(9).normal(size=(64, len(HIDDEN_INDICES))) * 10
  key = jax.random.key(0)
  noise = np.random.default_rng(0).standard_normal((64, ACTION_DIM))
  for deterministic in (False, True):
    a, la = policy.act(params, obs, skill, key, deterministic=deterministic)
    b, lb = policy.act(params, moved, skill, key, deterministic=deterministic)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    host_noise = None if deterministic else noise
    np.testing.assert_array_equal(host.act(obs, skill, host_noise)[0],
                                  host.act(moved, skill, host_noise)[0])
  np.testing.assert_array_equal(policy.inputs(obs, skill), policy.inputs(moved, skill))
  # ... but it does see its own coordinates and the skill.
  for changed_obs, changed_skill in ((obs, -skill), (obs + 1.0, skill)):
    for deterministic in (False, True):
      a, _ = policy.act(params, obs, skill, key, deterministic=deterministic)
      b, _ = policy.act(params, changed_obs, changed_skill, key, deterministic=deterministic)
      assert np.all(np.any(np.asarray(a) != np.asarray(b), -1))
    assert np.all(np.any(host.act(obs, skill, None)[0]
                         != host.act(changed_obs, changed_skill, None)[0], -1))
  # The network's input is exactly the policy coordinates, then the skill.
  np.testing.assert_array_equal(policy.inputs(obs, skill),
                                np.concatenate([obs[:, list(POLICY_INDICES)], skill], 1))


def test_tanh_gaussian_log_prob_numpy_equals_jax():
  rng = np.random.default_rng(0)
  mean = rng.normal(size=(256, 3)).astype(np.float32)
  log_std = rng.uniform(*POLICY_LOG_STD_RANGE, (256, 3)).clip(-3, 1).astype(np.float32)
  u = mean + np.exp(log_std) * rng.normal(size=(256, 3)).astype(np.float32)
  action = np.tanh(u).astype(np.float32)
  action[:8] = np.sign(action[:8])  # stored actions exactly at the bounds stay finite
  got_np = tanh_gaussian_log_prob(action, mean, log_std)
  got_jax = tanh_gaussian_log_prob(jnp.asarray(action), jnp.asarray(mean), jnp.asarray(log_std))
  assert isinstance(got_np, np.ndarray) and isinstance(got_jax, jax.Array)
  assert got_np.shape == got_jax.shape == (256,)
  assert np.all(np.isfinite(got_np)) and np.all(np.isfinite(np.asarray(got_jax)))
  np.testing.assert_allclose(got_np, got_jax, rtol=1e-5, atol=1e-5)
  # Against an independent float64 evaluation of log N(u) - log |d tanh(u)/du|, away from
  # the saturated rows.
  u64 = np.arctanh(action[8:].astype(np.float64))
  m64, s64 = mean[8:].astype(np.float64), log_std[8:].astype(np.float64)
  expected = np.sum(-0.5 * ((u64 - m64) / np.exp(s64)) ** 2 - s64 - 0.5 * np.log(2 * np.pi)
                    - np.log(1 - np.tanh(u64) ** 2), -1)
  near_bound = np.any(np.abs(action[8:]) > 0.999, -1)
  np.testing.assert_allclose(got_np[8:][~near_bound], expected[~near_bound], rtol=1e-3,
                             atol=1e-3)


def test_policy_fns_over_one_policy_compile_once_and_act_with_the_step_key():
  # An evaluation makes a PolicyFn per episode; each must not compile the policy again.
  policy, params = _policy()
  env = types.SimpleNamespace(action_space=gym.spaces.Box(-2.0, 2.0, (ACTION_DIM,), np.float32))
  obs, skill = _inputs(n=3)
  for episode in range(3):
    fn = PolicyFn(policy, params, env, clip=0.9, deterministic=False, seed=episode)
    actions = [fn(o, s) for o, s in zip(obs, skill)]
    for t, (o, s, a) in enumerate(zip(obs, skill, actions)):
      key = jax.random.fold_in(jax.random.key(episode), t)
      expected, _ = policy.act(params, o[None], s[None], key, 0.9)
      # The same computation compiled alone or inside act_step: equal up to fusion.
      np.testing.assert_allclose(a, 2.0 * np.asarray(expected[0]), rtol=1e-5, atol=1e-6)
  assert policy.act_step._cache_size() == 1  # pylint: disable=protected-access
