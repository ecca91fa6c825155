"""Downstream tasks, the meta-controller, flat SAC and the baselines
(unsupervised_skill_learning/downstream/), on skills with a model's initial weights
(tests/skills_kit.py) and tasks shortened to 20-step episodes: seconds each."""

import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from lib import wandb_logger
from lib.progress import ProgressWriter, read_progress
from lib.tb_scalars import read_scalars
from lib.transition import Transition
from lib.video import read_mp4
from skills_kit import untrained_skills
from testkit import ROOT, TINY, module_command
from unsupervised_skill_learning import dads_off
from unsupervised_skill_learning.agents.discrete_sac import DiscreteSAC
from unsupervised_skill_learning.agents.sac import SACConfig
from unsupervised_skill_learning.backends.host import to_env_action
from unsupervised_skill_learning.downstream import compare, episodes, meta, run, tasks
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
      low, high = env.action_space.low, env.action_space.high
      scaled = low + (action + 1) / 2 * (high - low)
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


# --- the comparison ---------------------------------------------------------------------------
def test_compare_averages_seeds_and_draws_baselines_as_levels(tmp_path):
  """Runs written as a downstream run writes them (config.json, progress.csv): the table
  holds each method's mean ± std over seeds at the last common step, and when the
  trained methods' mean first reaches MPC's level."""

  def write(name, method, seed, rows):
    cfg = config(tmp_path / "runs" / name, method=method, seed=seed,
                 eval_episodes=2 if method in ("mpc", "random_skills") else 1)
    run.write_config(cfg)
    progress = ProgressWriter(str(tmp_path / "runs" / name / run.PROGRESS))
    for epoch, (steps, value) in enumerate(rows):
      progress.write(epoch, steps, {} if value is None else {episodes.TEST_RETURN: value})

  write("meta_0", "meta", 0, [(0, -100.0), (1000, None), (2000, -60.0), (3000, -40.0)])
  write("meta_1", "meta", 1, [(0, -110.0), (1000, None), (2000, -50.0), (3000, -20.0),
                              (4000, -10.0)])
  write("flat_0", "flat_sac", 0, [(0, -120.0), (2000, -100.0)])
  write("mpc_0", "mpc", 0, [(0, -45.0)])
  write("mpc_1", "mpc", 1, [(0, -35.0)])
  write("random_0", "random_skills", 0, [(0, -150.0)])
  (tmp_path / "runs" / "not_a_run").mkdir()
  out = str(tmp_path / "out" / "cmp")
  written, table = compare.compare([str(tmp_path / "runs")], out)
  assert written == [f"{out}_ant_goal.png", f"{out}.csv"] and os.path.getsize(written[0]) > 10000
  rows = {r["method"]: r for r in table}
  assert rows["meta"]["seeds"] == 2 and rows["meta"]["env_steps"] == 3000  # the common steps
  assert rows["meta"]["test_return_mean"] == -30.0 and rows["meta"]["test_return_std"] == 10.0
  assert rows["meta"]["env_steps_to_match_mpc"] == "3000"  # mean -55 at 2000, -30 at 3000
  assert rows["flat_sac"]["env_steps_to_match_mpc"] == "not within the run"
  assert rows["mpc"]["test_return_mean"] == -40.0 and rows["mpc"]["test_return_std"] == 5.0
  assert "| ant_goal | meta | 2 | 3000 | -30.00 ± 10.00 | 3000 |" in compare.markdown(table)
  assert open(f"{out}.csv").read().splitlines()[1].startswith("ant_goal,meta,2,3000,-30.0,10.0")
  with pytest.raises(ValueError, match="no downstream run with a test return"):
    compare.compare([str(tmp_path / "runs" / "not_a_run")], out)


# --- Weights & Biases, offline --------------------------------------------------------------
def wandb_records(run_dir: str) -> list:
  """The records of the offline W&B run under run_dir/wandb: its .wandb file is a LevelDB
  log (a 7-byte file header, then in 32 KiB blocks records of a 7-byte header: CRC,
  length, type full / first / middle / last) of wandb_internal_pb2.Record messages."""
  from wandb.proto import wandb_internal_pb2  # pylint: disable=import-outside-toplevel
  (path,) = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*", "run-*.wandb"))
  data = open(path, "rb").read()
  block, pos, payloads, pending = 32768, 7, [], b""
  while pos + 7 <= len(data):
    if block - pos % block < 7:  # a header never straddles blocks: the rest is padding
      pos += block - pos % block
      continue
    length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
    payload, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
    if kind == 1:
      payloads.append(payload)
    elif kind in (2, 3):
      pending = payload if kind == 2 else pending + payload
    elif kind == 4:
      payloads.append(pending + payload)
  return [wandb_internal_pb2.Record.FromString(p) for p in payloads]


def wandb_history(run_dir: str) -> tuple[dict[int, dict], set[str]]:
  """({step: {key: value}} of the logged history, the config's top-level keys)."""
  history, config = {}, set()
  for record in wandb_records(run_dir):
    kind = record.WhichOneof("record_type")
    if kind == "history":
      items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
      history.setdefault(int(items["_step"]), {}).update(items)
    elif kind == "run":
      config |= {i.key for i in record.run.config.update}
  return history, config


WANDB_ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def test_wandb_offline_gets_the_scalars_config_and_videos(tmp_path):
  """--wandb_project on both entry points, offline: the same scalars at the same env
  steps as TensorBoard, the run's config, and the videos (the downstream episode
  shortened to STEPS env steps: what is logged does not depend on its length)."""
  commands = {
      "dads_off": module_command("dads_off", f"--flagfile={TINY}", f"--logdir={tmp_path}/dads",
                                 "--num_epochs=2", "--record_freq=2", "--wandb_project=tests"),
      "downstream": module_command("downstream", f"--skills={ROOT}/pretrained/ant_xy",
                                   "--task=ant_goal", "--method=random_skills",
                                   "--eval_episodes=1", "--record_freq=1",
                                   f"--max_env_steps={STEPS}", f"--logdir={tmp_path}/random",
                                   "--wandb_project=tests")}
  for name, command in commands.items():
    out = subprocess.run(command, cwd=ROOT, env=WANDB_ENV, capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, (name, out.stderr[-3000:])
  history, config = wandb_history(str(tmp_path / "dads" / "point_mass"))
  tensorboard = read_scalars(str(tmp_path / "dads" / "point_mass"))
  assert sorted(history) == sorted(tensorboard["intrinsic_reward"]) == [80, 120]
  for step in (80, 120):
    assert float(history[step]["intrinsic_reward"]) == pytest.approx(
        tensorboard["intrinsic_reward"][step], rel=1e-6)
  assert {"videos/skill_0/path", "videos/skill_1/path"} <= set(history[120])
  assert {"env", "skills", "agent", "seed", "objective"} <= config
  history, config = wandb_history(str(tmp_path / "random"))
  assert sorted(history) == [0] and "videos/test_episode/path" in history[0]
  assert float(history[0][episodes.TEST_RETURN]) == pytest.approx(float(read_progress(
      str(tmp_path / "random" / run.PROGRESS))[1][0][episodes.TEST_RETURN]), rel=1e-6)
  assert {"task", "method", "seed", "hidden_layer_size"} <= config


def test_without_the_wandb_extra_the_flag_is_one_line(tmp_path, monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
  with pytest.raises(ValueError, match=r"--wandb_project=p: needs the wandb extra; install it "
                                       r"with: pip install -e '\.\[wandb\]'"):
    wandb_logger.require("p")
  try:
    flags.FLAGS(["dads_off", f"--flagfile={TINY}", f"--logdir={tmp_path}", "--wandb_project=p"])
    with pytest.raises(SystemExit) as exit_info:
      dads_off.main(["dads_off"])
  finally:
    flags.FLAGS.unparse_flags()
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
      "dads_off: error: --wandb_project=p: needs the wandb extra; install it with: pip install")


def test_sigterm_finishes_the_epoch_saves_and_the_rerun_resumes(tmp_path):
  """A downstream run stopped by SIGTERM: one line, exit 143, a checkpoint of the epoch
  it finished; the same command again resumes from it and carries the progress on."""

  def command(env_steps: int) -> list[str]:
    return module_command(
        "downstream", f"--skills={ROOT}/pretrained/ant_xy", "--task=ant_goal",
        "--method=meta", f"--logdir={tmp_path}", "--max_env_steps=20",
        f"--num_env_steps={env_steps}", "--env_steps_per_epoch=40", "--initial_env_steps=40",
        "--eval_episodes=1", "--eval_freq=100000", "--record_freq=0", "--save_freq=100000",
        "--hidden_layer_size=16", "--agent_batch_size=16")

  proc = subprocess.Popen(command(40000), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  progress = tmp_path / run.PROGRESS
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      progress.exists() and len(read_progress(str(progress))[1]) >= 2):
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 143, err[-3000:]
  lines = [l for l in err.splitlines() if l.strip() and l[:1] not in "IW"]
  assert len(lines) == 1 and lines[0].startswith("downstream: stopped at epoch "), err[-3000:]
  epoch = int(lines[0].split("stopped at epoch ")[1].split()[0])
  assert os.listdir(tmp_path / meta.MODELS) == [f"ckpt-{epoch:06d}"]
  stopped = read_progress(str(progress))[1]
  assert stopped[-1]["epoch"] == str(epoch)
  # Epoch N ends at 40 + 40 N env steps (the initial 40 first): one epoch more.
  resumed = subprocess.run(command(40 * (epoch + 2)), cwd=ROOT, capture_output=True,
                           text=True, timeout=300, check=False)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  rows = read_progress(str(progress))[1]
  assert rows[:len(stopped)] == stopped and rows[-1]["epoch"] == str(epoch + 1)
