import ast
import pathlib

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs
from envs import registry
from envs.goal import goal_reward
from lib.skill_prior import SkillPrior


def _fixed_actions(n, dim, seed=3):
  return np.random.default_rng(seed).uniform(-1, 1, (n, dim))


def test_ant_obs_layout_and_xy_is_torso_position():
  env = envs.get_environment("Ant-v1")
  obs, _ = env.reset(seed=0)
  assert obs.shape == (29,)
  np.testing.assert_array_equal(obs[:15], env.data.qpos)
  np.testing.assert_array_equal(obs[15:], env.data.qvel)
  start = obs[:2].copy()
  for a in _fixed_actions(100, 8):
    obs, _, terminated, truncated, _ = env.step(a)
    assert not terminated and not truncated
  mujoco.mj_kinematics(env.model, env.data)  # xpos is otherwise one sub-step stale
  torso_xy = env.data.body("torso").xpos[:2]
  np.testing.assert_allclose(obs[:2], torso_xy, atol=1e-9)
  assert np.linalg.norm(obs[:2] - start) > 0.05  # the Ant moved under the fixed actions


def test_ant_terminates_only_on_diverged_state():
  env = envs.get_environment("Ant-v1")
  env.reset(seed=0)
  for a in _fixed_actions(300, 8):  # flips and stumbles, but never 'unhealthy'-terminates
    assert not env.step(a)[2]
  env.data.qvel[:] = np.nan  # MuJoCo resets such a state; the env reports it as terminal
  assert env.step(np.zeros(8))[2] is True
  env.reset(seed=0)
  assert env.step(np.zeros(8))[2] is False


@pytest.mark.parametrize("name", ["Ant-v1_goal", "point_mass_goal"])
def test_goal_env_reward_is_the_goal_reward_of_its_position(name):
  env = envs.get_environment(name)
  positions = list(envs.lookup(name).spec.position_indices)
  assert positions == list(env.position_indices) == [0, 1]
  obs, _ = env.reset(seed=1, options={"goal": (1.5, -0.5)})
  np.testing.assert_array_equal(env.goal, [1.5, -0.5])
  observations, rewards = [obs], []
  for a in _fixed_actions(30, env.action_space.shape[0]):
    obs, r, *_ = env.step(a)
    observations.append(obs)
    rewards.append(r)
  observations = np.asarray(observations)
  batch = goal_reward(observations[1:, positions], env.goal)
  np.testing.assert_allclose(batch, rewards, rtol=1e-12)
  np.testing.assert_allclose(rewards[-1], -np.linalg.norm(observations[-1, :2] - [1.5, -0.5]))
  # Batched over extra leading axes; the same function on JAX arrays (the planners').
  stacked = np.stack([observations, observations])[..., positions]
  assert goal_reward(stacked, env.goal).shape == (2, 31)
  np.testing.assert_allclose(goal_reward(jnp.asarray(stacked), jnp.asarray(env.goal)),
                             goal_reward(stacked, env.goal), rtol=1e-5)


def test_other_layouts():
  cheetah = envs.get_environment("HalfCheetah-v1")
  obs, _ = cheetah.reset(seed=0)
  assert obs.shape == (18,) and obs[0] == cheetah.data.qpos[0]
  humanoid = envs.get_environment("Humanoid-v1")
  obs, _ = humanoid.reset(seed=0)
  assert obs.shape == (47,)
  np.testing.assert_array_equal(obs[:2], humanoid.data.qpos[:2])


def test_point_mass_moves_along_heading_and_stays_in_arena():
  env = envs.get_environment("point_mass")
  obs, _ = env.reset(seed=0)
  heading = obs[2]
  for _ in range(10):
    obs, *_ = env.step(np.array([1.0, 0.0]))
  direction = np.array([np.cos(heading), np.sin(heading)])
  displacement = obs[:2] - env.init_qpos[:2] if hasattr(env, "init_qpos") else obs[:2]
  assert displacement @ direction > 0.3
  for _ in range(300):
    obs, *_ = env.step(np.array([1.0, 0.3]))
    assert np.all(np.abs(obs[:2]) <= 2.0 + 1e-9)
  turned = env.reset(seed=0)[0][2]
  for _ in range(10):
    obs, *_ = env.step(np.array([0.0, 1.0]))
  assert obs[5] > 0.1 and abs(obs[2] - turned) > 0.1  # yaw torque turns it


def test_gymnasium_ids_pass_through():
  env = envs.get_environment("Hopper-v5")
  obs, _ = env.reset(seed=0)
  assert obs.shape == (11,)
  assert envs.lookup("Hopper-v5").spec.num_hidden == 0


def test_unknown_environment_lists_known_names():
  with pytest.raises(ValueError) as err:
    envs.lookup("Antt-v1")
  msg = str(err.value)
  assert "--environment=Antt-v1" in msg
  for name in ("Ant-v1", "HalfCheetah-v1", "Humanoid-v1", "point_mass"):
    assert name in msg
  with pytest.raises(ValueError, match="not shipped"):
    envs.lookup("DKitty_randomized")


def test_observation_specs_and_reduced_indices():
  ant = envs.lookup("Ant-v1").spec
  assert ant.num_hidden == 2 and ant.policy_indices() == tuple(range(2, 29))
  assert ant.reduced_indices(0) == tuple(range(29))
  assert ant.reduced_indices(1) == (0,)
  assert ant.reduced_indices(2) == (0, 1)
  assert ant.reduced_indices(4) == (0, 1, 15, 16)
  assert ant.position_indices == (0, 1)
  assert envs.lookup("HalfCheetah-v1").spec.num_hidden == 1
  assert envs.lookup("HalfCheetah-v1").spec.position_indices == (0,)
  assert envs.lookup("Hopper-v5").spec.position_indices == ()
  assert envs.lookup("Humanoid-v1").spec.num_hidden == 2
  pm = envs.lookup("point_mass").spec
  assert pm.num_hidden == 2 and pm.reduced_indices(3) == (0, 1, 2)
  for name, code in (("HalfCheetah-v1", 2), ("Humanoid-v1", 3), ("point_mass", 4),
                     ("Hopper-v5", 1)):
    with pytest.raises(ValueError, match=f"--reduced_observation={code} is not supported"):
      envs.lookup(name).spec.reduced_indices(code, name)


def test_registry_goal_lists():
  assert envs.lookup("Ant-v1").default_goals == registry.ANT_GOALS
  assert len(registry.ANT_GOALS) == 6
  assert np.max(np.abs(registry.POINT_MASS_GOALS)) < 2.0


def test_same_seed_same_first_observations_and_skills():
  def first(seed):
    env = envs.make_skill_env("Ant-v1", SkillPrior("cont_uniform", 2),
                              np.random.default_rng(seed), max_env_steps=10)
    obs = env.reset()[0]
    return np.concatenate([obs["observation"], obs["skill"]])

  np.testing.assert_array_equal(first(5), first(5))
  assert not np.array_equal(first(5), first(6))


@pytest.mark.parametrize("name,current", [("Hopper-v3", "Hopper-v5"),
                                          ("HalfCheetah-v3", "HalfCheetah-v5")])
def test_retired_gymnasium_ids_name_the_current_one(name, current):
  with pytest.raises(ValueError, match=f"--environment={name} .*use --environment={current}$"):
    envs.lookup(name)


def _envs_imports(path: pathlib.Path) -> set[str]:
  """The envs.* modules that module file `path` imports, at any depth of its code."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module == "envs":
      found.update(f"envs.{a.name}" for a in node.names)
    elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("envs."):
      found.add(node.module)
    elif isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith("envs."))
  return found


def test_envs_modules_import_each_other_without_a_circle():
  """physics <-> registry was a circle (hidden in a function-level import): no module of
  envs/ may reach itself through the modules it imports."""
  folder = pathlib.Path(envs.__file__).parent
  modules = {f"envs.{p.stem}": p for p in folder.glob("*.py") if p.stem != "__init__"}
  graph = {name: _envs_imports(path) & set(modules) for name, path in modules.items()}
  assert "envs.registry" in graph["envs.physics_gap"]  # the walk sees real imports

  def reaches(start, target, seen):
    for nxt in graph[start]:
      if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
        return True
    return False

  circles = [name for name in graph if reaches(name, name, {name})]
  assert not circles, circles
