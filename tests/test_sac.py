import jax
import jax.numpy as jnp
import numpy as np

from lib.transition import Transition
from unsupervised_skill_learning.agents.sac import SAC, SACConfig
from unsupervised_skill_learning.training.learner import scan_updates


def _batch(n, b, obs_dim, skill_dim, act_dim, seed=0):
  r = np.random.default_rng(seed)
  f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
  return Transition(obs=f32(r.normal(size=(n, b, obs_dim))),
                    skill=f32(r.uniform(-1, 1, (n, b, skill_dim))),
                    action=f32(r.uniform(-1, 1, (n, b, act_dim))),
                    next_obs=f32(r.normal(size=(n, b, obs_dim))),
                    reward=f32(r.normal(size=(n, b))),
                    terminated=jnp.zeros((n, b), bool), truncated=jnp.zeros((n, b), bool),
                    behaviour_logp=jnp.zeros((n, b), jnp.float32))


def _fused(sac):
  """N SAC updates over batches [N, B, ...] as one jitted call."""
  return jax.jit(lambda state, batches, key: scan_updates(sac.update, state, batches, key))


class Reach1D:
  """x' = clip(x + 0.25 a, -3, 3), reward -|x'|, x0 ~ U(-2, 2), 20 steps. A random policy
  scores about -22 per episode; driving to 0 and staying scores about -5."""

  def __init__(self, seed):
    self.rng = np.random.default_rng(seed)

  def reset(self):
    self.x = self.rng.uniform(-2, 2)
    return np.array([self.x], np.float32)

  def step(self, a):
    self.x = float(np.clip(self.x + 0.25 * a[0], -3, 3))
    return np.array([self.x], np.float32), -abs(self.x)


def _evaluate(policy, episodes=20, seed=123):
  env, total = Reach1D(seed), 0.0
  for _ in range(episodes):
    obs = env.reset()
    for _ in range(20):
      obs, r = env.step(policy(obs))
      total += r
  return total / episodes


def test_sac_learns_a_tiny_control_task():
  # An obs-only task: no skills (skill_dim=0, skill arrays [B, 0]).
  sac = SAC(SACConfig(obs_dim=1, skill_dim=0, action_dim=1, policy_indices=(0,), hidden=(64, 64),
                      lr=1e-3, gamma=0.9, reward_scale=1.0))
  update_many = _fused(sac)
  no_skill = np.zeros((1, 0), np.float32)
  state = sac.init(jax.random.key(0))
  env, rng, key = Reach1D(0), np.random.default_rng(0), jax.random.key(1)
  data = {k: [] for k in ("obs", "action", "reward", "next_obs")}
  random_return = _evaluate(lambda o: rng.uniform(-1, 1, 1))
  for episode in range(60):
    obs = env.reset()
    for _ in range(20):
      key, k = jax.random.split(key)
      action = np.asarray(sac.policy.act(state.actor, obs[None], no_skill, k)[0])[0]
      next_obs, r = env.step(action)
      for name, v in zip(data, (obs, action, r, next_obs)):
        data[name].append(v)
      obs = next_obs
    if episode >= 2:
      arrays = {k: np.asarray(v, np.float32) for k, v in data.items()}
      idx = rng.integers(0, len(arrays["obs"]), (20, 64))
      batch = Transition(obs=arrays["obs"][idx], skill=np.zeros((20, 64, 0), np.float32),
                         action=arrays["action"][idx], next_obs=arrays["next_obs"][idx],
                         reward=arrays["reward"][idx], terminated=np.zeros((20, 64), bool),
                         truncated=np.zeros((20, 64), bool),
                         behaviour_logp=np.zeros((20, 64), np.float32))
      key, k = jax.random.split(key)
      state, metrics = update_many(state, batch, k)
  learned = _evaluate(lambda o: np.asarray(sac.policy.act(state.actor, o[None], no_skill, key,
                                                          deterministic=True)[0])[0])
  assert np.isfinite(float(metrics["critic_loss"]))
  assert random_return < -15, random_return
  assert learned > -9, (learned, random_return)


def test_termination_cuts_bootstrap_but_truncation_does_not():
  sac = SAC(SACConfig(obs_dim=3, skill_dim=2, action_dim=2, policy_indices=(0, 2), hidden=(16,),
                      gamma=0.5, reward_scale=1.0))
  state = sac.init(jax.random.key(0))
  batch = jax.tree.map(lambda x: x[0], _batch(1, 8, 3, 2, 2))
  key = jax.random.key(5)
  alive = batch.replace(reward=jnp.zeros(8))
  dead = alive.replace(terminated=jnp.ones(8, bool))
  truncated = alive.replace(truncated=jnp.ones(8, bool))
  q = sac.critic_net.apply(state.critic, sac.policy.inputs(batch.obs, batch.skill), batch.action)
  # With a zero reward, a terminal transition's target is 0: loss = 0.5 * sum of q^2.
  loss_dead, _ = sac.critic_loss(state.critic, state, dead, key)
  np.testing.assert_allclose(loss_dead, 0.5 * jnp.mean(jnp.sum(q**2, 0)), rtol=1e-5)
  loss_alive, _ = sac.critic_loss(state.critic, state, alive, key)
  assert abs(float(loss_alive) - float(loss_dead)) > 1e-6
  # A time-limit truncation keeps the bootstrap: its loss is the live transition's.
  loss_truncated, _ = sac.critic_loss(state.critic, state, truncated, key)
  np.testing.assert_array_equal(loss_truncated, loss_alive)


def test_log_prob_matches_sampling_and_actions_are_bounded():
  sac = SAC(SACConfig(obs_dim=4, skill_dim=2, action_dim=3, policy_indices=(0, 1, 3),
                      hidden=(32,)))
  state = sac.init(jax.random.key(0))
  r = np.random.default_rng(0)
  obs = jnp.asarray(r.normal(size=(64, 4)), jnp.float32)
  skill = jnp.asarray(r.uniform(-1, 1, (64, 2)), jnp.float32)
  action, logp = sac.policy.sample(state.actor, obs, skill, jax.random.key(1))
  assert float(jnp.max(jnp.abs(action))) <= 1
  # Away from float32 saturation of tanh, re-evaluating a sampled action gives its log-prob.
  inside = np.all(np.abs(np.asarray(action)) < 0.999, -1)
  assert inside.sum() > 10
  np.testing.assert_allclose(np.asarray(sac.policy.log_prob(state.actor, obs, skill,
                                                            action))[inside],
                             np.asarray(logp)[inside], atol=2e-3)


def test_update_compiles_once_and_is_deterministic():
  sac = SAC(SACConfig(obs_dim=5, skill_dim=2, action_dim=2, policy_indices=(0, 1, 2, 3, 4),
                      hidden=(32, 32)))
  update_many = _fused(sac)
  results = []
  for _ in range(2):
    state = sac.init(jax.random.key(3))
    for i in range(3):
      state, _ = update_many(state, _batch(4, 16, 5, 2, 2, seed=i), jax.random.key(i))
    results.append(state)
  assert update_many._cache_size() == 1  # pylint: disable=protected-access
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    np.testing.assert_array_equal(a, b)
  assert int(results[0].steps) == 12
