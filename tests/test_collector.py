import numpy as np
import pytest

import envs
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.collector import Collector


def _collector(num_envs, collect_policy="default", max_env_steps=15):
  prior = SkillPrior("cont_uniform", 2)
  seeds = np.random.SeedSequence(0).spawn(num_envs + 1)
  env_list = [envs.make_skill_env("point_mass", prior, np.random.default_rng(s),
                                  max_env_steps=max_env_steps) for s in seeds[1:]]
  rng = np.random.default_rng(seeds[0])

  def host_policy(actor):
    del actor

    def policy(obs, skill, rng, clip=1.0):
      del rng
      action = np.clip(np.concatenate([skill[:, :1], skill[:, 1:]], 1), -clip, clip)
      return action.astype(np.float32), np.full(len(obs), -1.5, np.float32)

    return policy

  def log_prob(actor, obs, skill, action):
    del actor, skill, action
    return np.full(len(obs), -2.5, np.float32)

  return Collector(env_list, host_policy, log_prob, rng, collect_policy=collect_policy), env_list


@pytest.mark.parametrize("num_envs", [1, 3])
def test_transitions_chain_within_episodes_and_keep_their_skill(num_envs):
  collector, _ = _collector(num_envs)
  data = collector.collect(None, 60)
  n = len(data["obs"])
  assert n == 60
  steps = np.abs(data["next_obs"][:, :2] - data["obs"][:, :2]).max()
  assert steps < 0.06  # point_mass moves at most 0.04 per step: obs and next_obs match
  episodes = 0
  for i in range(num_envs):
    rows = np.arange(i, n, num_envs)  # env i's transitions, in order
    for a, b in zip(rows[:-1], rows[1:]):
      if data["truncated"][a] or data["terminated"][a]:
        episodes += 1
        assert not np.array_equal(data["skill"][a], data["skill"][b])  # a new episode
      else:
        np.testing.assert_array_equal(data["next_obs"][a], data["obs"][b])
        np.testing.assert_array_equal(data["skill"][a], data["skill"][b])
  assert episodes >= num_envs * (60 // num_envs // 15) - num_envs
  assert collector.stats.drain()["episode_size"] == 15


def test_behaviour_log_probs_and_action_scaling():
  collector, env_list = _collector(2)
  data = collector.collect(None, 10)
  np.testing.assert_array_equal(data["behaviour_logp"], -1.5)
  np.testing.assert_allclose(collector.to_env_action(np.array([-1.0, 1.0])),
                             [env_list[0].action_space.low[0], env_list[0].action_space.high[1]])
  noisy, _ = _collector(2, collect_policy="ou_noise")
  data = noisy.collect(None, 10)
  np.testing.assert_array_equal(data["behaviour_logp"], -2.5)  # re-evaluated on noisy actions
  assert np.all(np.abs(data["action"]) <= 1.0)
