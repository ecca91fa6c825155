import jax
import jax.numpy as jnp
import numpy as np

from lib.replay_buffer import ReplayBuffer
from lib.skill_prior import SkillPrior
from lib.transition import FIELDS, Transition
from unsupervised_skill_learning.agents.sac import SAC, SACConfig
from unsupervised_skill_learning.config import OffPolicyConfig
from unsupervised_skill_learning.objectives import ObjectiveContext
from unsupervised_skill_learning.objectives.dads import DADS, DADSConfig
from unsupervised_skill_learning.training import off_policy
from unsupervised_skill_learning.training.learner import INTRINSIC_REWARD, Learner


def test_importance_weights_one_when_policy_unchanged_and_clipped():
  rng = np.random.default_rng(0)
  logp = jnp.asarray(rng.normal(size=100) * 3)
  np.testing.assert_array_equal(off_policy.importance_weights(logp, logp, 10.0), 1.0)
  other = jnp.asarray(rng.normal(size=100) * 5)
  w = np.asarray(off_policy.importance_weights(logp, other, 10.0))
  assert w.min() >= 0.1 - 1e-6 and w.max() <= 10.0 + 1e-5
  assert (w < 0.11).any() and (w > 9.9).any()
  inside = np.abs(np.asarray(logp - other)) < np.log(10) - 1e-3
  np.testing.assert_allclose(w[inside], np.exp(np.asarray(logp - other))[inside], rtol=1e-5)
  np.testing.assert_array_equal(off_policy.importance_weights(logp, other, 1.0), 1.0)  # off
  normalized = off_policy.importance_weights(logp, other, 10.0, normalize=True)
  np.testing.assert_allclose(jnp.mean(normalized), 1.0, rtol=1e-5)


def _learner(relabel, num_samples=8, eps=10.0):
  prior = SkillPrior("cont_uniform", 2)
  # The agent sees observation indices 2, 3 (the x-y coordinates 0, 1 are hidden from it).
  sac = SAC(SACConfig(obs_dim=4, skill_dim=2, action_dim=2, policy_indices=(2, 3),
                      hidden=(32,)))
  dads = DADS(DADSConfig(skill_dynamics_lr=1e-3, normalize_data=False, fix_variance=False,
                         random_skills=10),
              ObjectiveContext(prior=prior, reduced_indices=(0, 1), dynamics_input_positions=(),
                               hidden=(64, 64)))
  cfg = OffPolicyConfig(is_clip_eps=eps, skill_dynamics_relabel_type=relabel,
                        agent_relabel_type="none", num_samples_for_relabelling=num_samples)
  return Learner(cfg, sac, dads, prior), prior


def _batches(rng, n, b, actor=None, learner=None):
  z = rng.uniform(-1, 1, (n, b, 2)).astype(np.float32)
  obs = rng.normal(size=(n, b, 4)).astype(np.float32)
  nxt = obs.copy()
  nxt[..., :2] += 5 * z + 0.01 * rng.normal(size=(n, b, 2))
  act = rng.uniform(-0.9, 0.9, (n, b, 2)).astype(np.float32)
  logp = np.zeros((n, b), np.float32)
  if actor is not None:
    logp = np.asarray(learner.policy.log_prob(actor, obs, z, act))
  return Transition(obs=obs, skill=z, action=act, next_obs=nxt,
                    reward=np.zeros((n, b), np.float32), terminated=np.zeros((n, b), bool),
                    truncated=np.zeros((n, b), bool), behaviour_logp=logp)


def test_learner_is_weights_one_for_on_policy_data():
  learner, _ = _learner("importance_sampling")
  state = learner.init(jax.random.key(0))
  batches = _batches(np.random.default_rng(0), 2, 32, state.agent.actor, learner)
  _, metrics = learner.objective_epoch(state, batches, jax.random.key(1))
  np.testing.assert_allclose(metrics["is_weight_mean"], 1.0, atol=1e-5)


def test_dynamics_posterior_relabelling_picks_generating_skill():
  learner, _ = _learner("dynamics_posterior")
  state = learner.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  for i in range(6):  # fit the skill dynamics on correctly labelled data
    state, _ = learner.objective_epoch(state, _batches(rng, 100, 256), jax.random.key(i))
  batch = jax.tree.map(lambda x: x[0], _batches(rng, 1, 64))
  truth = batch.skill.copy()
  # Store a wrong skill; offer the true one among the candidates at a random position.
  batch = batch.replace(skill=rng.uniform(-1, 1, (64, 2)).astype(np.float32))
  candidates = np.array(off_policy.relabel_candidates(learner.prior, jnp.asarray(batch.skill),
                                                        8, jax.random.key(0)))
  slot = rng.integers(1, 8, 64)
  candidates[np.arange(64), slot] = truth
  scores = learner.objective.skill_log_likelihood(state.objective, batch, jnp.asarray(candidates))
  picked = np.asarray(off_policy.pick_best(jnp.asarray(candidates), scores))
  np.testing.assert_allclose(picked, truth)
  # Through the learner's own relabelling, the picks explain the data better than the
  # stored wrong skills (they are the best of 8 random candidates).
  relabelled = np.asarray(learner.relabel("dynamics_posterior", state, batch, jax.random.key(3)))
  err_new = np.linalg.norm(batch.next_obs[:, :2] - batch.obs[:, :2] - 5 * relabelled, axis=1)
  err_old = np.linalg.norm(batch.next_obs[:, :2] - batch.obs[:, :2] - 5 * batch.skill, axis=1)
  assert np.mean(err_new) < 0.6 * np.mean(err_old)


def test_policy_relabelling_picks_the_skill_the_policy_acts_on():
  learner, prior = _learner("policy")
  state = learner.init(jax.random.key(0))
  # A sharp policy (std e^-3) whose mean depends on the skill, as after training.
  params = jax.tree.map(np.array, state.agent.actor)
  head = params["params"][sorted(params["params"])[-1]]
  head["kernel"][:, :2] *= 3.0
  head["kernel"][:, 2:] = 0.0
  head["bias"][2:] = -3.0
  state = state.replace(agent=state.agent.replace(actor=params))
  rng = np.random.default_rng(1)
  obs = rng.normal(size=(32, 4)).astype(np.float32)
  truth = prior.sample(rng, 32)
  # The deterministic action of the policy for the true skill is most likely under it.
  action, _ = learner.policy.act(state.agent.actor, obs, truth, jax.random.key(0),
                                 deterministic=True)
  stored_skill = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
  action = np.asarray(action)
  candidates = np.array(off_policy.relabel_candidates(prior, jnp.asarray(stored_skill), 6,
                                                        jax.random.key(2)))
  candidates[:, 3] = truth
  c = candidates.shape[1]
  scores = learner.policy.log_prob(state.agent.actor, np.repeat(obs[:, None], c, 1),
                                   candidates, np.repeat(action[:, None], c, 1))
  assert np.mean(np.asarray(jnp.argmax(scores, 1)) == 3) > 0.9


def test_learner_epochs_compile_once_and_are_deterministic():
  results = []
  for _ in range(2):
    learner, _ = _learner("importance_sampling")
    state = learner.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    for i in range(3):
      state, _ = learner.objective_epoch(state, _batches(rng, 2, 16), jax.random.key(i))
      state, m = learner.agent_epoch(state, _batches(rng, 3, 16), jax.random.key(i))
    assert learner.objective_epoch._cache_size() == 1  # pylint: disable=protected-access
    assert learner.agent_epoch._cache_size() == 1  # pylint: disable=protected-access
    results.append(state)
  assert np.isfinite(float(m[INTRINSIC_REWARD]))
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    np.testing.assert_array_equal(a, b)


def test_replay_buffer_wraps_samples_and_round_trips_exactly(tmp_path):
  buf = ReplayBuffer(10, obs_dim=3, skill_dim=2, action_dim=1)
  rng = np.random.default_rng(0)
  for start in (0, 6):
    n = 6
    buf.add_batch(Transition(obs=rng.normal(size=(n, 3)), skill=rng.normal(size=(n, 2)),
                             action=rng.normal(size=(n, 1)), next_obs=rng.normal(size=(n, 3)),
                             reward=np.arange(start, start + n), terminated=np.zeros(n, bool),
                             truncated=np.arange(n) == n - 1,
                             behaviour_logp=rng.normal(size=n)))
  assert len(buf) == 10 and buf.next_index == 2
  np.testing.assert_array_equal(buf.all().reward, np.arange(2, 12))  # oldest first
  batch = buf.sample(np.random.default_rng(1), 4, num_batches=3)
  assert isinstance(batch, Transition)
  assert batch.obs.shape == (3, 4, 3) and batch.terminated.dtype == bool
  path = str(tmp_path / "buffer.npz")
  buf.save(path)
  other = ReplayBuffer(10, 3, 2, 1)
  other.load(path)
  for k in buf.data:
    np.testing.assert_array_equal(buf.data[k], other.data[k])
  assert (other.size, other.next_index) == (buf.size, buf.next_index)
  a = buf.sample(np.random.default_rng(5), 8)
  b = other.sample(np.random.default_rng(5), 8)
  for k in FIELDS:
    np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
  buf.clear()
  assert len(buf) == 0
  wrong = ReplayBuffer(20, 3, 2, 1)
  try:
    wrong.load(path)
  except ValueError as err:
    assert "replay_buffer_capacity" in str(err)
  else:
    raise AssertionError("loading into a different capacity must fail")
