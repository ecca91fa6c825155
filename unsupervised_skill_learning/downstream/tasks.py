"""Downstream tasks: a reward on top of a robot, registered by name.

A task is a `Task`: which environment (robot) it needs, how an episode's task state is
drawn, the reward of each step, and what the controller sees of the task beside the
robot's observation. Task states are float64 vectors (a goal, waypoints and how many are
reached), so a checkpoint saves them as they are.

Shipped tasks (`TASKS`):
  ant_goal         a goal per episode, uniform in [-15, 15]^2 (the DADS paper's Figure 7;
                   goals nearer than 5 to the start are redrawn, as envs.goal.random_goals
                   does), reward -||xy - g|| / ||g|| per step;
  ant_goal_sparse  the same goals, reward 1 within 1.0 of the goal, else 0;
  ant_waypoints    three goals in order (each 5 away from the previous one, in a random
                   direction), reward 1 for each one reached (within 1.0);
  cheetah_run      HalfCheetah's x velocity;
  cheetah_back     minus it.

Your own task is one function in your own file returning a Task, named on the command
line as `--task=my_module:my_task` (my_module importable, e.g. in the current folder):

  # my_module.py
  import numpy as np
  from unsupervised_skill_learning.downstream.tasks import Task

  def my_task() -> Task:
    return Task(name="ant_north", environment="Ant-v1", summary="walk north",
                reset=lambda rng: np.zeros(0),
                reward=lambda obs, next_obs, info, state: (next_obs[1] - obs[1], state))
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable

import numpy as np

from envs.goal import goal_reward, random_goals

GOAL_HALF_WIDTH = 15.0  # ant_goal: goals uniform in [-15, 15]^2
REACHED = 1.0           # within this distance a goal counts as reached
WAYPOINTS, WAYPOINT_SPACING = 3, 5.0

# reset(rng) -> task state [S] float64
Reset = Callable[[np.random.Generator], np.ndarray]
# reward(obs [obs_dim], next_obs [obs_dim], info, task state [S]) -> (reward, task state [S])
Reward = Callable[[np.ndarray, np.ndarray, dict, np.ndarray], tuple[float, np.ndarray]]
# observe(obs [obs_dim], task state [S]) -> what the controller sees of the task [K]
Observe = Callable[[np.ndarray, np.ndarray], np.ndarray]
# goal(task state [S]) -> the position [P] to reach now, or None
Goal = Callable[[np.ndarray], np.ndarray | None]


def _nothing(obs: np.ndarray, state: np.ndarray) -> np.ndarray:
  del obs, state
  return np.zeros(0)


def _no_goal(state: np.ndarray) -> None:
  del state


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
  """A downstream task.

  name, summary: how it is listed.
  environment: the registry name of the robot the skills must have been trained on.
  reset(rng) -> the task state [S] (float64) of a new episode, drawn from rng.
  reward(obs, next_obs, info, state) -> (reward, state after the step): obs and next_obs
    are the robot's observations [obs_dim] before and after the step, info the
    environment's step info (e.g. "x_velocity").
  observe(obs, state) -> [K]: the task's part of the controller's observation, appended
    to the robot's (default: nothing, K = 0). K must not depend on the state.
  goal(state) -> the position [P] the controller should reach now (the planner of
    --method=mpc plans toward it, videos mark it), or None for tasks without one.
  markers(state) -> positions [M, 2] drawn as discs on the ground in videos (default:
    the goal, when there is one).
  max_env_steps: the episode length (a time limit).
  """

  name: str
  environment: str
  summary: str
  reset: Reset
  reward: Reward
  observe: Observe = _nothing
  goal: Goal = _no_goal
  markers: Callable[[np.ndarray], np.ndarray] | None = None
  max_env_steps: int = 200

  def __post_init__(self):
    if self.max_env_steps <= 0:
      raise ValueError(f"task {self.name}: max_env_steps must be positive; got "
                       f"{self.max_env_steps}")

  def marker_positions(self, state: np.ndarray) -> np.ndarray:
    """[M, 2]: what videos mark on the ground (the goal by default; none without one)."""
    if self.markers is not None:
      return np.asarray(self.markers(state), np.float64).reshape(-1, 2)
    goal = self.goal(state)
    if goal is None or len(goal) != 2:
      return np.zeros((0, 2))
    return np.asarray(goal, np.float64)[None]


# --- the shipped tasks ------------------------------------------------------------------
def _xy(obs: np.ndarray) -> np.ndarray:
  return np.asarray(obs[:2], np.float64)  # Ant-v1: the torso's x-y comes first


def _random_goal(rng: np.random.Generator) -> np.ndarray:
  """One goal as envs.goal.random_goals draws them (uniform in [-15, 15]^2, away from the
  start), from a seed drawn from rng."""
  return random_goals(GOAL_HALF_WIDTH, n=1, seed=int(rng.integers(2**63)))[0]


def _to_goal(obs: np.ndarray, state: np.ndarray) -> np.ndarray:
  """The vector from the robot to the goal [2]: where the goal is, seen from the robot."""
  return state[:2] - _xy(obs)


def _dense_goal_reward(obs, next_obs, info, state):
  del obs, info
  return float(goal_reward(_xy(next_obs), state[:2]) / np.linalg.norm(state[:2])), state


def _sparse_goal_reward(obs, next_obs, info, state):
  del obs, info
  return float(np.linalg.norm(_xy(next_obs) - state[:2]) < REACHED), state


def ant_goal() -> Task:
  return Task(name="ant_goal", environment="Ant-v1",
              summary="a goal per episode in [-15, 15]^2; reward -||xy - g|| / ||g|| per step",
              reset=_random_goal, reward=_dense_goal_reward, observe=_to_goal,
              goal=lambda state: state[:2])


def ant_goal_sparse() -> Task:
  return Task(name="ant_goal_sparse", environment="Ant-v1",
              summary=f"ant_goal's goals; reward 1 within {REACHED:g} of the goal, else 0",
              reset=_random_goal, reward=_sparse_goal_reward, observe=_to_goal,
              goal=lambda state: state[:2])


# ant_waypoints' state: the waypoints' x-y [2 * WAYPOINTS], then how many are reached.
def _waypoints_reset(rng: np.random.Generator) -> np.ndarray:
  angles = rng.uniform(-math.pi, math.pi, WAYPOINTS)
  legs = WAYPOINT_SPACING * np.stack([np.cos(angles), np.sin(angles)], 1)
  return np.concatenate([np.cumsum(legs, 0).reshape(-1), [0.0]])


def _current(state: np.ndarray) -> np.ndarray:
  """The waypoint to reach now [2] (the last one once all are reached)."""
  k = min(int(state[-1]), WAYPOINTS - 1)
  return state[2 * k:2 * k + 2]


def _waypoints_reward(obs, next_obs, info, state):
  del obs, info
  if state[-1] >= WAYPOINTS or np.linalg.norm(_xy(next_obs) - _current(state)) >= REACHED:
    return 0.0, state
  return 1.0, np.concatenate([state[:-1], [state[-1] + 1]])


def _waypoints_observe(obs, state):
  """The vector to the current waypoint [2] and the fraction still to reach [1]."""
  return np.concatenate([_current(state) - _xy(obs), [1.0 - state[-1] / WAYPOINTS]])


def ant_waypoints() -> Task:
  return Task(name="ant_waypoints", environment="Ant-v1",
              summary=f"{WAYPOINTS} goals in order, each {WAYPOINT_SPACING:g} from the last; "
                      f"reward 1 for each one reached (within {REACHED:g})",
              reset=_waypoints_reset, reward=_waypoints_reward, observe=_waypoints_observe,
              goal=_current, markers=lambda state: state[:-1].reshape(WAYPOINTS, 2))


def _no_state(rng: np.random.Generator) -> np.ndarray:
  del rng
  return np.zeros(0)


def _x_velocity(sign: float) -> Reward:
  def reward(obs, next_obs, info, state):
    del obs, next_obs
    return sign * float(info["x_velocity"]), state
  return reward


# Far ahead (behind) on the x axis: MPC toward it maximizes the predicted progress, the
# planners' goal reward -|x - g| being x - g while x < g.
_FAR = 1e3


def cheetah_run() -> Task:
  return Task(name="cheetah_run", environment="HalfCheetah-v1",
              summary="HalfCheetah's x velocity (forward)", reset=_no_state,
              reward=_x_velocity(1.0), goal=lambda state: np.array([_FAR]))


def cheetah_back() -> Task:
  return Task(name="cheetah_back", environment="HalfCheetah-v1",
              summary="minus HalfCheetah's x velocity (backward)", reset=_no_state,
              reward=_x_velocity(-1.0), goal=lambda state: np.array([-_FAR]))


TASKS: dict[str, Callable[[], Task]] = {
    "ant_goal": ant_goal, "ant_goal_sparse": ant_goal_sparse, "ant_waypoints": ant_waypoints,
    "cheetah_run": cheetah_run, "cheetah_back": cheetah_back}


class TaskError(ValueError):
  """A task that cannot be found or does not fit the skills; one line naming --task."""


def get_task(name: str) -> Task:
  """A shipped task by name, or `module:function` (a function of no arguments returning
  a Task, in an importable module). TaskError naming --task otherwise."""
  if name in TASKS:
    return TASKS[name]()
  if ":" not in name:
    raise TaskError(f"--task={name}: unknown; known: {', '.join(TASKS)}, or module:function "
                    "for a task of your own")
  module_name, _, function_name = name.partition(":")
  try:
    module = importlib.import_module(module_name)
  except Exception as err:  # a user's module may fail in any way while importing
    raise TaskError(f"--task={name}: cannot import {module_name} "
                    f"({type(err).__name__}: {err})") from None
  function = getattr(module, function_name, None)
  if not callable(function):
    raise TaskError(f"--task={name}: {module_name} has no function {function_name}")
  task = function()
  if not isinstance(task, Task):
    raise TaskError(f"--task={name}: {name}() returned a {type(task).__name__}, not a "
                    "unsupervised_skill_learning.downstream.tasks.Task")
  return task


def check_environment(task: Task, environment: str, skills_path: str) -> None:
  """TaskError unless the skills were trained on the task's environment."""
  if task.environment != environment:
    raise TaskError(f"--task={task.name} needs skills trained on {task.environment}; "
                    f"--skills={skills_path} were trained on {environment}")
