"""The A/B options against the original DADS (tf-agents 0.4): each changes what it
names, and each default is this project's behaviour (tests/test_driver.py checks the
defaults' training scalars against the golden file)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from lib.distributions import mixture_mean
from lib.networks import MLP
from lib.running_stats import RunningStats
from lib.skill_prior import SkillPrior
from lib.transition import Transition
from unsupervised_skill_learning import components
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.agents.sac import SAC, DoubleCritic, SACConfig
from unsupervised_skill_learning.backends.host import HostBackend, make_skill_envs
from unsupervised_skill_learning.config import AgentConfig, RunConfig
from unsupervised_skill_learning.objectives import ObjectiveContext
from unsupervised_skill_learning.objectives.dads import DADS, DADSConfig
from unsupervised_skill_learning.objectives.skill_dynamics import (SkillDynamics,
                                                                   SkillDynamicsConfig)
from unsupervised_skill_learning.planning import planners
from unsupervised_skill_learning.validation import ConfigError
from testkit import state_transitions


def _batch(b, obs_dim, skill_dim, act_dim, seed=0):
  r = np.random.default_rng(seed)
  f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
  return Transition(obs=f32(r.normal(size=(b, obs_dim))),
                    skill=f32(r.uniform(-1, 1, (b, skill_dim))),
                    action=f32(r.uniform(-0.9, 0.9, (b, act_dim))),
                    next_obs=f32(r.normal(size=(b, obs_dim))), reward=f32(r.normal(size=b)),
                    terminated=jnp.zeros(b, bool), truncated=jnp.zeros(b, bool),
                    behaviour_logp=jnp.zeros(b, jnp.float32))


# --- configuration ---------------------------------------------------------------------
def test_new_settings_default_to_this_projects_behaviour_and_validate():
  cfg = RunConfig.build(logdir="x")
  flat = cfg.flat()
  assert (flat["target_entropy_scale"], flat["agent_init"], flat["alpha_loss_sample"],
          flat["normalization"], flat["alt_skills"], flat["mpc_fresh_proposal"]) == (
              1.0, "flax", "pre_update", "running", "shared", 0)
  original = RunConfig.build(logdir="x", target_entropy_scale=0.5, agent_init="tf_agents",
                             alpha_loss_sample="fresh", normalization="batch",
                             alt_skills="per_transition", mpc_fresh_proposal=2)
  assert RunConfig.from_dict(original.to_dict()) == original
  for flag, value in (("target_entropy_scale", math.nan), ("agent_init", "glorot"),
                      ("alpha_loss_sample", "new"), ("normalization", "layer"),
                      ("alt_skills", "some"), ("mpc_fresh_proposal", 3)):
    with pytest.raises(ConfigError, match=f"--{flag}="):
      RunConfig.build(logdir="x", **{flag: value})
  with pytest.raises(ConfigError, match="--alt_skills=per_transition"):
    RunConfig.build(logdir="x", skill_type="discrete_uniform", num_skills=4, random_skills=0,
                    alt_skills="per_transition")


# --- SAC: target entropy, initializers, alpha loss ----------------------------------------
@pytest.mark.parametrize("scale,expected", [(1.0, -2.0), (0.5, -1.0)])
def test_target_entropy_scale_sets_sacs_target_entropy(scale, expected):
  cfg = RunConfig.build(logdir="x", environment="point_mass", hidden_layer_size=8,
                        target_entropy_scale=scale)
  sac = components.build(cfg, action_dim=2).learner.sac
  assert sac.target_entropy == expected
  logp = jnp.array([0.3, -1.2])
  np.testing.assert_allclose(sac.alpha_loss(jnp.float32(0.7), logp),
                             -0.7 * np.mean(np.asarray(logp) + expected), rtol=1e-6)


def test_flax_init_is_flaxs_default_and_tf_agents_keeps_the_parameter_tree():
  key = jax.random.key(3)
  policy = Policy(hidden=(32, 32), action_dim=3, policy_indices=(0, 1, 2), skill_dim=2)
  plain = MLP((32, 32), 6).init(key, jnp.zeros((1, 5)))
  jax.tree.map(np.testing.assert_array_equal, policy.init(key), plain)
  tf = Policy(hidden=(32, 32), action_dim=3, policy_indices=(0, 1, 2), skill_dim=2,
              init="tf_agents")
  assert jax.tree.structure(tf.init(key)) == jax.tree.structure(plain)
  obs, act = jnp.zeros((1, 5)), jnp.zeros((1, 3))
  default = DoubleCritic((32, 32)).init(key, obs, act)
  tfa = DoubleCritic((32, 32), init_kind="tf_agents").init(key, obs, act)
  assert jax.tree.structure(default) == jax.tree.structure(tfa)
  assert not np.array_equal(default["params"]["q0"]["Dense_2"]["kernel"],
                            tfa["params"]["q0"]["Dense_2"]["kernel"])


def test_tf_agents_init_gives_tf_agents_scales():
  hidden = 256
  obs_dim, skill_dim, act_dim = 60, 4, 8
  sac = SAC(SACConfig(obs_dim=obs_dim, skill_dim=skill_dim, action_dim=act_dim,
                      policy_indices=tuple(range(obs_dim)), hidden=(hidden, hidden),
                      init="tf_agents"))
  state = sac.init(jax.random.key(0))
  actor = state.actor["params"]
  fan_in = obs_dim + skill_dim
  # Actor hidden layers: glorot_uniform, U(+-sqrt(6 / (fan_in + fan_out))).
  for name, (n_in, n_out) in (("Dense_0", (fan_in, hidden)), ("Dense_1", (hidden, hidden))):
    w = np.asarray(actor[name]["kernel"])
    limit = math.sqrt(6.0 / (n_in + n_out))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    np.testing.assert_allclose(w.std(), limit / math.sqrt(3), rtol=0.05)
    assert not np.any(actor[name]["bias"])
  # Mean and log-std heads: VarianceScaling(0.1), truncated normal of std sqrt(0.1 / fan_in)
  # (within 2 untruncated standard deviations), zero biases (the std bias starts at 0).
  head = np.asarray(actor["Dense_2"]["kernel"])
  assert head.shape == (hidden, 2 * act_dim)
  std = math.sqrt(0.1 / hidden)
  np.testing.assert_allclose(head.std(), std, rtol=0.08)
  assert np.abs(head).max() <= 2 * std / 0.87962566103423978 + 1e-7
  assert not np.any(actor["Dense_2"]["bias"])
  # Critics: VarianceScaling(1/3, fan_in, uniform) = U(+-sqrt(1 / fan_in)) hidden, the last
  # layer U(+-0.003), zero biases.
  for q in ("q0", "q1"):
    critic = state.critic["params"][q]
    for name, n_in in (("Dense_0", fan_in + act_dim), ("Dense_1", hidden)):
      w = np.asarray(critic[name]["kernel"])
      limit = math.sqrt(1.0 / n_in)
      assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
      np.testing.assert_allclose(w.std(), limit / math.sqrt(3), rtol=0.05)
      assert not np.any(critic[name]["bias"])
    last = np.asarray(critic["Dense_2"]["kernel"])
    assert last.shape == (hidden, 1) and np.abs(last).max() <= 0.003
    assert np.abs(last).max() > 0.0025 and last.min() < 0 < last.max()
    assert not np.any(critic["Dense_2"]["bias"])


def test_fresh_alpha_sample_comes_from_the_updated_actor():
  cfg = dict(obs_dim=4, skill_dim=2, action_dim=2, policy_indices=(0, 1, 2, 3), hidden=(32,))
  pre, fresh = SAC(SACConfig(**cfg)), SAC(SACConfig(**cfg, alpha_loss_sample="fresh"))
  state = pre.init(jax.random.key(0))
  state = state.replace(log_alpha=jnp.float32(-0.5))  # alpha_loss is 0 at log_alpha 0
  batch, key = _batch(64, 4, 2, 2), jax.random.key(5)
  s_pre, m_pre = jax.jit(pre.update)(state, batch, key)
  s_fresh, m_fresh = jax.jit(fresh.update)(state, batch, key)
  # The critic and actor steps are the same; only the temperature's differs.
  jax.tree.map(np.testing.assert_array_equal, s_pre.actor, s_fresh.actor)
  jax.tree.map(np.testing.assert_array_equal, s_pre.critic, s_fresh.critic)
  assert abs(float(m_pre["alpha_loss"]) - float(m_fresh["alpha_loss"])) > 1e-4
  # pre_update: the actor loss's sample (log pi of the pre-update actor) ...
  np.testing.assert_allclose(m_pre["alpha_loss"], -state.log_alpha * (pre.target_entropy
                                                                      - m_pre["entropy"]),
                             rtol=1e-5, atol=1e-6)
  # ... fresh: a new sample from the updated actor.
  _, logp = pre.policy.sample(s_fresh.actor, batch.obs, batch.skill, jax.random.fold_in(key, 2))
  np.testing.assert_allclose(m_fresh["alpha_loss"],
                             -state.log_alpha * np.mean(np.asarray(logp) + pre.target_entropy),
                             rtol=1e-5, atol=1e-6)


# --- skill dynamics normalization ----------------------------------------------------------
def _dynamics(normalization, input_positions=()):
  return SkillDynamics(SkillDynamicsConfig(output_dim=3, skill_dim=2,
                                           input_positions=input_positions, hidden=(32, 32),
                                           normalization=normalization))


def _dyn_data(seed=0, n=128):
  r = np.random.default_rng(seed)
  s = r.normal(size=(n, 3)).astype(np.float32)
  z = r.uniform(-1, 1, (n, 2)).astype(np.float32)
  s_next = s + np.concatenate([z, z[:, :1] * z[:, 1:]], 1) + 0.1 * r.normal(size=(n, 3))
  return jnp.asarray(s), jnp.asarray(z), jnp.asarray(s_next.astype(np.float32))


@pytest.mark.parametrize("input_positions", [(), (2,)])
def test_batch_normalization_trains_on_the_batchs_own_statistics(input_positions):
  s, z, s_next = _dyn_data()
  shift = jnp.array([5.0, -3.0, 2.0])
  batch = _dynamics("batch", input_positions)
  running = _dynamics("running", input_positions)
  # The same state for both, with a history (a running normalization's first update
  # normalizes with that batch's statistics too).
  state, _ = running.update(running.init(jax.random.key(0)), *_dyn_data(seed=1))
  # Shifting the whole batch (inputs and targets) leaves the batch-normalized loss as it
  # is; the running normalization, which remembers the earlier batch, sees the shift.
  _, m = batch.update(state, s, z, s_next)
  _, m_shifted = batch.update(state, s + shift, z, s_next + 2 * shift)
  np.testing.assert_allclose(m["dynamics_loss"], m_shifted["dynamics_loss"], rtol=1e-4)
  _, r = running.update(state, s, z, s_next)
  _, r_shifted = running.update(state, s + shift, z, s_next + 2 * shift)
  assert abs(float(r["dynamics_loss"]) - float(r_shifted["dynamics_loss"])) > 1e-3


def test_batch_normalization_moves_a_momentum_average_used_for_rewards_and_predictions():
  s, z, s_next = _dyn_data()
  dyn = _dynamics("batch")
  state = dyn.init(jax.random.key(0))
  new, _ = dyn.update(state, s, z, s_next)
  delta = np.asarray(s_next - s, np.float64)
  # Moving averages from mean 0 and variance 1 with momentum 0.99 (biased batch variance).
  np.testing.assert_allclose(new.delta_stats.mean, 0.01 * delta.mean(0), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(new.delta_stats.var, 0.99 + 0.01 * delta.var(0), rtol=1e-5)
  # Likelihoods (the DADS reward) and predictions use them, with eps 1e-3.
  target = (delta - np.asarray(new.delta_stats.mean)) / np.sqrt(
      np.asarray(new.delta_stats.var) + 1e-3)
  np.testing.assert_allclose(dyn.target(new, s, s_next), target, rtol=1e-4, atol=1e-5)
  mean = mixture_mean(dyn.mixture(new.params, new, s, z))
  expected = np.asarray(s) + np.asarray(mean) * np.sqrt(np.asarray(new.delta_stats.var) + 1e-3) \
      + np.asarray(new.delta_stats.mean)
  np.testing.assert_allclose(dyn.predict_next(new, s, z), expected, rtol=1e-4, atol=1e-5)
  # The state's layout is the running normalization's (checkpoints and exported models).
  assert jax.tree.structure(new) == jax.tree.structure(_dynamics("running").init(
      jax.random.key(0)))


def test_running_stats_ema_and_batch_statistics():
  x = jnp.asarray(np.random.default_rng(1).normal(3.0, 2.0, (500, 2)), jnp.float32)
  batch = RunningStats.of_batch(x)
  np.testing.assert_allclose(batch.var, np.var(np.asarray(x), 0), rtol=1e-5)
  ema = RunningStats.create(2).update_ema(x, 0.9)
  np.testing.assert_allclose(ema.mean, 0.1 * batch.mean, rtol=1e-6)
  np.testing.assert_allclose(ema.var, 0.9 + 0.1 * batch.var, rtol=1e-6)
  assert float(ema.count) == 500


# --- alternative skills ------------------------------------------------------------------
@pytest.mark.parametrize("input_positions", [(), (1,)])
def test_per_transition_alternatives_are_drawn_for_every_row(input_positions):
  prior = SkillPrior("cont_uniform", 2)
  context = ObjectiveContext(prior=prior, reduced_indices=(0, 1),
                             dynamics_input_positions=input_positions, hidden=(32, 32))
  obj = DADS(DADSConfig(random_skills=7, alt_skills="per_transition"), context)
  shared = DADS(DADSConfig(random_skills=7), context)
  key = jax.random.key(2)
  alt = obj.alternative_skills(key, 5)
  assert alt.shape == (5, 7, 2)
  assert all(not np.allclose(alt[0], alt[i]) for i in range(1, 5))
  assert shared.alternative_skills(key, 5).shape == (7, 2)
  r = np.random.default_rng(0)
  obs = jnp.asarray(r.normal(size=(5, 2)), jnp.float32)
  nxt = obs + jnp.asarray(r.normal(size=(5, 2)), jnp.float32)
  batch = state_transitions(obs, jnp.asarray(r.uniform(-1, 1, (5, 2)), jnp.float32), nxt)
  state = obj.init(jax.random.key(0))
  reward, _ = jax.jit(obj.reward)(state, batch, key)

  @jax.jit
  def row_reward(row, row_alt):
    logp, logp_alt = shared.logps(state, row, row_alt)
    return shared.reward_from_logps(logp, logp_alt, row.skill, row_alt)[0]

  # The reward compares each transition with its own alternatives: the shared formula,
  # row by row, with that row's alternatives as the shared set.
  for i in range(5):
    row = jax.tree.map(lambda v: v[i:i + 1], batch)  # pylint: disable=cell-var-from-loop
    np.testing.assert_allclose(reward[i], row_reward(row, alt[i]), rtol=1e-5, atol=1e-5)


# --- MPC proposal --------------------------------------------------------------------------
def _predict(params, s, z):
  return s + params["c"] * z


def _mppi(**kwargs):
  cfg = planners.PlannerConfig(skill_dim=2, refine_steps=2, num_candidates=8, **kwargs)
  return planners.make_planner(cfg, _predict, planners.mppi(cfg))


def test_fresh_proposal_ignores_the_previous_plan():
  params, s0, goal, key = {"c": jnp.float32(0.1)}, jnp.zeros(2), jnp.array([2.0, 1.0]), \
      jax.random.key(0)
  old = jnp.array([[0.9, -0.9]])
  carry, fresh = _mppi(), _mppi(fresh_proposal=1)
  np.testing.assert_array_equal(carry.shift_plan(old), old)       # this project: carried over
  np.testing.assert_array_equal(fresh.shift_plan(old), [[0.0, 0.0]])  # fresh zeros
  # So the next replanning from a fresh plan does not depend on the previous plan.
  a = fresh.plan(params, s0, goal, fresh.shift_plan(old), key)[0]
  b = fresh.plan(params, s0, goal, fresh.shift_plan(-old), key)[0]
  c = carry.plan(params, s0, goal, carry.shift_plan(-old), key)[0]
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  # 2: a fresh draw from N(0, I) (the original's), from the key it is given.
  drawn = _mppi(fresh_proposal=2)
  first = drawn.shift_plan(old, jax.random.key(1))
  np.testing.assert_array_equal(first, jax.random.normal(jax.random.key(1), (1, 2)))
  assert not np.allclose(first, drawn.shift_plan(old, jax.random.key(2)))
  np.testing.assert_array_equal(drawn.init_plan(jax.random.key(1)), first)
  with pytest.raises(ValueError, match="mpc_fresh_proposal=2"):
    drawn.shift_plan(old)
  # Longer plans keep the not-yet-executed part and freshen the appended slot, as the
  # original (pop the executed slot, append a fresh one).
  three = _mppi(fresh_proposal=1, planning_horizon=3)
  plan = jnp.array([[1.0, 1.0], [0.5, 0.5], [0.2, 0.2]])
  np.testing.assert_array_equal(three.shift_plan(plan),
                                jnp.concatenate([plan[1:], jnp.zeros((1, 2))]))
  with pytest.raises(ValueError, match="--mpc_fresh_proposal"):
    planners.PlannerConfig(skill_dim=2, fresh_proposal=3)


# --- skill resampling within episodes --------------------------------------------------------
def test_skills_are_redrawn_within_ant_episodes_at_the_papers_rate():
  """min_steps_before_resample=10, resample_prob=0.1: a new skill every ~20 steps, never
  before 10 steps with one skill; transitions stay chained across a redraw (the same
  episode) and each keeps the skill its action was taken under."""
  cfg = RunConfig.build(logdir="x", environment="Ant-v1", reduced_observation=2,
                        min_steps_before_resample=10, resample_prob=0.1, max_env_steps=200)
  env_cfg = dataclasses.replace(cfg.env, max_env_steps=120)
  prior = SkillPrior("cont_uniform", 2)
  skill_envs = make_skill_envs(env_cfg, prior, [np.random.default_rng(0)])
  spec = envs.lookup("Ant-v1").spec
  policy = Policy(hidden=(8,), action_dim=8, policy_indices=spec.policy_indices(), skill_dim=2)
  params = jax.tree.map(lambda x: 0.0 * x, policy.init(jax.random.key(0)))  # tanh(N(0, 1))
  backend = HostBackend(skill_envs, policy, np.random.default_rng(1), AgentConfig())
  data = backend.collect(params, 120)
  ends = np.flatnonzero(np.asarray(data.terminated) | np.asarray(data.truncated))
  assert len(ends) == 1 and ends[0] == 119  # one episode
  np.testing.assert_array_equal(data.next_obs[:-1], data.obs[1:])
  skills = np.asarray(data.skill)
  switches = np.flatnonzero(np.any(skills[1:] != skills[:-1], axis=1)) + 1
  runs = np.diff(np.concatenate([[0], switches]))
  assert len(switches) >= 3, switches
  assert runs.min() >= 10, runs
  for env in skill_envs:
    env.close()


def test_flags_reach_the_components():
  cfg = RunConfig.build(logdir="x", environment="point_mass", hidden_layer_size=8,
                        agent_init="tf_agents", alpha_loss_sample="fresh",
                        normalization="batch", alt_skills="per_transition")
  learner = components.build(cfg, action_dim=2).learner
  assert learner.sac.config.init == "tf_agents" and learner.policy.init_kind == "tf_agents"
  assert learner.sac.config.alpha_loss_sample == "fresh"
  assert learner.objective.dynamics.config.normalization == "batch"
  assert learner.objective.config.alt_skills == "per_transition"
