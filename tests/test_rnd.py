"""The RND objective (objectives/rnd.py): novelty from a predictor's error, normalizers in
the state, the registry and flags, and end-to-end driver runs."""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from lib.tb_scalars import read_scalars
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.objectives import OBJECTIVES, ObjectiveContext
from unsupervised_skill_learning.objectives.rnd import RND, RNDConfig
from unsupervised_skill_learning.validation import ConfigError
from testkit import TINY, run_module, state_transitions


def _transitions(next_obs, obs=None):
  """Transitions with the given next observations [B, D] (obs: the same unless given)."""
  next_obs = jnp.asarray(next_obs, jnp.float32)
  obs = next_obs if obs is None else jnp.asarray(obs, jnp.float32)
  return state_transitions(obs, jnp.zeros((next_obs.shape[0], 1), jnp.float32), next_obs)


def _rnd(**settings):
  context = ObjectiveContext(prior=SkillPrior("cont_uniform", 1), reduced_indices=(0, 1),
                             dynamics_input_positions=(), hidden=(32, 32))
  return RND(RNDConfig(**{"rnd_lr": 1e-3, "rnd_output_dim": 16, **settings}), context)


def _error(obj, state, batch):
  return float(jnp.mean(obj.raw_reward(state, batch)))


@pytest.mark.parametrize("target", ["random", "snd"])
def test_predictor_error_falls_on_visited_states_only(target):
  obj = _rnd(rnd_target=target)
  rng = np.random.default_rng(0)
  # Visited: N(-5, 0.1) per coordinate; unvisited: N(5, 0.1). Before any update the
  # normalizer is the identity (clipped at +-5), so the two regions are mirror images
  # for the untrained networks: comparable errors.
  def visited(n):
    return _transitions(-5 + 0.1 * rng.normal(size=(n, 2)))

  def unvisited(n):
    return _transitions(5 + 0.1 * rng.normal(size=(n, 2)))

  test_visited, test_unvisited = visited(512), unvisited(512)
  state0 = obj.init(jax.random.key(0))
  init_visited, init_unvisited = _error(obj, state0, test_visited), _error(obj, state0, test_unvisited)
  assert 1 / 3 < init_unvisited / init_visited < 3, (init_visited, init_unvisited)
  update = jax.jit(obj.update)
  state, losses = state0, []
  for _ in range(200):
    batch = visited(128)
    # SND pairs (s, s'): neighbouring visited states.
    batch = batch.replace(obs=batch.next_obs + 0.05 * rng.normal(size=(128, 2)).astype(np.float32))
    state, metrics = update(state, batch, jnp.ones(128), None)
    losses.append(float(metrics["rnd/predictor_loss"]))
  after_visited, after_unvisited = _error(obj, state, test_visited), _error(obj, state, test_unvisited)
  assert after_unvisited > 3 * after_visited, (after_visited, after_unvisited)
  assert np.mean(losses[-20:]) < 0.1 * np.mean(losses[:20]), losses
  # The fall is the predictor's learning, not only the normalizer's: under the trained
  # normalizer the untrained networks err far more on the visited states.
  assert after_visited < 0.1 * _error(obj, state0.replace(obs_stats=state.obs_stats), test_visited)
  # The normalizer whitened the visited region.
  np.testing.assert_allclose(state.obs_stats.mean, [-5, -5], atol=0.01)
  np.testing.assert_allclose(state.obs_stats.std, [0.1, 0.1], rtol=0.05)
  if target == "snd":
    assert "rnd/target_loss" in metrics and np.isfinite(float(metrics["rnd/target_loss"]))
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), state.target_params,
                         state0.target_params)
    assert max(jax.tree.leaves(moved)) > 1e-3  # the SND target is trained
  else:
    assert state.target_opt_state == ()
    jax.tree.map(np.testing.assert_array_equal, state.target_params, state0.target_params)


def _scaled_outputs(params, k):
  """The network's last layer times k: its outputs times k."""
  params = jax.tree.map(lambda x: x, params)
  inner = dict(params["params"])
  last = max(inner, key=lambda name: int(name.split("_")[-1]))
  inner[last] = jax.tree.map(lambda x: k * x, inner[last])
  return {**params, "params": inner}


def test_reward_is_std_normalized_and_its_statistics_live_in_the_state():
  # rnd_lr tiny: the predictor stays put, so only the statistics change.
  obj = _rnd(rnd_lr=1e-12)
  rng = np.random.default_rng(1)
  batch = _transitions(rng.normal(size=(256, 2)) * [3.0, 0.5] + [1.0, -2.0])
  state = obj.init(jax.random.key(1))
  # The same networks with outputs 10x larger: raw errors 100x larger.
  big = state.replace(target_params=_scaled_outputs(state.target_params, 10.0),
                      predictor_params=_scaled_outputs(state.predictor_params, 10.0))
  update, reward = jax.jit(obj.update), jax.jit(obj.reward)
  small_state, _ = update(state, batch, jnp.ones(256), None)
  big_state, metrics = update(big, batch, jnp.ones(256), None)

  r_small, _ = reward(small_state, batch, None)
  r_big, info_big = reward(big_state, batch, None)
  raw_small, raw_big = obj.raw_reward(small_state, batch), obj.raw_reward(big_state, batch)
  np.testing.assert_allclose(raw_big, 100 * raw_small, rtol=1e-3)
  np.testing.assert_allclose(float(info_big["rnd/raw_reward"]), float(jnp.mean(raw_big)), rtol=1e-5)
  # Normalized by the running std of the raw reward: the scale is gone, and large raw
  # errors are scaled down.
  np.testing.assert_allclose(r_big, r_small, rtol=1e-3)
  np.testing.assert_allclose(r_big, raw_big / big_state.reward_stats.std[0], rtol=1e-5)
  assert float(big_state.reward_stats.std[0]) > 10 and float(jnp.mean(r_big)) < 0.1 * float(
      jnp.mean(raw_big))
  np.testing.assert_allclose(float(metrics["rnd/reward_std"]), big_state.reward_stats.std[0])
  # The statistics are those of the raw errors seen in `update` (before its step).
  np.testing.assert_allclose(big_state.reward_stats.std[0], np.std(raw_big), rtol=1e-3)
  assert float(big_state.reward_stats.count) == 256
  np.testing.assert_allclose(big_state.obs_stats.mean, np.mean(batch.next_obs, 0), rtol=1e-4)

  # Before any update the normalizers are the identity.
  r0, _ = reward(state, batch, None)
  np.testing.assert_allclose(r0, obj.raw_reward(state, batch), rtol=1e-4)

  # `reward` is pure: same state in, same rewards out, statistics untouched.
  before = jax.tree.map(np.asarray, big_state)
  again, _ = reward(big_state, batch, None)
  np.testing.assert_array_equal(again, r_big)
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, big_state))

  # Checkpoints carry the statistics (the state pytree round-trips through a state dict).
  template = obj.init(jax.random.key(2))
  restored = flax.serialization.from_bytes(template, flax.serialization.to_bytes(big_state))
  np.testing.assert_array_equal(restored.reward_stats.var, big_state.reward_stats.var)
  np.testing.assert_array_equal(restored.obs_stats.mean, big_state.obs_stats.mean)
  np.testing.assert_array_equal(restored.obs_stats.count, big_state.obs_stats.count)


def test_reward_ignores_the_skill_and_relabelling_likelihood_is_zero():
  obj = _rnd()
  state = obj.init(jax.random.key(3))
  rng = np.random.default_rng(3)
  batch = _transitions(rng.normal(size=(8, 2)))
  r1, _ = obj.reward(state, batch, None)
  r2, _ = obj.reward(state, batch.replace(skill=jnp.ones((8, 1))), None)
  np.testing.assert_array_equal(r1, r2)
  ll = obj.skill_log_likelihood(state, batch, jnp.zeros((8, 5, 1)))
  assert ll.shape == (8, 5)
  np.testing.assert_array_equal(ll, 0)
  assert obj.dynamics is None


def test_registry_flags_and_validation():
  spec = OBJECTIVES["rnd"]
  assert spec.config is RNDConfig and not spec.has_skill_dynamics
  cfg = RunConfig.build(logdir="x", objective="rnd", rnd_lr=1e-3)
  assert isinstance(cfg.objective_config, RNDConfig) and cfg.objective_config.rnd_lr == 1e-3
  assert cfg.objective_config.rnd_output_dim == 64 and cfg.objective_config.rnd_obs_clip == 5.0
  assert cfg.objective_config.rnd_target == "random"
  assert RunConfig.from_dict(cfg.to_dict()) == cfg
  with pytest.raises(ConfigError, match="--rnd_lr"):
    RunConfig.build(logdir="x", objective="rnd", rnd_lr=-1)
  with pytest.raises(ConfigError, match="--rnd_obs_clip"):
    RNDConfig(rnd_obs_clip=0.0)
  with pytest.raises(ConfigError, match="--rnd_output_dim"):
    RNDConfig(rnd_output_dim=0)
  with pytest.raises(ConfigError, match="--rnd_target"):
    RNDConfig(rnd_target="learned")
  with pytest.raises(TypeError):
    RNDConfig(3e-4)  # keyword-only
  # Another objective's run accepts (and ignores) the RND flags, as the driver passes all.
  assert RunConfig.build(logdir="x", objective="dads", rnd_lr=1e-3).objective == "dads"


def _drive(logdir, *args):
  out = run_module("dads_off", f"--flagfile={TINY}", f"--logdir={logdir}", "--objective=rnd",
                   *args)
  assert out.returncode == 0, out.stderr[-3000:]
  return out


def test_driver_trains_evaluates_and_declines_goal_reaching(tmp_path):
  out = _drive(tmp_path, "--num_evals=0", "--num_epochs=2", "--run_eval=1",
               "--record_eval_videos=0", "--num_candidate_sequences=8", "--refine_steps=2",
               "--primitive_horizon=5", "--goals=0.5,0.5")
  found = read_scalars(str(tmp_path / "point_mass"))
  for tag in ("intrinsic_reward", "rnd/predictor_loss", "rnd/raw_reward"):
    assert tag in found and len(found[tag]) == 2, tag
  assert "goal reaching needs skill dynamics; objective rnd has none" in out.stderr
  assert (tmp_path / "point_mass" / "eval" / "eval_summary.json").exists()


def test_rnd_run_learns_to_predict_visited_states(tmp_path):
  _drive(tmp_path, "--num_evals=0", "--num_epochs=10", "--skill_dyn_train_steps=16",
         "--record_freq=1000", "--save_freq=1000", "--rnd_lr=1e-3")
  loss = read_scalars(str(tmp_path / "point_mass"))["rnd/predictor_loss"]
  steps = sorted(loss)
  assert len(steps) == 10
  assert loss[steps[-1]] < 0.5 * loss[steps[0]], loss
