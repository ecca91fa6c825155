"""Running skills and showing what they do: rollouts, videos, trajectory plots, the skill
dynamics' predicted paths and coverage. Used by training (a video round every
--record_freq epochs) and by --run_eval=1."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs import SkillWrapper, lookup
from lib import plots, rendering, video
from lib.atomic import atomic_write_json
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.backends.host import to_env_action

# policy(obs [obs_dim], skill [dz]) -> action [action_dim] in the env's bounds
PolicyCallable = Callable[[np.ndarray, np.ndarray], np.ndarray]
COVERAGE_SKILLS = 48


class PolicyFn:
  """Policy.act for acting in an environment: env-bounded actions for (obs, skill).

  Step t acts with key fold_in(key, t) (one device call per step). Deterministic (the
  mean action) by default, as the training videos use it; evaluation chooses with
  --deterministic_eval.
  """

  def __init__(self, policy: Policy, actor, env, *, clip: float = 1.0,
               deterministic: bool = True, seed: int = 0):
    self.actor = actor
    self.clip = min(clip, 1.0)
    self.deterministic = deterministic
    space = env.action_space
    self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
    self.key = jax.random.key(seed)
    self.t = 0
    self.policy = policy

  def batch(self, obs: np.ndarray, skill: np.ndarray) -> np.ndarray:
    """obs [N, obs_dim], skill [N, dz] -> actions [N, action_dim]."""
    action, _ = self.policy.act_step(self.actor, obs, skill, self.key, self.t, self.clip,
                                     deterministic=self.deterministic)
    self.t += 1
    return to_env_action(action, self.low, self.high)

  def __call__(self, obs: np.ndarray, skill: np.ndarray) -> np.ndarray:
    return self.batch(obs[None], skill[None])[0]


@dataclasses.dataclass(frozen=True)
class EvalEnvs:
  """How evaluation makes environments: whose skill never changes by itself (evaluation
  sets it), with the run's episode length and physics (an MJX-trained run is evaluated
  on CPU MuJoCo with the MJX solver options)."""

  name: str
  prior: SkillPrior
  max_env_steps: int
  physics: str = "default"

  def make(self, rng: np.random.Generator) -> SkillWrapper:
    return envs.make_skill_env(self.name, self.prior, rng, max_env_steps=self.max_env_steps,
                               min_steps_before_resample=10**9, resample_prob=0.0,
                               physics=self.physics)

  def run(self, policy_for: Callable[[SkillWrapper], "PolicyFn"], skills: np.ndarray,
          env_seed: int) -> "BatchedEpisodes":
    """skills [N, dz], one episode each in N fresh environments (seeded from env_seed),
    all in lockstep with one batched policy call per step."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(env_seed).spawn(len(skills))]
    batch_envs = [self.make(r) for r in rngs]
    try:
      return run_batched(batch_envs, policy_for(batch_envs[0]).batch, skills)
    finally:
      for env in batch_envs:
        env.close()


def make_eval_env(env_name: str, prior: SkillPrior, rng: np.random.Generator,
                  max_env_steps: int, physics: str = "default") -> SkillWrapper:
  """EvalEnvs(...).make(rng): one evaluation environment."""
  return EvalEnvs(env_name, prior, max_env_steps, physics).make(rng)


def renderer_for(env_name: str, env) -> rendering.FrameRenderer | rendering.EnvFrameRenderer:
  """The environment's video camera: tracking a robot, or fixed over an arena; for envs
  without a MuJoCo model (Box2D, classic control), the env's own rgb_array frames."""
  entry = lookup(env_name)
  if entry.renders_itself:
    return rendering.EnvFrameRenderer(env)
  elevation = entry.camera_elevation
  if elevation is None:
    elevation = -45.0 if entry.camera_tracks_robot else -70.0
  return rendering.FrameRenderer(env.unwrapped.model, distance=entry.camera_distance,
                                 track_body=1 if entry.camera_tracks_robot else None,
                                 elevation=elevation)


def choose_skills(prior: SkillPrior, rng: np.random.Generator, num: int,
                  every_discrete_skill: bool) -> np.ndarray:
  """The skills a video round shows [K, dz].

  A discrete prior shows its skills in order, each once before any repeats (K = num, or
  K = the number of skills with every_discrete_skill): random draws would show some
  skills twice and others never. Other priors: `num` draws from the prior.
  """
  if prior.is_discrete:
    count = prior.dim if every_discrete_skill else num
    return prior.enumerate()[np.arange(count) % prior.dim]
  return prior.sample(rng, num)


@dataclasses.dataclass
class SkillRollout:
  skill: np.ndarray          # [skill_dim]
  observations: np.ndarray   # [T + 1, obs_dim]; T < max_env_steps when the robot fell
  frames: list               # [T + 1] uint8 [H, W, 3], empty when not rendered
  episode_return: float = 0.0  # the sum of the environment's own rewards (not intrinsic)
  video: str | None = None     # the episode's mp4, when run_skills filmed it

  @property
  def steps(self) -> int:
    """T: the steps the episode lasted."""
    return len(self.observations) - 1


def pad_episodes(episodes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Episodes [T_i + 1, d] of different lengths (robots that fall end early) ->
  (observations [K, max T_i + 1, d], each episode's last observation repeated after its
  end, as a fallen robot stays where it ended; steps [K] int, the T_i)."""
  steps = np.array([len(e) - 1 for e in episodes], np.int64)
  longest = int(steps.max()) + 1
  padded = [np.concatenate([e, np.repeat(e[-1:], longest - len(e), axis=0)]) for e in episodes]
  return np.stack(padded), steps


def steps_label(skill: np.ndarray, steps: int, prior: SkillPrior | None = None) -> str:
  """A skill's legend entry: 'z=[ 0.5,-1. ] (37 steps)', or 'skill 3 (37 steps)' for a
  discrete prior (a one-hot vector is long and says only its index)."""
  if prior is not None and prior.is_discrete:
    return f"skill {skill_label(skill, prior)} ({steps} steps)"
  return f"z={np.array2string(skill, precision=2, separator=',')} ({steps} steps)"


# predict(rollouts) -> each rollout's predicted path [T_i + 1, 2], or None
PredictFn = Callable[[Sequence[SkillRollout]], Sequence[np.ndarray] | None]


def rollout_skill(env: SkillWrapper, policy: PolicyCallable, skill: np.ndarray, *,
                  renderer: rendering.FrameRenderer | rendering.EnvFrameRenderer | None = None,
                  ) -> SkillRollout:
  """Runs `skill` from a fresh reset until the episode ends."""
  env.set_preset_skill(skill)
  obs, _ = env.reset()
  observations, frames, episode_return = [obs["observation"]], [], 0.0
  if renderer is not None:
    frames.append(renderer.capture(env))
  done = False
  while not done:
    obs, reward, terminated, truncated, _ = env.step(policy(obs["observation"], obs["skill"]))
    observations.append(obs["observation"])
    episode_return += float(reward)
    if renderer is not None:
      frames.append(renderer.capture(env))
    done = terminated or truncated
  env.set_preset_skill(None)
  return SkillRollout(np.asarray(skill, np.float32), np.asarray(observations), frames,
                      episode_return)


def run_skills(env: SkillWrapper, env_name: str, policy: PolicyCallable,
               skills: Sequence[np.ndarray], *, video_dir: str | None = None,
               video_names: Sequence[str] | None = None, fps: int = 20,
               keep_frames: bool = True) -> list[SkillRollout]:
  """Runs each of skills [K, dz] once from a fresh reset (rollout_skill), one after the
  other. With video_dir, each episode is filmed with the environment's camera and
  written to video_dir/video_names[i] (default skill_<i>.mp4) as soon as it ends
  (rollout.video); keep_frames=False then drops its frames, so long runs of episodes do
  not hold every frame in memory."""
  renderer = renderer_for(env_name, env) if video_dir is not None else None
  if video_names is None:
    video_names = [f"skill_{i}.mp4" for i in range(len(skills))]
  rollouts = []
  try:
    for i, z in enumerate(skills):
      rollout = rollout_skill(env, policy, z, renderer=renderer)
      if rollout.frames:
        rollout.video = video.write_mp4(os.path.join(video_dir, video_names[i]),
                                        rollout.frames, fps=fps)
        if not keep_frames:
          rollout.frames = []
      rollouts.append(rollout)
  finally:
    if renderer is not None:
      renderer.close()
  return rollouts


def path_to_plot(observations: np.ndarray, position_indices: tuple[int, ...]) -> np.ndarray:
  """[T, obs_dim] -> [T, 2] to draw: the x-y position of planar robots; a 1-D position
  against time / 100 (HalfCheetah); the first two observations when the env declares no
  position."""
  if len(position_indices) == 1:
    return np.stack([observations[:, position_indices[0]],
                     np.arange(len(observations)) / 100.0], axis=1)
  if len(position_indices) >= 2:
    return observations[:, list(position_indices[:2])]
  return observations[:, :2]


def plot_axes(entry: envs.registry.EnvEntry) -> tuple[str, str]:
  """The axis names of path_to_plot's two coordinates: robot positions in metres, else
  the environment's first two observation names (obs[i] where unknown)."""
  positions = entry.spec.position_indices
  if len(positions) == 1:
    return "x (m)", "time (steps / 100)"
  if len(positions) >= 2:
    return "x (m)", "y (m)"
  names = entry.observation_names
  return (names[0], names[1]) if len(names) >= 2 else ("obs[0]", "obs[1]")


def record_skills(env: SkillWrapper, env_name: str, policy: PolicyCallable,
                  skills: Sequence[np.ndarray], out_dir: str, *, vid_name: str = "skill",
                  render: bool = True, predict: PredictFn | None = None,
                  fps: int = 20, title: str = "skill trajectories") -> list[SkillRollout]:
  """One mp4 per skill (`<vid_name>_<i>.mp4`), `traj_plot.png` of the paths (labelled
  with each episode's length; titled '<env_name>: <title>') and `skills.json` (each
  skill, its final position, the steps its episode lasted and its return of the
  environment's reward) in out_dir.

  predict(rollouts) -> predicted paths [T_i + 1, 2] (or None) to draw dashed beside the
  actual ones, e.g. `predicted_paths` bound to a trained model's skill dynamics.
  """
  os.makedirs(out_dir, exist_ok=True)
  rollouts = run_skills(env, env_name, policy, skills, video_dir=out_dir if render else None,
                        video_names=[f"{vid_name}_{i}.mp4" for i in range(len(skills))],
                        fps=fps)
  entry = lookup(env_name)
  positions = entry.spec.position_indices
  paths = [path_to_plot(r.observations, positions) for r in rollouts]
  labels = [steps_label(r.skill, r.steps, env.prior) for r in rollouts]
  plots.plot_trajectories(os.path.join(out_dir, "traj_plot.png"), paths, labels=labels,
                          predicted=predict(rollouts) if predict is not None else None,
                          title=f"{env_name}: {title}", axes=plot_axes(entry),
                          planar=len(positions) >= 2)
  meta = [{"skill": r.skill.tolist(), "final_position": paths[i][-1].tolist(),
           "steps": r.steps, "return": r.episode_return,
           "video": os.path.basename(r.video) if r.video else None}
          for i, r in enumerate(rollouts)]
  atomic_write_json(os.path.join(out_dir, "skills.json"), meta)
  return rollouts


@dataclasses.dataclass
class BatchedEpisodes:
  observations: np.ndarray  # [N, T + 1, obs_dim], padded as pad_episodes pads them
  steps: np.ndarray         # [N] int: the steps each episode lasted
  returns: np.ndarray       # [N]: the sum of each episode's environment rewards


def run_batched(skill_envs: Sequence[SkillWrapper], policy_batch: Callable,
                skills: np.ndarray) -> BatchedEpisodes:
  """Runs skills[i] [N, dz] in skill_envs[i] for one episode each, all in lockstep with
  one batched policy call per step.

  policy_batch(obs [N, obs_dim], skill [N, dz]) -> actions [N, action_dim]. An env whose
  episode ends early repeats its last observation (pad_episodes).
  """
  obs = []
  for env, z in zip(skill_envs, skills):
    env.set_preset_skill(z)
    obs.append(env.reset()[0]["observation"])
  obs = np.stack(obs)
  skill = np.asarray(skills, np.float32)
  episodes, alive = [[o.copy()] for o in obs], np.ones(len(skill_envs), bool)
  returns = np.zeros(len(skill_envs))
  while alive.any():
    # The policy acts for every env (one call, fixed shapes); ended envs ignore it.
    actions = policy_batch(obs, skill)
    for i, env in enumerate(skill_envs):
      if alive[i]:
        o, reward, terminated, truncated, _ = env.step(actions[i])
        obs[i] = o["observation"]
        returns[i] += float(reward)
        episodes[i].append(obs[i].copy())
        alive[i] = not (terminated or truncated)
  for env in skill_envs:
    env.set_preset_skill(None)
  observations, steps = pad_episodes([np.stack(e) for e in episodes])
  return BatchedEpisodes(observations, steps, returns)


def skill_returns(eval_envs: EvalEnvs, policy_for: Callable[[SkillWrapper], PolicyFn],
                  skills: np.ndarray, rng: np.random.Generator, episodes: int) -> dict:
  """Each of skills [K, dz] for `episodes` episodes (E), from different start states,
  all K * E in lockstep. Returns the environment's episode returns and lengths per skill:
  {"skills": [K][dz], "episode_returns": [K][E], "episode_lengths": [K][E],
   "mean_return": [K], "std_return": [K]}."""
  skills = np.asarray(skills, np.float32)
  out = eval_envs.run(policy_for, np.repeat(skills, episodes, axis=0), int(rng.integers(2**63)))
  returns = out.returns.reshape(len(skills), episodes)
  return {"skills": skills.tolist(), "episode_returns": returns.tolist(),
          "episode_lengths": out.steps.reshape(len(skills), episodes).tolist(),
          "mean_return": returns.mean(1).tolist(), "std_return": returns.std(1).tolist()}


def skill_label(skill: np.ndarray, prior: SkillPrior) -> str:
  """A skill's short name: its index for a discrete prior ('3'), else its coordinates
  ('0.3,-0.5')."""
  skill = np.asarray(skill)
  if prior.is_discrete:
    return str(int(np.argmax(skill)))
  return ",".join(f"{v:.2g}" for v in skill)


def predicted_paths(objective, objective_state, reduced_indices: tuple[int, ...],
                    position_positions: tuple[int, ...] | None,
                    rollouts: Sequence[SkillRollout]) -> list[np.ndarray] | None:
  """Open-loop skill-dynamics predictions of each rollout's path [T_i + 1, 2], from its
  first observation under its skill, as long as the episode lasted; None without skill
  dynamics or a 2-D position."""
  if objective.dynamics is None or position_positions is None or len(position_positions) != 2:
    return None
  dyn, dyn_state = objective.dynamics, objective.dynamics_state(objective_state)
  lengths = [r.steps for r in rollouts]
  steps = max(lengths)

  @jax.jit
  def predict(s0, z):
    def body(s, _):
      s = dyn.predict_next(dyn_state, s, z)
      return s, s
    _, states = jax.lax.scan(body, s0, None, length=steps)
    return jnp.concatenate([s0[:, None], states.swapaxes(0, 1)], 1)

  s0 = np.stack([r.observations[0] for r in rollouts])[:, np.asarray(reduced_indices)]
  skills = np.stack([r.skill for r in rollouts])
  states = np.asarray(predict(jnp.asarray(s0), jnp.asarray(skills)))
  return [p[:n + 1, list(position_positions)] for p, n in zip(states, lengths)]


def coverage_paths(eval_envs: EvalEnvs, policy_for: Callable[[SkillWrapper], PolicyFn],
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """COVERAGE_SKILLS prior skills run once each: (positions [K, T + 1, P] over the env's
  position coordinates, padded after a fall as pad_episodes pads; steps [K])."""
  positions = list(envs.lookup(eval_envs.name).spec.position_indices)
  env_seed = int(rng.integers(2**63))  # drawn before the skills, as it always was
  out = eval_envs.run(policy_for, eval_envs.prior.sample(rng, COVERAGE_SKILLS), env_seed)
  return out.observations[..., positions], out.steps


def coverage_summary(pos: np.ndarray, steps: np.ndarray, cell: float) -> dict:
  """Distinct cells of side `cell` visited by paths pos [K, T + 1, P], the spread of the
  final positions, and how many steps the episodes lasted [K]."""
  cells = np.unique(np.floor(pos.reshape(-1, pos.shape[-1]) / cell).astype(np.int64), axis=0)
  final = pos[:, -1]
  return {"cells_visited": int(len(cells)), "cell_size": cell,
          "final_xy_spread": float(np.sqrt(np.mean(np.sum((final - final.mean(0))**2, -1)))),
          "mean_final_distance": float(np.mean(np.linalg.norm(final - pos[:, 0], axis=-1))),
          "mean_episode_length": float(steps.mean())}


def coverage(eval_envs: EvalEnvs, policy_for: Callable[[SkillWrapper], PolicyFn],
             rng: np.random.Generator) -> dict:
  """coverage_summary of coverage_paths, in the registry's coverage_cell (robots that
  fall end early)."""
  pos, steps = coverage_paths(eval_envs, policy_for, rng)
  return coverage_summary(pos, steps, envs.lookup(eval_envs.name).coverage_cell)
