"""The host backend: Gymnasium/MuJoCo skill environments stepped in lockstep on the CPU.

One NumPy policy call (agents.policy.HostPolicy, the same function as Policy.act) serves
every environment at each step: batching amortizes the per-call overhead, which
otherwise bounds collection speed on CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

import envs
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.config import AgentConfig, EnvConfig
from lib.transition import FIELDS, Transition

# OU noise as tf-agents' OUNoisePolicy, which the original's collect_policy=ou_noise used.
OU_DAMPING, OU_STDDEV = 0.15, 0.2


def to_env_action(action, low, high):
  """Policy actions in [-1, 1] -> the environment's bounds [low, high]: the one action
  scaling. NumPy actions are scaled in float64 (what CPU MuJoCo steps with); JAX arrays
  keep their dtype (the MJX backend, inside its jitted epoch)."""
  if not isinstance(action, jax.Array):
    action = np.asarray(action, np.float64)
  return low + (action + 1.0) * 0.5 * (high - low)


@dataclasses.dataclass
class EpisodeStats:
  """Finished episodes since the last `drain` (returns of the env's own reward)."""

  returns: list = dataclasses.field(default_factory=list)
  lengths: list = dataclasses.field(default_factory=list)

  def drain(self) -> dict[str, float]:
    out = {}
    if self.lengths:
      out = {"episode_return": float(np.mean(self.returns)),
             "episode_size": float(np.mean(self.lengths)), "episodes": len(self.lengths)}
    self.returns, self.lengths = [], []
    return out


def make_skill_envs(env: EnvConfig, prior: SkillPrior,
                    rngs: Sequence[np.random.Generator]) -> list[envs.SkillWrapper]:
  """One skill environment per generator, as training configures them (with the run's
  physics: an MJX-trained run's videos use the MJX solver options on CPU MuJoCo)."""
  return [envs.make_skill_env(env.environment, prior, rng, max_env_steps=env.max_env_steps,
                              min_steps_before_resample=env.min_steps_before_resample,
                              resample_prob=env.resample_prob, physics=env.physics)
          for rng in rngs]


class HostBackend:
  """Implements backends.base.EnvBackend over a list of SkillWrapper environments.

  All sampling (actions, OU noise) uses `rng`, saved with the backend's state, so a run
  is reproducible from its seed and its checkpoints; `collect`'s key is not used.
  """

  def __init__(self, skill_envs: list[envs.SkillWrapper], policy: Policy,
               rng: np.random.Generator, agent: AgentConfig):
    self.envs = skill_envs
    self.policy = policy
    self.rng = rng
    self.clip = min(float(agent.action_clipping), 1.0)
    self.collect_policy = agent.collect_policy
    space = skill_envs[0].action_space
    self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
    self.num_envs = len(skill_envs)
    self.obs_dim = skill_envs[0].obs_dim
    self.action_dim = len(self.low)
    self.stats = EpisodeStats()
    self.reset()

  def reset(self, key=None) -> None:
    del key
    first = [env.reset()[0] for env in self.envs]
    self.obs = np.stack([o["observation"] for o in first])
    self.skill = np.stack([o["skill"] for o in first])
    self.noise = np.zeros((self.num_envs, self.action_dim))
    self.ep_return = np.zeros(self.num_envs)
    self.ep_length = np.zeros(self.num_envs, np.int64)

  def collect(self, actor_params, num_steps: int, key=None) -> Transition:
    """At least num_steps transitions (rounded up to a multiple of num_envs)."""
    del key
    n = self.num_envs
    host = self.policy.host(actor_params)
    rounds = -(-num_steps // n)
    out = {k: [] for k in FIELDS}
    for _ in range(rounds):
      # Copies: self.obs / self.skill are overwritten row by row below, and views would
      # change the transitions already recorded.
      obs, skill = self.obs.copy(), self.skill.copy()
      action, logp = host.sample(obs, skill, self.rng, self.clip)
      if self.collect_policy == "ou_noise":
        self.noise += -OU_DAMPING * self.noise + OU_STDDEV * self.rng.standard_normal(self.noise.shape)
        action = np.clip(action + self.noise, -self.clip, self.clip).astype(np.float32)
        logp = np.asarray(self.policy.log_prob(actor_params, obs, skill, action))
      env_action = to_env_action(action, self.low, self.high)
      for i, env in enumerate(self.envs):
        next_obs, reward, terminated, truncated, _ = env.step(env_action[i])
        out["obs"].append(obs[i])
        out["skill"].append(skill[i])
        out["action"].append(action[i])
        out["next_obs"].append(next_obs["observation"])
        out["reward"].append(reward)
        out["terminated"].append(terminated)
        out["truncated"].append(truncated)
        out["behaviour_logp"].append(logp[i])
        self.ep_return[i] += reward
        self.ep_length[i] += 1
        if terminated or truncated:
          self.stats.returns.append(float(self.ep_return[i]))
          self.stats.lengths.append(int(self.ep_length[i]))
          self.ep_return[i], self.ep_length[i] = 0.0, 0
          self.noise[i] = 0.0
          next_obs, _ = env.reset()
        self.obs[i] = next_obs["observation"]
        self.skill[i] = next_obs["skill"]
    return Transition(**{k: np.asarray(v, bool if k in ("terminated", "truncated") else np.float32)
                         for k, v in out.items()})

  def finished_episodes(self) -> tuple[list[float], list[int]]:
    return list(self.stats.returns), list(self.stats.lengths)

  def episode_stats(self) -> dict[str, float]:
    return self.stats.drain()

  # Exact resume ----------------------------------------------------------------------
  def state(self) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-able meta, arrays) capturing the backend and every environment."""
    meta = {"rng": self.rng.bit_generator.state, "envs": [],
            "stats": dataclasses.asdict(self.stats)}
    # Copies: collecting goes on changing these buffers in place.
    arrays = {"collector/obs": self.obs.copy(), "collector/skill": self.skill.copy(),
              "collector/noise": self.noise.copy(), "collector/ep_return": self.ep_return.copy(),
              "collector/ep_length": self.ep_length.copy()}
    for i, env in enumerate(self.envs):
      env_state = env.get_state()
      for k in ("skill", "obs", "physics"):
        if k in env_state:
          arrays[f"env{i}/{k}"] = np.asarray(env_state.pop(k))
      meta["envs"].append(env_state)
    return meta, arrays

  def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    if len(meta["envs"]) != self.num_envs:
      raise ValueError(f"checkpoint has {len(meta['envs'])} environments; this run has "
                       f"{self.num_envs} (--num_envs)")
    for i, env in enumerate(self.envs):
      env_state = dict(meta["envs"][i])
      for k in ("skill", "obs", "physics"):
        if f"env{i}/{k}" in arrays:
          env_state[k] = arrays[f"env{i}/{k}"]
      env.set_state(env_state)
    self.rng.bit_generator.state = meta["rng"]
    self.stats = EpisodeStats(**meta["stats"])
    self.obs = arrays["collector/obs"].copy()
    self.skill = arrays["collector/skill"].copy()
    self.noise = arrays["collector/noise"].copy()
    self.ep_return = arrays["collector/ep_return"].copy()
    self.ep_length = arrays["collector/ep_length"].copy()

  def close(self) -> None:
    for env in self.envs:
      env.close()
