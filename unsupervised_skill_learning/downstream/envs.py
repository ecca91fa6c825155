"""The task environment and the meta-environment over skills.

Both follow the skill environments' interface (envs.SkillWrapper: observations
{"observation", "skill"}, get_state / set_state for exact resume), so the host backend
(backends/host.py) collects from them as it collects skill transitions. A controller
trained on a task is conditioned on no skill: the "skill" beside its observation is
empty (dz = 0).

  TaskEnv:  the robot (the skills' evaluation environment, envs.SkillWrapper: the run's
            physics, the task's time limit) with the task's reward; its observation is
            the robot's [obs_dim] followed by the task's [K].
  MetaEnv:  a TaskEnv whose action is a skill, held for `primitive_horizon` steps by the
            frozen skill policy; its reward is the task reward summed over those steps.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

import envs
from lib import rendering
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.policy import HostPolicy
from unsupervised_skill_learning.backends.host import to_env_action
from unsupervised_skill_learning.downstream.tasks import REACHED, Task
from unsupervised_skill_learning.evaluation import skills as skill_eval


class TaskEnv:
  """A robot with a task's reward (see the module docstring).

  skill_env: the robot as evaluation makes it (EvalEnvs.make; its own skill is unused).
  rng: draws each episode's task state (Task.reset).
  """

  def __init__(self, skill_env: envs.SkillWrapper, task: Task, rng: np.random.Generator):
    self.skill_env = skill_env
    self.task = task
    self.rng = rng
    self.action_space = skill_env.action_space
    self.robot_dim = skill_env.obs_dim
    self.task_state = task.reset(np.random.default_rng(0))  # a placeholder until reset
    self.task_dim = len(task.observe(np.zeros(self.robot_dim), self.task_state))
    self.obs_dim = self.robot_dim + self.task_dim
    self.robot_obs = np.zeros(self.robot_dim, np.float32)
    self.env_steps = 0  # robot steps since this environment was made (all episodes)
    self.renderer: rendering.FrameRenderer | rendering.EnvFrameRenderer | None = None
    self.frames: list[np.ndarray] = []

  @property
  def robot(self) -> gymnasium.Env:
    """The MuJoCo / Gymnasium environment itself."""
    return self.skill_env.env

  def goal(self) -> np.ndarray | None:
    """The position the task asks to reach now [P], or None."""
    return self.task.goal(self.task_state)

  def observe(self) -> dict[str, np.ndarray]:
    task_obs = np.asarray(self.task.observe(self.robot_obs, self.task_state), np.float32)
    return {"observation": np.concatenate([self.robot_obs, task_obs]).astype(np.float32),
            "skill": np.zeros(0, np.float32)}

  def reset(self, *, seed=None, options=None):
    obs, info = self.skill_env.reset(seed=seed, options=options)
    self.robot_obs = obs["observation"]
    self.task_state = np.asarray(self.task.reset(self.rng), np.float64)
    if self.renderer is not None:
      self.frames.append(self.renderer.capture(self.robot))
    return self.observe(), info

  def step(self, action):
    """One robot step with `action` in the robot's bounds; the reward is the task's."""
    obs, _, terminated, truncated, info = self.skill_env.step(action)
    reward, self.task_state = self.task.reward(self.robot_obs, obs["observation"], info,
                                               self.task_state)
    self.robot_obs = obs["observation"]
    self.env_steps += 1
    if self.renderer is not None:
      self.frames.append(self.renderer.capture(self.robot))
    return self.observe(), float(reward), terminated, truncated, info

  # --- videos -------------------------------------------------------------------------
  def film(self) -> None:
    """Records a frame at every robot step from now on (call after reset): a fixed camera
    over the start and the task's markers (goals drawn as discs of the 'reached' radius,
    as goal reaching's videos), or the robot's own camera for tasks without markers."""
    markers = self.task.marker_positions(self.task_state)
    if len(markers):
      start = tuple(float(v) for v in self.robot_obs[:2])
      points = [start, *(tuple(m) for m in markers)]
      self.renderer = rendering.FrameRenderer.framing(
          self.robot.unwrapped.model, points, markers=[tuple(m) for m in markers],
          marker_radius=REACHED)
    else:
      self.renderer = skill_eval.renderer_for(self.task.environment, self.robot)
    self.frames = [self.renderer.capture(self.robot)]

  def stop_filming(self) -> list[np.ndarray]:
    """The frames recorded since `film`; stops recording."""
    frames, self.frames = self.frames, []
    if self.renderer is not None:
      self.renderer.close()
      self.renderer = None
    return frames

  # --- exact resume ---------------------------------------------------------------------
  def get_state(self) -> dict[str, Any]:
    """The robot's state (envs.SkillWrapper.get_state: physics, random streams, time)
    and the task's. "skill" and "obs" are the controller's (an empty skill, the robot's
    observation and the task's), as the host backend saves them."""
    state = self.skill_env.get_state()
    robot_skill, robot_obs = state.pop("skill"), state.pop("obs")
    state.update(skill=np.zeros(0, np.float32), obs=self.observe()["observation"],
                 robot_skill=robot_skill.tolist(), robot_obs=robot_obs.tolist(),
                 task_state=self.task_state.tolist(), task_rng=self.rng.bit_generator.state,
                 env_steps=self.env_steps)
    return state

  def set_state(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
    robot = dict(state)
    robot["skill"] = np.asarray(state["robot_skill"], np.float32)
    robot["obs"] = np.asarray(state["robot_obs"], np.float32)
    self.skill_env.set_state(robot)
    self.robot_obs = np.asarray(state["robot_obs"], np.float32)
    self.task_state = np.asarray(state["task_state"], np.float64)
    self.rng.bit_generator.state = state["task_rng"]
    self.env_steps = int(state["env_steps"])
    return self.observe()

  def close(self) -> None:
    self.stop_filming()
    self.skill_env.close()


class MetaEnv:
  """A TaskEnv whose action is a skill (see the module docstring).

  The action is a point of the prior's box (`prior.bounds`, as the host backend scales a
  policy's [-1, 1] action into it) mapped into the prior's support by `prior.project`
  (clipped to the square, normalised onto the sphere, the one-hot of the largest
  coordinate for discrete skills); the frozen skill policy then acts under that skill
  for `primitive_horizon` steps, or until the episode ends.

  skill_policy: the skills' policy on the host (agents.policy.HostPolicy).
  rng: the skill policy's action noise (deterministic: its mean action).
  """

  def __init__(self, task_env: TaskEnv, prior: SkillPrior, skill_policy: HostPolicy,
               rng: np.random.Generator, *, primitive_horizon: int, clip: float = 1.0,
               deterministic: bool = False):
    self.task_env = task_env
    self.prior = prior
    self.skill_policy = skill_policy
    self.rng = rng
    self.primitive_horizon = primitive_horizon
    self.clip = min(clip, 1.0)
    self.deterministic = deterministic
    low, high = prior.bounds
    self.action_space = gymnasium.spaces.Box(low, high, (prior.dim,), np.float32)
    robot_space = task_env.action_space
    self._low, self._high = robot_space.low.astype(np.float64), robot_space.high.astype(np.float64)
    self.obs_dim = task_env.obs_dim

  def goal(self) -> np.ndarray | None:
    return self.task_env.goal()

  @property
  def robot_obs(self) -> np.ndarray:
    return self.task_env.robot_obs

  def skill(self, action) -> np.ndarray:
    """The skill [dz] an action [dz] of the prior's box stands for."""
    return np.asarray(self.prior.project(np.asarray(action, np.float32)), np.float32)

  def reset(self, *, seed=None, options=None):
    return self.task_env.reset(seed=seed, options=options)

  def step(self, action):
    z = self.skill(action)
    self.task_env.skill_env.set_skill(z)
    total, obs, terminated, truncated, info = 0.0, None, False, False, {}
    for _ in range(self.primitive_horizon):
      robot_obs = self.task_env.robot_obs[None]
      if self.deterministic:
        a, _ = self.skill_policy.act(robot_obs, z[None], None, self.clip)
      else:
        a, _ = self.skill_policy.sample(robot_obs, z[None], self.rng, self.clip)
      obs, reward, terminated, truncated, info = self.task_env.step(
          to_env_action(a[0], self._low, self._high))
      total += reward
      if terminated or truncated:
        break
    return obs, total, terminated, truncated, {**info, "skill": z}

  def get_state(self) -> dict[str, Any]:
    return {**self.task_env.get_state(), "skill_policy_rng": self.rng.bit_generator.state}

  def set_state(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
    self.rng.bit_generator.state = state["skill_policy_rng"]
    return self.task_env.set_state(state)

  def close(self) -> None:
    self.task_env.close()
