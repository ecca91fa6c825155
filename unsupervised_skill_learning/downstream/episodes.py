"""Making a downstream run's environments, and its test episodes.

Random streams, all derived from --seed (SeedSequence children, named here):
  BUFFER      replay sampling;          COLLECTOR  the controller's exploration;
  TRAIN_ENV   the training environment (robot starts, task states, skill-policy noise);
  TEST        test episode i: SeedSequence(seed, spawn_key=(TEST, i)), the same for
              every method and every evaluation round, so all methods of a seed meet the
              same goals from the same starts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from lib import video
from unsupervised_skill_learning.api import Skills
from unsupervised_skill_learning.downstream.envs import MetaEnv, TaskEnv
from unsupervised_skill_learning.downstream.tasks import Task
from unsupervised_skill_learning.evaluation import skills as skill_eval

BUFFER, COLLECTOR, TRAIN_ENV = 0, 1, 2
TEST = 100  # spawn key of the test episodes' streams, apart from the training children
TEST_RETURN, TEST_STD = "AverageTestEpRet", "StdTestEpRet"  # Spinning Up's column names

Env = TaskEnv | MetaEnv
# act(env, obs) -> the env's action (a skill for MetaEnv, a robot action for TaskEnv)
Act = Callable[[Env, dict], np.ndarray]


def make_env(skills: Skills, task: Task, seq: np.random.SeedSequence, *, meta: bool,
             primitive_horizon: int, deterministic_skills: bool) -> Env:
  """The task on the skills' robot (evaluation's environment: the run's physics, the
  task's episode length), as a MetaEnv over the frozen skills when `meta`."""
  robot_seq, task_seq, noise_seq = seq.spawn(3)
  robot = skill_eval.EvalEnvs(task.environment, skills.prior, task.max_env_steps,
                              skills.config.env.physics).make(np.random.default_rng(robot_seq))
  task_env = TaskEnv(robot, task, np.random.default_rng(task_seq))
  if not meta:
    return task_env
  model = skills.model
  return MetaEnv(task_env, skills.prior, model.parts.learner.policy.host(model.state.agent.actor),
                 np.random.default_rng(noise_seq), primitive_horizon=primitive_horizon,
                 clip=skills.config.agent.action_clipping, deterministic=deterministic_skills)


def test_seq(seed: int, episode: int) -> np.random.SeedSequence:
  return np.random.SeedSequence(seed, spawn_key=(TEST, episode))


@dataclasses.dataclass
class Episode:
  task_return: float
  env_steps: int
  frames: list


def run_episode(env: Env, act: Act, film: bool = False) -> Episode:
  """One episode from env.reset() until it ends, acting with act(env, obs)."""
  obs, _ = env.reset()
  task_env = env.task_env if isinstance(env, MetaEnv) else env
  if film:
    task_env.film()
  start, total, done = task_env.env_steps, 0.0, False
  while not done:
    obs, reward, terminated, truncated, _ = env.step(act(env, obs))
    total += reward
    done = terminated or truncated
  frames = task_env.stop_filming() if film else []
  return Episode(total, task_env.env_steps - start, frames)


def test_episodes(make: Callable[[np.random.SeedSequence], Env],
                  act_for: Callable[[int], Act], seed: int, episodes: int,
                  video_path: str | None = None) -> dict[str, float]:
  """`episodes` test episodes, episode i in make(test_seq(seed, i)) acting with
  act_for(i); the first filmed to video_path when given. Returns AverageTestEpRet,
  StdTestEpRet and TestEpLen (env steps)."""
  returns, lengths = [], []
  for i in range(episodes):
    env = make(test_seq(seed, i))
    try:
      episode = run_episode(env, act_for(i), film=video_path is not None and i == 0)
    finally:
      env.close()
    if episode.frames:
      video.write_mp4(video_path, episode.frames)
    returns.append(episode.task_return)
    lengths.append(episode.env_steps)
  return {TEST_RETURN: float(np.mean(returns)), TEST_STD: float(np.std(returns)),
          "TestEpLen": float(np.mean(lengths))}


def video_path(run_dir: str, epoch: int) -> str:
  return os.path.join(run_dir, "videos", str(epoch), "test_episode.mp4")
