"""The host backend: transitions chain within episodes, keep their skill, and carry the
behaviour policy's log-probabilities; its state restores exactly; it owns the replay
buffer training samples from, saved in the checkpoint layout of before."""

import json
import pathlib

import jax
import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.backends.host import HostBackend, make_skill_envs, to_env_action
from unsupervised_skill_learning.config import AgentConfig, EnvConfig, RunConfig
from unsupervised_skill_learning.training.trainer import Trainer


def _backend(num_envs, collect_policy="default", max_env_steps=15, seed=0):
  prior = SkillPrior("cont_uniform", 2)
  seeds = np.random.SeedSequence(seed).spawn(num_envs + 1)
  env_list = make_skill_envs(EnvConfig(environment="point_mass", max_env_steps=max_env_steps),
                             prior, [np.random.default_rng(s) for s in seeds[1:]])
  policy = Policy(hidden=(16,), action_dim=2, policy_indices=tuple(range(2, 8)), skill_dim=2)
  params = policy.init(jax.random.key(seed))
  backend = HostBackend(env_list, policy, np.random.default_rng(seeds[0]),
                        AgentConfig(collect_policy=collect_policy))
  return backend, policy, params, env_list


@pytest.mark.parametrize("num_envs", [1, 3])
def test_transitions_chain_within_episodes_and_keep_their_skill(num_envs):
  backend, _, params, _ = _backend(num_envs)
  data = backend.collect(params, 60)
  n = len(data)
  assert n == 60 and data.obs.shape == (60, 8) and data.skill.shape == (60, 2)
  steps = np.abs(data.next_obs[:, :2] - data.obs[:, :2]).max()
  assert steps < 0.06  # point_mass moves at most 0.04 per step: obs and next_obs match
  episodes = 0
  for i in range(num_envs):
    rows = np.arange(i, n, num_envs)  # env i's transitions, in order
    for a, b in zip(rows[:-1], rows[1:]):
      if data.truncated[a] or data.terminated[a]:
        episodes += 1
        assert not np.array_equal(data.skill[a], data.skill[b])  # a new episode
      else:
        np.testing.assert_array_equal(data.next_obs[a], data.obs[b])
        np.testing.assert_array_equal(data.skill[a], data.skill[b])
  assert episodes >= num_envs * (60 // num_envs // 15) - num_envs
  assert backend.episode_stats()["episode_size"] == 15


def test_behaviour_log_probs_are_the_policys_and_actions_are_scaled():
  backend, policy, params, env_list = _backend(2)
  data = backend.collect(params, 10)
  logp = policy.log_prob(params, data.obs, data.skill, data.action)
  np.testing.assert_allclose(data.behaviour_logp, logp, atol=1e-4)
  np.testing.assert_allclose(to_env_action(np.array([-1.0, 1.0]), backend.low, backend.high),
                             [env_list[0].action_space.low[0], env_list[0].action_space.high[1]])
  noisy, policy, params, _ = _backend(2, collect_policy="ou_noise")
  data = noisy.collect(params, 10)
  # Re-evaluated on the noisy actions actually taken.
  np.testing.assert_allclose(data.behaviour_logp,
                             policy.log_prob(params, data.obs, data.skill, data.action), atol=1e-4)
  assert np.all(np.abs(data.action) <= 1.0)


def test_state_restores_exactly():
  a, _, params, _ = _backend(2, collect_policy="ou_noise")
  a.collect(params, 7)
  meta, arrays = a.state()
  first = a.collect(params, 30)
  b, _, _, _ = _backend(2, collect_policy="ou_noise", seed=1)  # other seeds, then restored
  b.restore(meta, arrays)
  second = b.collect(params, 30)
  for name, x in first.as_dict().items():
    np.testing.assert_array_equal(x, getattr(second, name), err_msg=name)


def test_collect_only_backend_refuses_to_train():
  backend, _, params, _ = _backend(1)
  with pytest.raises(RuntimeError, match="only collects"):
    backend.prefill(params, 10, lambda: jax.random.key(0))


def test_training_backend_owns_its_buffer_and_checkpoint_layout_is_unchanged(tmp_path):
  """The trainer knows only the EnvBackend protocol, and a host checkpoint keeps the
  layout written before the backend owned its buffer (meta.json keys, buffer.npz), so
  older checkpoints resume; an epoch after a restore equals the epoch it replays."""
  cfg = RunConfig.build(logdir=str(tmp_path), environment="point_mass", max_env_steps=20,
                        reduced_observation=2, num_skills=2, hidden_layer_size=16,
                        num_components=2, replay_buffer_capacity=200, initial_collect_steps=20,
                        collect_steps=20, skill_dyn_train_steps=2, skill_dyn_batch_size=8,
                        agent_train_steps=2, agent_batch_size=8, num_evals=0)
  trainer = Trainer(cfg)
  trainer.collect(cfg.train.initial_collect_steps)
  assert len(trainer.backend.buffer) == 20 and trainer.counters.env_steps == 20
  trainer.epoch()
  path = trainer.save()
  meta = json.loads((pathlib.Path(path) / "meta.json").read_text())
  assert set(meta) == {"epoch", "env_steps", "buffer_rng", "key", "collector", "config",
                       "format_version"}
  assert set(meta["collector"]) == {"rng", "envs", "stats"}
  assert (pathlib.Path(path) / "buffer.npz").exists()
  after = trainer.epoch()
  resumed = Trainer(cfg)
  resumed.restore(path)
  assert len(resumed.backend.buffer) == 40
  again = resumed.epoch()
  for name, value in after.items():
    if not name.startswith("perf/"):
      assert again[name] == value, name
