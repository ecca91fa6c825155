"""MuJoCo locomotion robots with the observation layouts DADS used.

Built on Gymnasium's v5 models, configured so that the observation is qpos followed by
qvel with the global position first (the original's 'v1' layouts). `step` is lean: one
mj_step call of `frame_skip` sub-steps and no contact-force bookkeeping, since DADS
trains on intrinsic reward and only logs the environment's reward.
"""

from __future__ import annotations

import mujoco
import numpy as np
from gymnasium.envs.mujoco import ant_v5, half_cheetah_v5, humanoid_v5

from envs.goal import GoalReachingMixin


_DIVERGENCE_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                        mujoco.mjtWarning.mjWARN_BADQACC)


def _warning_count(data) -> int:
  return sum(int(data.warning[w].number) for w in _DIVERGENCE_WARNINGS)


def _finite(obs: np.ndarray) -> bool:
  return bool(np.all(np.isfinite(obs)))


class _LeanStepMixin:
  """Shared lean step: simulate, observe, terminate only on a non-finite state."""

  def _simulate(self, action: np.ndarray) -> tuple[np.ndarray, float, float, bool]:
    """Returns (obs, forward velocity, |a|^2, diverged).

    MuJoCo silently resets a state that became non-finite (and counts a warning), so a
    diverged simulation is detected from those counters as well as from the observation.
    """
    before = float(self.data.qpos[0])
    warnings = _warning_count(self.data)
    self.data.ctrl[:] = action
    mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
    obs = self._get_obs()
    diverged = _warning_count(self.data) > warnings or not _finite(obs)
    velocity = (float(self.data.qpos[0]) - before) / self.dt
    return obs, velocity, float(np.sum(np.square(action))), diverged


class AntEnv(_LeanStepMixin, ant_v5.AntEnv):
  """Ant-v1 as in DADS: obs = qpos[:15] + qvel[:14] (29 numbers, torso x-y first).

  No termination except on a non-finite state. Reward (logged only) = forward velocity
  - 0.5 |a|^2 + 1, Gymnasium's Ant reward without the contact cost.
  """

  def __init__(self, **kwargs):
    super().__init__(exclude_current_positions_from_observation=False,
                     include_cfrc_ext_in_observation=False,
                     terminate_when_unhealthy=False, **kwargs)

  def step(self, action):
    obs, velocity, ctrl_cost, diverged = self._simulate(action)
    return obs, velocity - 0.5 * ctrl_cost + 1.0, diverged, False, {"x_velocity": velocity}


class AntGoalEnv(GoalReachingMixin, AntEnv):
  """Ant-v1_goal: Ant dynamics, reward = -||xy - goal|| (see GoalReachingMixin)."""


class HalfCheetahEnv(_LeanStepMixin, half_cheetah_v5.HalfCheetahEnv):
  """HalfCheetah-v1: obs = qpos (9) + qvel (9), torso x first; never terminates
  (except on a non-finite state). Reward (logged only) = forward velocity - 0.1 |a|^2."""

  def __init__(self, **kwargs):
    super().__init__(exclude_current_positions_from_observation=False, **kwargs)

  def _initialize_simulation(self):
    """Gymnasium's model, compiled without its deprecated `<compiler settotalmass>`.

    MuJoCo's compiler prints (from C, to stderr and MUJOCO_LOG.TXT: no Python warning to
    filter) a deprecation warning for that attribute at every compile, i.e. for every
    HalfCheetah made. We compile without it and scale the masses as the warning advises
    (mj_setTotalmass, then mj_setConst): the same model, every array equal.
    """
    spec = mujoco.MjSpec.from_file(self.fullpath)
    total_mass = spec.compiler.settotalmass
    spec.compiler.settotalmass = -1.0  # MuJoCo's 'unset'
    model = spec.compile()
    # As MujocoEnv does: grow the offscreen framebuffer to the requested render size.
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
    data = mujoco.MjData(model)
    if total_mass > 0:
      mujoco.mj_setTotalmass(model, total_mass)
      mujoco.mj_setConst(model, data)
    return model, data

  def step(self, action):
    obs, velocity, ctrl_cost, diverged = self._simulate(action)
    return obs, velocity - 0.1 * ctrl_cost, diverged, False, {"x_velocity": velocity}


class HumanoidEnv(_LeanStepMixin, humanoid_v5.HumanoidEnv):
  """Humanoid-v1: obs = qpos (24) + qvel (23), torso x-y first. Terminates when the torso
  height leaves Gymnasium's healthy range (1, 2) or the state is non-finite.
  Reward (logged only) = forward velocity + 5 - 0.1 |a|^2 (Gymnasium's weights)."""

  def __init__(self, **kwargs):
    super().__init__(exclude_current_positions_from_observation=False,
                     include_cinert_in_observation=False, include_cvel_in_observation=False,
                     include_qfrc_actuator_in_observation=False,
                     include_cfrc_ext_in_observation=False, **kwargs)

  def step(self, action):
    obs, velocity, ctrl_cost, diverged = self._simulate(action)
    terminated = diverged or not self.is_healthy
    return obs, 1.25 * velocity + 5.0 - 0.1 * ctrl_cost, terminated, False, {"x_velocity": velocity}
