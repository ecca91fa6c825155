"""Downstream tasks, the meta-controller, flat SAC and the baselines
(unsupervised_skill_learning/downstream/), on skills with a model's initial weights
(tests/skills_kit.py) and tasks shortened to 20-step episodes: seconds each."""

import dataclasses
import json
import os
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.progress import read_progress
from lib.transition import Transition
from lib.video import read_mp4
from skills_kit import untrained_skills
from testkit import ROOT, module_command
from unsupervised_skill_learning.agents.discrete_sac import DiscreteSAC
from unsupervised_skill_learning.agents.sac import SACConfig
from unsupervised_skill_learning.backends.host import to_env_action
from unsupervised_skill_learning.downstream import episodes, meta, run, tasks
from unsupervised_skill_learning.downstream.config import DownstreamConfig
from unsupervised_skill_learning.downstream.envs import MetaEnv
from unsupervised_skill_learning.validation import ConfigError

STEPS = 20  # env steps of a test task's episode


def short(task: tasks.Task) -> tasks.Task:
  return dataclasses.replace(task, max_env_steps=STEPS)


def config(logdir, **values) -> DownstreamConfig:
  settings = dict(logdir=str(logdir), skills="untrained", task="ant_goal", method="meta",
                  num_env_steps=160, env_steps_per_epoch=40, initial_env_steps=40,
                  eval_episodes=1, eval_freq=1, record_freq=0, save_freq=1,
                  keep_checkpoints=10, hidden_layer_size=16, agent_batch_size=16)
  settings.update(values)
  return DownstreamConfig.build(**settings)


@pytest.fixture(scope="module")
def ant(tmp_path_factory):
  """x-y Ant skills (DADS, 2-D continuous), initial weights."""
  return untrained_skills(tmp_path_factory.mktemp("ant"), environment="Ant-v1",
                          reduced_observation=2)


def train(cfg, skills, task):
  return run.train(cfg, meta.ControllerRun(cfg, skills, task, 10))


# --- tasks ------------------------------------------------------------------------------
def test_shipped_task_rewards():
  rng = np.random.default_rng(0)
  obs = np.zeros(29)
  goal_task, sparse = tasks.ant_goal(), tasks.ant_goal_sparse()
  goals = np.stack([goal_task.reset(rng) for _ in range(200)])
  assert np.all(np.abs(goals) <= 15.0) and np.linalg.norm(goals, axis=1).min() >= 5.0
  goal = np.array([6.0, 8.0])
  near = obs.copy()
  near[:2] = (6.0, 7.5)
  reward, state = goal_task.reward(obs, near, {}, goal)
  assert reward == pytest.approx(-0.5 / 10.0) and state is goal
  assert sparse.reward(obs, near, {}, goal)[0] == 1.0
  assert sparse.reward(obs, obs, {}, goal)[0] == 0.0
  np.testing.assert_allclose(goal_task.observe(near, goal), (0.0, 0.5))
  assert goal_task.marker_positions(goal).tolist() == [[6.0, 8.0]]
  # Waypoints: rewarded once each, in order; the observation points at the current one.
  way = tasks.ant_waypoints()
  state = way.reset(rng)
  points = state[:-1].reshape(3, 2)
  assert np.allclose(np.linalg.norm(np.diff(points, axis=0, prepend=0.0), axis=1), 5.0)
  at = obs.copy()
  at[:2] = points[1]
  assert way.reward(obs, at, {}, state)[0] == 0.0  # the second before the first: nothing
  total = 0.0
  for point in points:
    at = obs.copy()
    at[:2] = point
    np.testing.assert_allclose(way.observe(at, state)[:2], 0.0, atol=1e-12)
    reward, state = way.reward(obs, at, {}, state)
    total += reward
  assert total == 3.0 and way.reward(obs, at, {}, state)[0] == 0.0
  # HalfCheetah: the x velocity, and minus it.
  assert tasks.cheetah_run().reward(obs, obs, {"x_velocity": 2.0}, np.zeros(0))[0] == 2.0
  assert tasks.cheetah_back().reward(obs, obs, {"x_velocity": 2.0}, np.zeros(0))[0] == -2.0


def test_task_names_and_user_tasks(tmp_path, monkeypatch):
  with pytest.raises(tasks.TaskError, match=r"--task=nope: unknown; known: ant_goal"):
    tasks.get_task("nope")
  (tmp_path / "my_tasks.py").write_text(
      "import numpy as np\n"
      "from unsupervised_skill_learning.downstream.tasks import Task\n"
      "def north():\n"
      "  return Task(name='north', environment='Ant-v1', summary='walk north',\n"
      "              reset=lambda rng: np.zeros(0),\n"
      "              reward=lambda obs, next_obs, info, state: (next_obs[1] - obs[1], state))\n"
      "def wrong():\n"
      "  return 3\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  assert tasks.get_task("my_tasks:north").name == "north"
  for name, message in (("my_tasks:wrong", "returned a int, not a"),
                        ("my_tasks:missing", "my_tasks has no function missing"),
                        ("no_such_module:f", "cannot import no_such_module")):
    with pytest.raises(tasks.TaskError, match=message):
      tasks.get_task(name)
  with pytest.raises(tasks.TaskError, match="needs skills trained on HalfCheetah-v1"):
    tasks.check_environment(tasks.cheetah_run(), "Ant-v1", "runs/ant")


def test_bad_settings_name_the_flag(tmp_path):
  for values, flag in (({"method": "dqn"}, "--method=dqn"), ({"eval_freq": 0}, "--eval_freq=0"),
                       ({"method": "mpc", "eval_episodes": 0}, "--eval_episodes=0"),
                       ({"agent_lr": -1.0}, "--agent_lr=-1.0"), ({"bogus": 1}, "--bogus")):
    with pytest.raises(ConfigError, match=flag):
      config(tmp_path, **values)


# --- the meta-environment -----------------------------------------------------------------
def test_meta_env_holds_the_skill_and_sums_the_task_reward(ant):
  task = short(tasks.ant_goal())
  make = lambda: episodes.make_env(ant, task, np.random.SeedSequence(3), meta=True,  # noqa: E731
                                   primitive_horizon=10, deterministic_skills=False)
  env, replay = make(), make()
  obs, _ = env.reset()
  replay.reset()
  assert obs["observation"].shape == (29 + 2,) and obs["skill"].shape == (0,)
  z = np.array([0.3, -0.7], np.float32)
  _, total, _, truncated, info = env.step(z)
  np.testing.assert_array_equal(info["skill"], z)
  # The same primitive stepped by hand: the skill policy's sampled actions, the task's
  # reward at each of the 10 steps.
  by_hand, robot = 0.0, replay.task_env
  robot.skill_env.set_skill(z)
  for _ in range(10):
    action, _ = replay.skill_policy.sample(robot.robot_obs[None], z[None], replay.rng)
    low, high = robot.action_space.low, robot.action_space.high
    _, reward, _, _, _ = robot.step(to_env_action(action[0], low.astype(float), high.astype(float)))
    by_hand += reward
  assert total == by_hand and robot.env_steps == env.task_env.env_steps == 10
  assert not truncated
  _, _, _, truncated, _ = env.step(z)
  assert truncated  # 20 steps: the episode's end


def test_meta_actions_map_into_the_prior_support(tmp_path):
  for kind, check in (("cont_sphere", lambda z: np.isclose(np.linalg.norm(z), 1.0)),
                      ("discrete_uniform", lambda z: sorted(z.tolist()) == [0, 0, 0, 1])):
    skills = untrained_skills(tmp_path / kind, environment="Ant-v1", reduced_observation=2,
                              skill_type=kind, num_skills=4)
    env = episodes.make_env(skills, short(tasks.ant_goal()), np.random.SeedSequence(0),
                            meta=True, primitive_horizon=10, deterministic_skills=True)
    for action in np.random.default_rng(0).uniform(-1, 1, (5, 4)):
      scaled = env.action_space.low + (action + 1) / 2 * (env.action_space.high - env.action_space.low)
      assert check(env.skill(scaled)), (kind, env.skill(scaled))
    env.close()


# --- discrete SAC ---------------------------------------------------------------------------
def test_discrete_sac_learns_the_best_action():
  """A one-step problem: of 3 actions only the last pays. The categorical actor ends up
  choosing it, and its entropy target keeps it from collapsing at once."""
  sac = DiscreteSAC(SACConfig(obs_dim=1, skill_dim=0, action_dim=3, policy_indices=(0,),
                              hidden=(16, 16), reward_scale=1.0, lr=3e-3))
  state = sac.init(jax.random.key(0))
  eye = np.eye(3, dtype=np.float32)
  rng = np.random.default_rng(0)
  update = jax.jit(sac.update)
  for i in range(300):
    action = eye[rng.integers(0, 3, 64)]
    batch = Transition(obs=rng.standard_normal((64, 1)).astype(np.float32),
                       skill=np.zeros((64, 0), np.float32), action=action,
                       next_obs=np.zeros((64, 1), np.float32), reward=action[:, 2],
                       terminated=np.ones(64, bool), truncated=np.zeros(64, bool),
                       behaviour_logp=np.zeros(64, np.float32))
    state, metrics = update(state, batch, jax.random.key(i))
  probs = np.exp(np.asarray(sac.policy.logits(state.actor, jnp.zeros((1, 1)), jnp.zeros((1, 0)))))
  assert probs[0, 2] > 0.7, probs
  assert metrics["entropy"] > 0.1
  host = sac.policy.host(state.actor)
  drawn, logp = host.sample(np.zeros((500, 1), np.float32), np.zeros((500, 0), np.float32), rng)
  assert set(drawn.sum(1)) == {1.0} and abs(drawn[:, 2].mean() - probs[0, 2]) < 0.07
  np.testing.assert_allclose(logp, np.log(probs[0])[drawn.argmax(1)], rtol=1e-4)


def test_discrete_skills_get_a_categorical_meta_controller(tmp_path):
  skills = untrained_skills(tmp_path / "skills", environment="Ant-v1", reduced_observation=2,
                            skill_type="discrete_uniform", num_skills=4)
  cfg = config(tmp_path / "run", num_env_steps=80)
  controller = meta.ControllerRun(cfg, skills, short(tasks.ant_goal()), 10)
  assert isinstance(controller.sac, DiscreteSAC)
  run.train(cfg, controller)
  stored = controller.buffer.all().action
  assert stored.shape == (8, 4) and np.all(stored.sum(1) == 1.0)
  rows = read_progress(str(tmp_path / "run" / run.PROGRESS))[1]
  assert [r["env_steps"] for r in rows] == ["0", "80"]


# --- runs -------------------------------------------------------------------------------------
def test_meta_resumes_exactly(tmp_path, ant):
  """Stopped after its first epoch and rerun, a run ends as the uninterrupted one does:
  the same progress rows and the same parameters and replay buffer, bit for bit."""
  task = short(tasks.ant_goal())
  train(config(tmp_path / "straight"), ant, task)
  train(config(tmp_path / "resumed", num_env_steps=80), ant, task)
  assert os.listdir(tmp_path / "resumed" / meta.MODELS) == ["ckpt-000001"]
  train(config(tmp_path / "resumed"), ant, task)
  header, straight = read_progress(str(tmp_path / "straight" / run.PROGRESS))
  _, resumed = read_progress(str(tmp_path / "resumed" / run.PROGRESS))
  assert [r["epoch"] for r in resumed] == ["0", "1", "2", "3"]
  assert [r["env_steps"] for r in resumed] == ["0", "80", "120", "160"]
  compared = [c for c in header if not c.startswith("perf/")]
  assert {"AverageTestEpRet", "critic_loss", "AverageEpRet"} <= set(compared)
  for a, b in zip(straight, resumed):
    assert {c: a[c] for c in compared} == {c: b[c] for c in compared}
  for name in ("state.msgpack", "buffer.npz"):
    path = os.path.join(meta.MODELS, "ckpt-000003", name)
    assert (tmp_path / "straight" / path).read_bytes() == (tmp_path / "resumed" / path).read_bytes()
  # A changed setting is refused, naming it.
  with pytest.raises(ConfigError, match="--agent_lr: 0.0003 -> 0.001"):
    train(config(tmp_path / "resumed", num_env_steps=200, agent_lr=1e-3), ant, task)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ffmpeg reading the video back
def test_meta_videos_mark_the_goal(tmp_path, ant):
  cfg = config(tmp_path, num_env_steps=80, record_freq=1)
  train(cfg, ant, short(tasks.ant_goal()))
  frames = read_mp4(episodes.video_path(str(tmp_path), 1))
  assert frames.shape[0] == STEPS + 1
  red = (frames[0, ..., 0] > 180) & (frames[0, ..., 1] < 90) & (frames[0, ..., 2] < 90)
  assert red.sum() > 20  # the goal's disc
  assert json.loads((tmp_path / run.CONFIG).read_text())["task"] == "ant_goal"


def test_cheetah_tasks_with_every_method(tmp_path):
  """HalfCheetah skills with the x prior: MPC plans along x toward the task's direction,
  random skills, and one epoch of flat SAC, each leaving its progress row."""
  skills = untrained_skills(tmp_path / "skills", environment="HalfCheetah-v1",
                            reduced_observation=1)
  results = {}
  for method in ("mpc", "random_skills"):
    cfg = config(tmp_path / method, method=method, task="cheetah_run", eval_episodes=2)
    results[method] = run.run_baseline(cfg, skills, short(tasks.cheetah_run()), 10)
    assert np.isfinite(results[method][episodes.TEST_RETURN])
  cfg = config(tmp_path / "flat", method="flat_sac", task="cheetah_back", num_env_steps=80)
  flat = meta.ControllerRun(cfg, skills, short(tasks.cheetah_back()), 10)
  assert flat.sac.config.hidden == (16, 16) and flat.sac.config.action_dim == 6
  run.train(cfg, flat)
  rows = read_progress(str(tmp_path / "flat" / run.PROGRESS))[1]
  assert [r["env_steps"] for r in rows] == ["0", "80"] and rows[1]["AverageEpLen"] == "20"


def test_command_line_errors_are_one_line(tmp_path):
  """Skills of another robot than the task's: one line, exit 2, before any model loads."""
  out = subprocess.run(
      module_command("downstream", f"--skills={ROOT}/pretrained/ant_xy", "--task=cheetah_run",
                     f"--logdir={tmp_path}"), cwd=ROOT, capture_output=True, text=True,
      timeout=300, check=False)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1] == (
      f"downstream: error: --task=cheetah_run needs skills trained on HalfCheetah-v1; "
      f"--skills={ROOT}/pretrained/ant_xy were trained on Ant-v1")
