"""The skill wrapper: a skill z beside every observation, and the time limit."""

from __future__ import annotations

from typing import Any

import gymnasium
import mujoco
import numpy as np

from lib.skill_prior import SkillPrior


class SkillWrapper(gymnasium.Wrapper):
  """Observation = {"observation": float32 [obs_dim], "skill": float32 [skill_dim]}: the
  skill travels beside the env's observation, never inside it.

  A skill is drawn from `prior` at reset (or `preset_skill`, for evaluation), and may be
  redrawn within the episode: once `min_steps_before_resample` steps have passed since
  the last draw, each step redraws with probability `resample_prob`. The episode is
  truncated (not terminated) after `max_env_steps` steps.

  The skill returned with `step`'s observation is the one the next action will be taken
  under; the transition's own skill is the one returned with the previous observation
  (the collector stores that one with the transition).
  """

  def __init__(self, env: gymnasium.Env, prior: SkillPrior, rng: np.random.Generator, *,
               max_env_steps: int, min_steps_before_resample: int = 2000,
               resample_prob: float = 0.0, preset_skill: np.ndarray | None = None):
    super().__init__(env)
    if max_env_steps <= 0:
      raise ValueError(f"max_env_steps must be positive; got {max_env_steps}")
    if not 0.0 <= resample_prob <= 1.0:
      raise ValueError(f"resample_prob must be in [0, 1]; got {resample_prob}")
    self.prior = prior
    self.rng = rng
    self.max_env_steps = max_env_steps
    self.min_steps_before_resample = min_steps_before_resample
    self.resample_prob = resample_prob
    self.preset_skill = None
    if preset_skill is not None:
      self.set_preset_skill(preset_skill)
    self.obs_dim = int(np.prod(env.observation_space.shape))
    self.observation_space = gymnasium.spaces.Dict({
        "observation": gymnasium.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32),
        "skill": gymnasium.spaces.Box(-np.inf, np.inf, (prior.dim,), np.float32)})
    self.skill = np.zeros(prior.dim, np.float32)
    self._obs = np.zeros(self.obs_dim, np.float32)
    self.elapsed_steps = 0
    self._steps_since_draw = 0

  def set_preset_skill(self, skill: np.ndarray | None) -> None:
    """Fixes the skill for every following episode (None goes back to sampling)."""
    if skill is not None:
      skill = np.asarray(skill, np.float32)
      if skill.shape != (self.prior.dim,):
        raise ValueError(f"a skill has shape ({self.prior.dim},); got {skill.shape}")
    self.preset_skill = skill

  def set_skill(self, skill: np.ndarray) -> None:
    """Switches the skill now, mid-episode (used by planners between primitives)."""
    self.skill = np.asarray(skill, np.float32).reshape(self.prior.dim)

  def _draw(self) -> None:
    self.skill = (self.preset_skill.copy() if self.preset_skill is not None
                  else self.prior.sample(self.rng))
    self._steps_since_draw = 0

  def _augment(self, obs: np.ndarray) -> dict[str, np.ndarray]:
    self._obs = np.asarray(obs, np.float32)
    return {"observation": self._obs.copy(), "skill": self.skill.copy()}

  def reset(self, *, seed=None, options=None):
    obs, info = self.env.reset(seed=seed, options=options)
    self.elapsed_steps = 0
    self._draw()
    return self._augment(obs), info

  def step(self, action):
    obs, reward, terminated, truncated, info = self.env.step(action)
    self.elapsed_steps += 1
    self._steps_since_draw += 1
    truncated = bool(truncated or self.elapsed_steps >= self.max_env_steps)
    if (self._steps_since_draw >= self.min_steps_before_resample
        and self.rng.random() < self.resample_prob):
      self._draw()
    return self._augment(obs), reward, bool(terminated), truncated, info

  # Exact resume: everything that decides the next steps, physics included.
  def get_state(self) -> dict[str, Any]:
    base = self.env.unwrapped
    state = {
        "skill": self.skill.copy(), "obs": self._obs.copy(),
        "elapsed_steps": self.elapsed_steps, "steps_since_draw": self._steps_since_draw,
        "rng": self.rng.bit_generator.state,
        "env_rng": base.np_random.bit_generator.state,
    }
    if hasattr(base, "model") and hasattr(base, "data"):
      spec = mujoco.mjtState.mjSTATE_INTEGRATION
      physics = np.empty(mujoco.mj_stateSize(base.model, spec))
      mujoco.mj_getState(base.model, base.data, physics, spec)
      state["physics"] = physics
    return state

  def set_state(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
    """Restores `get_state`'s output; returns the current observation."""
    base = self.env.unwrapped
    if "physics" in state:
      mujoco.mj_setState(base.model, base.data, np.asarray(state["physics"]),
                         mujoco.mjtState.mjSTATE_INTEGRATION)
      mujoco.mj_forward(base.model, base.data)
    elif hasattr(base, "model"):
      raise ValueError("saved environment state has no physics state")
    self.skill = np.asarray(state["skill"], np.float32)
    self.elapsed_steps = int(state["elapsed_steps"])
    self._steps_since_draw = int(state["steps_since_draw"])
    self.rng.bit_generator.state = state["rng"]
    base.np_random.bit_generator.state = state["env_rng"]
    return self._augment(state["obs"])
