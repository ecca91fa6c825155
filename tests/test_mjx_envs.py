"""MJX environments (envs/mjx_envs.py) against the CPU ones, and the physics options.

Run MJX with ONE XLA CPU thread (MJX has hung with two threads at large batch):
  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
      pytest tests/test_mjx_envs.py
The tests stay small either way: batches of at most 4, and each jitted function is
compiled once per module (point_mass step and reset, HalfCheetah step; an Ant step takes
30-45 s to compile on a 2-core machine, so the step-agreement test uses HalfCheetah).
"""

import math

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

import envs
from envs import mjx_envs, physics, physics_gap
from envs.point_mass import ARENA

ALL = ("Ant-v1", "HalfCheetah-v1", "Humanoid-v1", "point_mass")


@pytest.fixture(scope="module")
def point_mass():
  env = mjx_envs.make_mjx_env("point_mass")
  return env, jax.jit(env.step)


@pytest.fixture(scope="module")
def cheetah():
  env = mjx_envs.make_mjx_env("HalfCheetah-v1")
  return env, jax.jit(env.step)


def _cpu_env(name, seed=0, steps=0):
  """A CPU env with the MJX physics, reset with `seed`, after `steps` random actions."""
  env = envs.get_environment(name, physics="mjx")
  env.reset(seed=seed)
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    env.step(rng.uniform(env.action_space.low, env.action_space.high))
  return env


def _mjx_state(cpu_env):
  u = cpu_env.unwrapped
  return mjx_envs.EnvState(data=mjx.put_data(u.model, u.data, impl="jax"))


def _qpos_qvel(state):
  return np.asarray(state.data.qpos, np.float64), np.asarray(state.data.qvel, np.float64)


def test_unsupported_name_is_one_line_error():
  for name in ("Hopper-v5", "Ant-v1_goal"):
    with pytest.raises(ValueError) as error:
      mjx_envs.make_mjx_env(name)
    message = str(error.value)
    assert "\n" not in message
    assert f"--environment={name}" in message
    assert "--backend=mjx supports: Ant-v1, HalfCheetah-v1, Humanoid-v1, point_mass" in message


@pytest.mark.parametrize("name", ALL)
def test_env_matches_cpu_description_and_options(name):
  env = mjx_envs.make_mjx_env(name)
  cpu = envs.get_environment(name)
  assert env.name == name
  assert env.obs_dim == cpu.observation_space.shape[0]
  assert env.action_dim == cpu.action_space.shape[0]
  assert env.frame_skip == cpu.unwrapped.frame_skip == 5
  assert env.dt == pytest.approx(cpu.unwrapped.dt)
  np.testing.assert_array_equal(env.action_low, cpu.action_space.low)
  np.testing.assert_array_equal(env.action_high, cpu.action_space.high)
  options = physics.MJX_OPTIONS[name]
  assert env.mj_model.opt.solver == mujoco.mjtSolver.mjSOL_NEWTON
  assert env.mj_model.opt.iterations == options["iterations"]
  assert env.mj_model.opt.ls_iterations == options["ls_iterations"]
  assert int(env.mjx_model.opt.iterations) == options["iterations"]
  hash(env)  # closable over / static in jax.jit


@pytest.mark.parametrize("name", ALL)
def test_observation_layout_matches_cpu(name):
  cpu = _cpu_env(name, seed=3, steps=3)
  u = cpu.unwrapped
  if name == "point_mass":  # exercise the heading wrap
    u.data.qpos[2] = 4.0
    mujoco.mj_forward(u.model, u.data)
  env = mjx_envs.make_mjx_env(name)
  obs = np.asarray(env.observe(_mjx_state(cpu)))
  assert obs.dtype == np.float32 and obs.shape == (env.obs_dim,)
  cpu_obs = u._get_obs()  # pylint: disable=protected-access
  np.testing.assert_allclose(obs, cpu_obs, rtol=1e-6, atol=1e-6)
  if name == "point_mass":
    assert obs[2] == pytest.approx(4.0 - 2 * math.pi, abs=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_reset_distribution(name):
  """Gymnasium v5's noise (point_mass: its own), without compiling mjx.forward."""
  env = mjx_envs.make_mjx_env(name)
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  qpos, qvel = jax.vmap(env._initial_qpos_qvel)(keys)  # pylint: disable=protected-access
  qpos, qvel = np.asarray(qpos), np.asarray(qvel)
  qpos0 = env.mj_model.qpos0
  if name == "point_mass":
    assert np.all(np.abs(qpos) <= 0.1) and np.all(qvel == 0.0)
    assert len({tuple(q) for q in qpos}) == 4
    return
  scale = 0.01 if name == "Humanoid-v1" else 0.1
  assert np.all(np.abs(qpos - qpos0) <= scale + 1e-6)
  assert np.std(qpos - qpos0) > scale / 4
  if name == "Humanoid-v1":
    assert np.all(np.abs(qvel) <= scale + 1e-6)
  else:
    assert np.max(np.abs(qvel)) > scale  # Gaussian, not uniform
    assert np.std(qvel) == pytest.approx(scale, rel=0.3)


def test_point_mass_reset_is_jittable_and_vmappable(point_mass):
  env, _ = point_mass
  state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), 4))
  qpos, qvel = _qpos_qvel(state)
  assert qpos.shape == (4, 3) and np.all(np.abs(qpos) <= 0.1) and np.all(qvel == 0.0)
  obs = np.asarray(jax.vmap(env.observe)(state))
  assert obs.shape == (4, 8) and np.all(np.isfinite(obs))


def _step_both(step, cpu, action, atol):
  """One MJX step from the CPU env's state and the CPU env's own step, with the same
  action: qpos, qvel and obs agree within atol. Returns (cpu reward, cpu done, MJX
  reward, MJX terminated)."""
  state = _mjx_state(cpu)
  cpu_obs, cpu_reward, cpu_done, _, _ = cpu.step(action)
  state, obs, reward, terminated = step(state, jnp.asarray(action, jnp.float32))
  qpos, qvel = _qpos_qvel(state)
  np.testing.assert_allclose(qpos, cpu.unwrapped.data.qpos, atol=atol)
  np.testing.assert_allclose(qvel, cpu.unwrapped.data.qvel, atol=atol)
  np.testing.assert_allclose(obs, cpu_obs, atol=atol)
  return cpu_reward, cpu_done, reward, terminated


def test_point_mass_step_matches_cpu_mujoco(point_mass):
  """One MJX step vs frame_skip CPU mj_steps (inside the CPU env's step): qpos, qvel
  within 1e-4 (MJX runs in float32)."""
  env, step = point_mass
  for seed in range(3):
    cpu = _cpu_env("point_mass", seed=seed, steps=2)
    action = np.random.default_rng(seed).uniform(-1, 1, 2)
    _, cpu_done, reward, terminated = _step_both(step, cpu, action, atol=1e-4)
    assert float(reward) == 0.0 and bool(terminated) == cpu_done is False


def test_point_mass_walls_and_heading_wrap_as_cpu(point_mass):
  """Full thrust toward the +x wall, then turning past +-pi: MJX follows the CPU env
  step by step; the point stops at x = 2 with its outward velocity zeroed."""
  env, step = point_mass
  cpu = _cpu_env("point_mass", seed=0)
  d = cpu.unwrapped.data
  d.qpos[:] = (1.9, 0.5, 0.05)
  d.qvel[:] = 0.0
  mujoco.mj_forward(cpu.unwrapped.model, d)
  state = _mjx_state(cpu)
  actions = [(1.0, 0.0)] * 12 + [(0.0, 1.0)] * 6
  hit_wall = False
  for i, action in enumerate(actions):
    cpu_obs, *_ = cpu.step(np.array(action))
    state, obs, _, terminated = step(state, jnp.asarray(action, jnp.float32))
    qpos, qvel = _qpos_qvel(state)
    np.testing.assert_allclose(qpos, d.qpos, atol=1e-4)
    np.testing.assert_allclose(qvel, d.qvel, atol=1e-4)
    np.testing.assert_allclose(np.asarray(obs)[[0, 1, 3, 4, 5, 6, 7]],
                               cpu_obs[[0, 1, 3, 4, 5, 6, 7]], atol=1e-4)
    # The heading, compared on the circle (the CPU's float64 may wrap a hair apart).
    assert abs(math.remainder(float(obs[2]) - cpu_obs[2], 2 * math.pi)) < 1e-4
    assert -math.pi <= float(obs[2]) < math.pi
    assert not bool(terminated)
    hit_wall |= qpos[0] == pytest.approx(ARENA)
    if qpos[0] == pytest.approx(ARENA):
      assert qvel[0] == 0.0
    if i == 11:  # the end of the thrust: held at the wall
      assert qpos[0] == pytest.approx(ARENA) and qvel[0] == 0.0
  assert hit_wall
  # 6 steps at up to 10 rad/s from 0.05 rad: the raw heading passed pi, the obs wrapped.
  assert float(state.data.qpos[2]) > math.pi
  assert float(obs[2]) < 0.0


def test_halfcheetah_step_matches_cpu_mujoco(cheetah):
  """One MJX step vs the CPU env's step (frame_skip mj_steps, the same options), from
  the same mid-gait states and actions: qpos, qvel within 1e-3 (float32 MJX against
  float64 MuJoCo through contacts and the Newton solver), reward within 1e-2."""
  env, step = cheetah
  for seed in range(2):
    cpu = _cpu_env("HalfCheetah-v1", seed=seed, steps=10)
    action = np.random.default_rng(100 + seed).uniform(-1, 1, 6)
    cpu_reward, cpu_done, reward, terminated = _step_both(step, cpu, action, atol=1e-3)
    assert float(reward) == pytest.approx(cpu_reward, abs=1e-2)
    assert bool(terminated) == cpu_done is False


def test_humanoid_terminates_outside_healthy_height():
  """`step`'s termination (MJXEnv.terminated) vs the CPU env's health check."""
  env = mjx_envs.make_mjx_env("Humanoid-v1")
  cpu = _cpu_env("Humanoid-v1")
  for z, expected in ((0.5, True), (1.4, False), (2.5, True), (1.0, True), (float("nan"), True)):
    cpu.unwrapped.data.qpos[2] = z
    state = _mjx_state(cpu)
    assert bool(env.terminated(state)) is expected, z
    if not math.isnan(z):
      assert (not cpu.unwrapped.is_healthy) is expected
  ant = mjx_envs.make_mjx_env("Ant-v1")
  state = _mjx_state(_cpu_env("Ant-v1"))
  assert not bool(ant.terminated(state.replace(data=state.data.replace(
      qpos=state.data.qpos.at[2].set(0.05)))))  # Ant: only a non-finite state ends it
  assert bool(ant.terminated(state.replace(data=state.data.replace(
      qvel=state.data.qvel.at[0].set(jnp.inf)))))


def test_physics_state_round_trip():
  env = mjx_envs.make_mjx_env("Ant-v1")
  cpu = _cpu_env("Ant-v1", seed=1, steps=2)
  vector = mjx_envs.physics_state(env, _mjx_state(cpu))
  assert vector.dtype == np.float64 and vector.shape == (15 + 14,)
  data = mujoco.MjData(env.mj_model)
  mjx_envs.put_physics_state(env, data, vector)
  np.testing.assert_allclose(data.qpos, cpu.unwrapped.data.qpos, atol=1e-6)
  np.testing.assert_allclose(data.qvel, cpu.unwrapped.data.qvel, atol=1e-6)
  batched = jax.tree.map(lambda x: x[None], _mjx_state(cpu))
  with pytest.raises(ValueError, match="one environment"):
    mjx_envs.physics_state(env, batched)


def test_cpu_physics_option():
  """physics="default" leaves the XML options; "mjx" applies MJX_OPTIONS (goal twins too)."""
  default = envs.get_environment("Humanoid-v1").unwrapped.model.opt
  assert default.solver == mujoco.mjtSolver.mjSOL_PGS and default.iterations == 50
  assert envs.get_environment("Ant-v1").unwrapped.model.opt.iterations == 100
  for name, base in (("Ant-v1", "Ant-v1"), ("Ant-v1_goal", "Ant-v1"),
                     ("Humanoid-v1", "Humanoid-v1"), ("point_mass_goal", "point_mass")):
    opt = envs.get_environment(name, physics="mjx").unwrapped.model.opt
    assert opt.solver == mujoco.mjtSolver.mjSOL_NEWTON
    assert opt.iterations == physics.MJX_OPTIONS[base]["iterations"]
    assert opt.ls_iterations == physics.MJX_OPTIONS[base]["ls_iterations"]
  with pytest.raises(ValueError, match="--environment=Hopper-v5"):
    envs.get_environment("Hopper-v5", physics="mjx")
  with pytest.raises(ValueError, match="allowed: default, mjx"):
    envs.get_environment("Ant-v1", physics="fast")


def test_trajectory_gap():
  gap = physics_gap.trajectory_gap
  assert gap("point_mass", physics.MJX_OPTIONS["point_mass"], steps=50) == 0.0
  assert gap("HalfCheetah-v1", physics.MJX_OPTIONS["HalfCheetah-v1"], steps=50) < 1e-3
  # One solver iteration visibly changes the cheetah's gait.
  assert gap("HalfCheetah-v1", dict(solver="newton", iterations=1, ls_iterations=4),
             steps=200) > 0.1
