"""point_mass: a 2-D point with a heading, in the arena [-2, 2]^2.

Observation (8): x, y, heading (wrapped to [-pi, pi)), x-velocity, y-velocity,
heading rate, cos(heading), sin(heading) (the last two spare the policy the wrap at
+-pi). Action (2) in [-1, 1]: thrust along the heading and yaw torque. The
position is clipped to the arena after each step, and the velocity pushing outward is
zeroed, so the point slides along the walls.
"""

from __future__ import annotations

import os

import gymnasium
import mujoco
import numpy as np

from envs.goal import GoalReachingMixin

ARENA = 2.0
_XML = os.path.join(os.path.dirname(__file__), "assets", "point_mass.xml")


class PointMassEnv(gymnasium.Env):
  """A small MuJoCo env with the same interface (model, data, frame_skip) as the robots."""

  metadata = {"render_modes": []}

  def __init__(self, frame_skip: int = 5, reset_noise_scale: float = 0.1):
    self.model = mujoco.MjModel.from_xml_path(_XML)
    self.data = mujoco.MjData(self.model)
    self.frame_skip = frame_skip
    self.reset_noise_scale = reset_noise_scale
    self.dt = self.model.opt.timestep * frame_skip
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (8,), np.float64)

  def _get_obs(self) -> np.ndarray:
    qpos, qvel = self.data.qpos, self.data.qvel
    heading = (qpos[2] + np.pi) % (2 * np.pi) - np.pi
    return np.array([qpos[0], qpos[1], heading, qvel[0], qvel[1], qvel[2], np.cos(heading),
                     np.sin(heading)])

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    mujoco.mj_resetData(self.model, self.data)
    noise = self.reset_noise_scale
    self.data.qpos[:2] = self.np_random.uniform(-noise, noise, 2)
    self.data.qpos[2] = self.np_random.uniform(-noise, noise)  # facing +x, as Gymnasium's robots start
    mujoco.mj_forward(self.model, self.data)
    return self._get_obs(), {}

  def step(self, action):
    self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
    mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
    xy = self.data.qpos[:2]
    outside = np.abs(xy) > ARENA
    if np.any(outside):
      pushing_out = outside & (np.sign(self.data.qvel[:2]) == np.sign(xy))
      self.data.qpos[:2] = np.clip(xy, -ARENA, ARENA)
      self.data.qvel[:2][pushing_out] = 0.0
      mujoco.mj_forward(self.model, self.data)
    obs = self._get_obs()
    terminated = not bool(np.all(np.isfinite(obs)))
    return obs, 0.0, terminated, False, {}


class PointMassGoalEnv(GoalReachingMixin, PointMassEnv):
  """point_mass with reward -||xy - goal|| (see GoalReachingMixin)."""
