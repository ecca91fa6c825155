"""The hierarchical controller (--method=meta) and SAC from scratch (--method=flat_sac).

Both are agents/sac.py's SAC trained on a task environment; they differ in what an
action is:
  meta:      a skill (MetaEnv): the frozen skill policy holds it for primitive_horizon
             steps, and the reward is the task reward summed over them. Continuous
             priors: SAC's tanh-squashed action scaled into the prior's box and projected
             into its support (the sphere for cont_sphere); discrete priors: a
             categorical policy (agents/discrete_sac.py) whose one-hot action is the skill.
  flat_sac:  the robot's action (TaskEnv), one env step per controller step.
The controller sees the robot's observation less its hidden coordinates (as the skill
policy does) and the task's observation; it is conditioned on no skill (dz = 0).

An epoch: the host backend (backends/host.py) collects env_steps_per_epoch env steps with
the current policy into the replay buffer, then one jitted scan runs the epoch's SAC
updates (training.learner.scan_updates) on batches sampled up front.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time

import jax
import numpy as np

import envs
from lib import checkpoint
from lib.replay_buffer import ReplayBuffer
from unsupervised_skill_learning import components
from unsupervised_skill_learning.agents.discrete_sac import DiscreteSAC
from unsupervised_skill_learning.agents.sac import SAC
from unsupervised_skill_learning.api import Skills
from unsupervised_skill_learning.backends.host import HostBackend, to_env_action
from unsupervised_skill_learning.downstream import episodes
from unsupervised_skill_learning.downstream.config import DownstreamConfig
from unsupervised_skill_learning.downstream.envs import MetaEnv
from unsupervised_skill_learning.downstream.tasks import Task
from unsupervised_skill_learning.training.learner import scan_updates

MODELS = "models"
BUFFER_FILE = "buffer.npz"


@dataclasses.dataclass
class Counters:
  epoch: int = 0      # epochs completed
  env_steps: int = 0  # robot steps of the training environment, initial collection included


def controller_sac(cfg: DownstreamConfig, env: episodes.Env, task: Task) -> SAC:
  """The controller's SAC for `env`: categorical over one-hot skills for a MetaEnv over
  discrete skills, else tanh-Gaussian over the env's action box."""
  robot_view = envs.lookup(task.environment).spec.policy_indices()
  indices = (*robot_view, *range(_robot_dim(env), env.obs_dim))  # the task's observation
  action_dim = int(np.prod(env.action_space.shape))
  config = components.sac_config(cfg.agent, obs_dim=env.obs_dim, skill_dim=0,
                                 action_dim=action_dim, policy_indices=indices)
  if isinstance(env, MetaEnv) and env.prior.is_discrete:
    return DiscreteSAC(dataclasses.replace(config, target_entropy=None))
  return SAC(config)


def _robot_dim(env: episodes.Env) -> int:
  return (env.task_env if isinstance(env, MetaEnv) else env).robot_dim


def policy_act(policy, params) -> episodes.Act:
  """The controller's deterministic action (the mean, or the most likely skill), in the
  env's action box: what test episodes play."""
  def act(env, obs):
    action, _ = policy.act(params, obs["observation"][None], obs["skill"][None],
                           jax.random.key(0), deterministic=True)
    space = env.action_space
    return to_env_action(np.asarray(action[0]), space.low.astype(np.float64),
                         space.high.astype(np.float64))
  return act


class ControllerRun:
  """A meta or flat_sac run's mutable pieces: the SAC state, replay buffer, collector,
  random streams and counters; `epoch()` trains one epoch, `save` / `restore` checkpoint
  all of it (exact resume)."""

  def __init__(self, cfg: DownstreamConfig, skills: Skills, task: Task, primitive_horizon: int):
    self.cfg = cfg
    self.meta = cfg.method == "meta"
    self.make = functools.partial(episodes.make_env, skills, task, meta=self.meta,
                                  primitive_horizon=primitive_horizon,
                                  deterministic_skills=cfg.deterministic_skills)
    seqs = np.random.SeedSequence(cfg.seed).spawn(episodes.TRAIN_ENV + 1)
    self.buffer_rng = np.random.default_rng(seqs[episodes.BUFFER])
    env = self.make(seqs[episodes.TRAIN_ENV])
    self.sac = controller_sac(cfg, env, task)
    self.backend = HostBackend([env], self.sac.policy,
                               np.random.default_rng(seqs[episodes.COLLECTOR]), cfg.agent)
    self.steps_per_action = primitive_horizon if self.meta else 1
    self.buffer = ReplayBuffer(cfg.replay_buffer_capacity, env.obs_dim, 0,
                               self.sac.config.action_dim)
    self.key = jax.random.key(cfg.seed)
    self.key, init_key = jax.random.split(self.key)
    self.state = self.sac.init(init_key)
    self.counters = Counters()
    self.updates = jax.jit(functools.partial(scan_updates, self.sac.update))
    # (returns, lengths) of the training episodes that finished in the last epoch.
    self.last_episodes: tuple[list, list] = ([], [])

  @property
  def task_env(self):
    env = self.backend.envs[0]
    return env.task_env if isinstance(env, MetaEnv) else env

  def collect(self, env_steps: int) -> int:
    """Collects about env_steps env steps (whole controller steps) into the buffer;
    returns how many controller steps."""
    before = self.task_env.env_steps
    data = self.backend.collect(self.state.actor, -(-env_steps // self.steps_per_action))
    self.buffer.add_batch(data)
    self.counters.env_steps += self.task_env.env_steps - before
    return len(data)

  def env_steps_of(self, controller_steps: int) -> int:
    """An episode's env steps from its controller steps (a meta-step holds its skill
    primitive_horizon steps, the last one cut by the time limit)."""
    return min(controller_steps * self.steps_per_action, self.task_env.task.max_env_steps)

  def _next_key(self):
    self.key, key = jax.random.split(self.key)
    return key

  def epoch(self) -> dict[str, float]:
    """Collect, sample the epoch's batches [U, B], one jitted scan of U SAC updates.
    Returns the losses (means over the updates), the finished training episodes' means
    (episode_return: the task return) and perf/* timings."""
    t0 = time.perf_counter()
    steps = self.collect(self.cfg.env_steps_per_epoch)
    t1 = time.perf_counter()
    num_updates = max(1, round(self.cfg.updates_per_step * steps))
    batches = self.buffer.sample(self.buffer_rng, self.cfg.agent.agent_batch_size, num_updates)
    self.state, metrics = self.updates(self.state, batches, self._next_key())
    metrics = {k: float(v) for k, v in metrics.items()}
    t2 = time.perf_counter()
    self.counters.epoch += 1
    returns, lengths = self.backend.finished_episodes()
    self.last_episodes = (returns, [self.env_steps_of(n) for n in lengths])
    stats = self.backend.episode_stats()
    if "episode_size" in stats:
      stats["episode_size"] = float(np.mean(self.last_episodes[1]))
    metrics.update(stats)
    metrics.update({"perf/env_steps_per_sec": steps * self.steps_per_action / max(t1 - t0, 1e-9),
                    "perf/updates_per_sec": num_updates / max(t2 - t1, 1e-9),
                    "perf/epoch_seconds": t2 - t0})
    return metrics

  def test(self, video_path: str | None = None) -> dict[str, float]:
    """The deterministic controller's test episodes (episodes.test_episodes). Draws from
    no training stream, so testing changes nothing else."""
    act = policy_act(self.sac.policy, self.state.actor)
    return episodes.test_episodes(self.make, lambda i: act, self.cfg.seed,
                                  self.cfg.eval_episodes, video_path)

  # --- checkpoints ----------------------------------------------------------------------
  def save(self, run_dir: str) -> str:
    backend_meta, arrays = self.backend.state()
    meta = {"epoch": self.counters.epoch, "env_steps": self.counters.env_steps,
            "key": np.asarray(jax.random.key_data(self.key)).tolist(),
            "buffer_rng": self.buffer_rng.bit_generator.state, "backend": backend_meta,
            "config": self.cfg.to_json()}
    return checkpoint.save(os.path.join(run_dir, MODELS), self.counters.epoch, self.state, meta,
                           arrays, extra=lambda d: self.buffer.save(os.path.join(d, BUFFER_FILE)),
                           keep=self.cfg.keep_checkpoints)

  def restore(self, path: str) -> None:
    meta, arrays = checkpoint.restore_meta(path)
    self.state = jax.tree.map(jax.numpy.asarray, checkpoint.restore_state(path, self.state))
    try:
      self.buffer.load(os.path.join(path, BUFFER_FILE))
      self.backend.restore(meta["backend"], arrays)
      self.buffer_rng.bit_generator.state = meta["buffer_rng"]
      self.key = jax.random.wrap_key_data(np.asarray(meta["key"], np.uint32))
      self.counters = Counters(int(meta["epoch"]), int(meta["env_steps"]))
    except (OSError, KeyError, ValueError) as err:
      raise checkpoint.CheckpointError(
          f"{path}: cannot resume from this checkpoint ({err})") from err
