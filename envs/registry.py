"""Environments by name: our DADS robots, and any other Gymnasium id passed through."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium
import numpy as np

from envs import locomotion, physics as physics_options, point_mass
from envs.skill_wrapper import SkillWrapper
from envs.specs import ObservationSpec
from lib import rendering
from lib.skill_prior import SkillPrior

# Ant: qpos[3:7] is the torso orientation quaternion, qvel[0:2] (obs 15, 16) the x-y
# velocity. The heading of 'x-y-heading' is carried by that quaternion.
_ANT_SPEC = ObservationSpec(29, num_hidden=2, position_indices=(0, 1), reduced={
    1: (0,), 2: (0, 1), 3: (0, 1, 3, 4, 5, 6), 4: (0, 1, 15, 16)})
_POINT_SPEC = ObservationSpec(8, num_hidden=2, position_indices=(0, 1),
                              reduced={1: (0,), 2: (0, 1), 3: (0, 1, 2)})
_HUMANOID_SPEC = ObservationSpec(47, num_hidden=2, position_indices=(0, 1),
                                 reduced={1: (0,), 2: (0, 1)})
_CHEETAH_SPEC = ObservationSpec(18, num_hidden=1, position_indices=(0,), reduced={1: (0,)})


@dataclasses.dataclass(frozen=True)
class EnvEntry:
  factory: Callable[[], gymnasium.Env]  # builds the environment with the XML's own options
  spec: ObservationSpec
  goal_env: str | None = None  # The goal-reaching twin used by evaluation.
  default_goals: tuple[tuple[float, float], ...] = ()
  camera_distance: float | None = None  # None: where the robot fills most of the frame
  camera_tracks_robot: bool = True  # False: a fixed camera over the arena.
  camera_elevation: float | None = None  # degrees; None: -45 tracking a robot, -70 over an arena
  goal_tolerance: float = 1.5  # 'reached' radius of the goal-reaching report
  coverage_cell: float = 1.0   # side of the x-y cells counted by the coverage metric
  name: str | None = None  # the registry name; None for a Gymnasium pass-through
  # True for Gymnasium envs without a MuJoCo model (Box2D, classic control): videos are
  # the env's own render_mode="rgb_array" frames, not our MuJoCo camera's.
  renders_itself: bool = False
  # Names (with units where the environment states them) of the first observations, for
  # the axes of plots of an environment without a declared position; () when unknown.
  observation_names: tuple[str, ...] = ()

  def make(self, physics: str = "default") -> gymnasium.Env:
    """A fresh environment. physics="default": the model's own (XML) options;
    "mjx": `envs.physics.MJX_OPTIONS` applied to its model (as the MJX backend runs it),
    so CPU evaluation of an MJX-trained run simulates the same physics."""
    if physics not in physics_options.PHYSICS_CHOICES:
      raise ValueError(f"physics={physics!r}: allowed: "
                       f"{', '.join(physics_options.PHYSICS_CHOICES)}")
    options = None
    if physics == "mjx":
      options = physics_options.mjx_options(str(self.name))
    env = self.factory()
    if options is not None:
      physics_options.apply(env.unwrapped.model, options)
    return env


# The paper's goals for Ant; point_mass's are scaled into its [-2, 2]^2 arena (and its
# 'reached' radius and coverage cells scaled alike).
ANT_GOALS = ((10.0, 10.0), (-10.0, 10.0), (-10.0, -10.0), (10.0, -10.0), (0.0, -10.0),
             (5.0, 10.0))
POINT_MASS_GOALS = tuple((x / 6.0, y / 6.0) for x, y in ANT_GOALS)

_ENTRIES: dict[str, EnvEntry] = {
    "Ant-v1": EnvEntry(locomotion.AntEnv, _ANT_SPEC, "Ant-v1_goal", ANT_GOALS, 8.0),
    "Ant-v1_goal": EnvEntry(lambda: locomotion.AntGoalEnv(goal=ANT_GOALS[0]), _ANT_SPEC,
                            "Ant-v1_goal", ANT_GOALS, 8.0),
    "HalfCheetah-v1": EnvEntry(locomotion.HalfCheetahEnv, _CHEETAH_SPEC, camera_distance=6.0),
    "Humanoid-v1": EnvEntry(locomotion.HumanoidEnv, _HUMANOID_SPEC, camera_distance=6.0),
    "point_mass": EnvEntry(point_mass.PointMassEnv, _POINT_SPEC, "point_mass_goal",
                           POINT_MASS_GOALS, 6.5, camera_tracks_robot=False,
                           goal_tolerance=0.25, coverage_cell=0.25),
    "point_mass_goal": EnvEntry(lambda: point_mass.PointMassGoalEnv(goal=POINT_MASS_GOALS[0]),
                                _POINT_SPEC, "point_mass_goal", POINT_MASS_GOALS, 6.5,
                                camera_tracks_robot=False, goal_tolerance=0.25,
                                coverage_cell=0.25),
}
REGISTRY: dict[str, EnvEntry] = {name: dataclasses.replace(entry, name=name)
                                  for name, entry in _ENTRIES.items()}
# Robots of the original code that this project does not ship.
NOT_SHIPPED = ("DKitty", "DClaw", "HandBlock")
# The first observations of Gymnasium environments (by name, any version), as their
# documentation names them: the axes of their trajectory plots.
OBSERVATION_NAMES: dict[str, tuple[str, ...]] = {
    "MountainCarContinuous": ("position", "velocity"),
    "Pendulum": ("cos(angle)", "sin(angle)", "angular velocity (rad/s)"),
    "BipedalWalker": ("hull angle (rad)", "hull angular velocity"),
    "BipedalWalkerHardcore": ("hull angle (rad)", "hull angular velocity"),
    "LunarLanderContinuous": ("x position", "y position", "x velocity", "y velocity"),
}


def known_environments() -> tuple[str, ...]:
  return tuple(REGISTRY)


def lookup(name: str) -> EnvEntry:
  """Our entry for `name`, or a pass-through entry for a Gymnasium id.

  Raises ValueError naming the known environments when `name` is neither.
  """
  if name in REGISTRY:
    return REGISTRY[name]
  known = ", ".join(REGISTRY)
  if any(robot in name for robot in NOT_SHIPPED):
    raise ValueError(f"--environment={name}: this robot is not shipped; known: {known}, "
                     "or any Gymnasium id")
  try:
    gym_spec = gymnasium.spec(name)
  except gymnasium.error.Error:
    raise ValueError(f"--environment={name} is unknown; known: {known}, or any registered "
                     "Gymnasium id such as Hopper-v5") from None
  try:
    probe = gymnasium.make(gym_spec, disable_env_checker=True)
  except (ImportError, gymnasium.error.Error) as err:
    # Gymnasium keeps the retired MuJoCo ids (v2, v3) registered, but they need packages
    # it no longer ships: name the current id instead of a traceback.
    newest = max((s.id for s in gymnasium.registry.values()
                  if s.name == gym_spec.name and s.namespace == gym_spec.namespace
                  and s.version is not None), key=lambda i: gymnasium.spec(i).version,
                 default=None)
    hint = f"; use --environment={newest}" if newest and newest != name else ""
    if "box2d" in str(err).lower():
      hint = f"; install the box2d extra: {rendering.BOX2D_HINT}"
    raise ValueError(f"--environment={name} cannot be made here ({str(err).splitlines()[0]})"
                     f"{hint}") from None
  obs_dim = int(np.prod(probe.observation_space.shape))
  if not isinstance(probe.action_space, gymnasium.spaces.Box):
    raise ValueError(f"--environment={name} has a discrete action space; DADS' SAC needs "
                     "continuous actions")
  is_mujoco = hasattr(probe.unwrapped, "model") and hasattr(probe.unwrapped, "data")
  probe.close()
  # MuJoCo robots are filmed by our camera, from the side and close, as Gymnasium films
  # them (Hopper, Walker2d are planar: seen from above they hide their gait); the
  # distance frames the robot. Other envs draw their own frames, which costs nothing
  # until a frame is asked for.
  render_mode = None if is_mujoco else "rgb_array"
  return EnvEntry(lambda: gymnasium.make(name, disable_env_checker=True, max_episode_steps=None,
                                         render_mode=render_mode).unwrapped,
                  ObservationSpec(obs_dim), camera_elevation=-20.0, name=name,
                  renders_itself=not is_mujoco,
                  observation_names=OBSERVATION_NAMES.get(gym_spec.name, ()))


def get_environment(name: str, physics: str = "default") -> gymnasium.Env:
  """A fresh, unwrapped environment (no time limit: SkillWrapper owns that).

  physics: "default" (the model's own options) or "mjx" (the MJX backend's options,
  `envs.physics.MJX_OPTIONS`; only for the environments the MJX backend supports and
  their goal twins).
  """
  return lookup(name).make(physics)


def make_skill_env(name: str, prior: SkillPrior, rng: np.random.Generator, *,
                   max_env_steps: int, min_steps_before_resample: int = 2000,
                   resample_prob: float = 0.0, physics: str = "default") -> SkillWrapper:
  """`get_environment(name, physics)` wrapped with skills, seeded from `rng`."""
  env = get_environment(name, physics)
  env.reset(seed=int(rng.integers(2**31 - 1)))
  env.action_space.seed(int(rng.integers(2**31 - 1)))
  return SkillWrapper(env, prior, rng, max_env_steps=max_env_steps,
                      min_steps_before_resample=min_steps_before_resample,
                      resample_prob=resample_prob)
