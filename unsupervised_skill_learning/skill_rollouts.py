"""Running one skill for an episode and recording what it did (video, x-y path)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence

import jax
import numpy as np

from envs import SkillWrapper, lookup
from lib import plots, rendering, video
from unsupervised_skill_learning.collector import to_env_action

# policy(obs_with_skill [obs_dim + skill_dim]) -> action [action_dim]
Policy = Callable[[np.ndarray], np.ndarray]


class PolicyFn:
  """The policy's actions in the environment's bounds, for obs ⊕ skill (or batches).

  Deterministic (the mean action) by default, as the training videos use it; evaluation
  chooses with --deterministic_eval (see evaluate.policy_of).
  """

  def __init__(self, learner, actor, env, *, clip: float = 1.0, deterministic: bool = True,
               seed: int = 0):
    self.learner, self.actor = learner, actor
    self.obs_dim = env.obs_dim
    self.clip = min(clip, 1.0)
    self.deterministic = deterministic
    space = env.action_space
    self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
    self.key = jax.random.key(seed)
    self.t = 0

  def batch(self, obs: np.ndarray) -> np.ndarray:
    action, _ = self.learner.policy_step(self.actor, obs[:, :self.obs_dim], obs[:, self.obs_dim:],
                                         self.key, self.t, self.clip,
                                         deterministic=self.deterministic)
    self.t += 1
    return to_env_action(action, self.low, self.high)

  def __call__(self, obs: np.ndarray) -> np.ndarray:
    return self.batch(obs[None])[0]


def renderer_for(env_name: str, env) -> rendering.FrameRenderer:
  """The environment's video camera: tracking a robot, or fixed over an arena."""
  entry = lookup(env_name)
  return rendering.FrameRenderer(env.unwrapped.model, distance=entry.camera_distance,
                                 track_body=1 if entry.camera_tracks_robot else None,
                                 elevation=-45.0 if entry.camera_tracks_robot else -70.0)


@dataclasses.dataclass
class SkillRollout:
  skill: np.ndarray          # [skill_dim]
  observations: np.ndarray   # [T + 1, obs_dim], without the skill
  frames: list               # [T + 1] uint8 [H, W, 3], empty when not rendered


def rollout_skill(env: SkillWrapper, policy: Policy, skill: np.ndarray, *,
                  renderer: rendering.FrameRenderer | None = None) -> SkillRollout:
  """Runs `skill` from a fresh reset until the episode ends."""
  env.set_preset_skill(skill)
  obs, _ = env.reset()
  observations, frames = [obs[:env.obs_dim]], []
  if renderer is not None:
    frames.append(renderer.render(env.unwrapped.data))
  done = False
  while not done:
    obs, _, terminated, truncated, _ = env.step(policy(obs))
    observations.append(obs[:env.obs_dim])
    if renderer is not None:
      frames.append(renderer.render(env.unwrapped.data))
    done = terminated or truncated
  env.set_preset_skill(None)
  return SkillRollout(np.asarray(skill, np.float32), np.asarray(observations), frames)


def record_skills(env: SkillWrapper, env_name: str, policy: Policy,
                  skills: Sequence[np.ndarray], out_dir: str, *, vid_name: str = "skill",
                  render: bool = True, predicted: Sequence[np.ndarray] | None = None,
                  fps: int = 20) -> list[SkillRollout]:
  """One mp4 per skill (`<vid_name>_<i>.mp4`), `traj_plot.png` of the x-y paths and
  `skills.json` (each skill and its final x-y) in out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  renderer = renderer_for(env_name, env) if render else None
  try:
    rollouts = [rollout_skill(env, policy, z, renderer=renderer) for z in skills]
  finally:
    if renderer is not None:
      renderer.close()
  for i, r in enumerate(rollouts):
    if r.frames:
      video.write_mp4(os.path.join(out_dir, f"{vid_name}_{i}.mp4"), r.frames, fps=fps)
  position_dims = lookup(env_name).spec.num_hidden
  paths = [_xy(r.observations, position_dims) for r in rollouts]
  labels = ["z=" + np.array2string(r.skill, precision=2, separator=",") for r in rollouts]
  plots.plot_trajectories(os.path.join(out_dir, "traj_plot.png"), paths, labels=labels,
                          predicted=predicted, title=f"{env_name}: skill trajectories")
  meta = [{"skill": r.skill.tolist(), "final_xy": paths[i][-1].tolist(),
           "video": f"{vid_name}_{i}.mp4" if r.frames else None}
          for i, r in enumerate(rollouts)]
  with open(os.path.join(out_dir, "skills.json"), "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=1)
  return rollouts


def _xy(observations: np.ndarray, position_dims: int) -> np.ndarray:
  """[T, obs_dim] -> [T, 2] to draw: x-y for planar robots; a 1-D position (HalfCheetah)
  against time / 100; the first two observations when the env declares no position."""
  if position_dims == 1:
    return np.stack([observations[:, 0], np.arange(len(observations)) / 100.0], axis=1)
  return observations[:, :2]


def rollout_skills_batched(envs: Sequence[SkillWrapper], policy_batch: Callable,
                           skills: np.ndarray) -> np.ndarray:
  """Runs skills[i] in envs[i], all in lockstep with one batched policy call per step.

  policy_batch(obs [N, obs_dim + skill_dim]) -> actions [N, action_dim].
  Returns observations [N, T + 1, obs_dim] (an env that terminates early repeats its
  last observation).
  """
  obs = []
  for env, z in zip(envs, skills):
    env.set_preset_skill(z)
    obs.append(env.reset()[0])
  obs = np.stack(obs)
  obs_dim = envs[0].obs_dim
  history, alive = [obs[:, :obs_dim].copy()], np.ones(len(envs), bool)
  while alive.any():
    actions = policy_batch(obs)
    for i, env in enumerate(envs):
      if alive[i]:
        obs[i], _, terminated, truncated, _ = env.step(actions[i])
        alive[i] = not (terminated or truncated)
    history.append(obs[:, :obs_dim].copy())
  for env in envs:
    env.set_preset_skill(None)
  return np.stack(history, 1)
