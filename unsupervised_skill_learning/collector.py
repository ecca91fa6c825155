"""Rollouts -> transitions: steps a few skill environments in lockstep with the policy.

One jitted policy call serves every environment at each step (batching amortizes the
per-call overhead, which otherwise bounds collection speed on CPU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from envs import SkillWrapper

# OU noise as tf-agents' OUNoisePolicy, which the original's collect_policy=ou_noise used.
OU_DAMPING, OU_STDDEV = 0.15, 0.2


def to_env_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
  """Policy actions in [-1, 1] -> the environment's bounds [low, high]."""
  return low + (np.asarray(action, np.float64) + 1.0) * 0.5 * (high - low)


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


class Collector:
  """Collects transitions (fields of lib.replay_buffer) from `envs` under the policy.

  host_policy(actor) -> policy(obs [N, obs_dim], skill [N, dz], rng, clip) -> (action, logp)
  behaviour_log_prob(actor, obs, skill, action) -> logp (used when noise alters actions)
  All sampling uses `rng`, so a run is reproducible from its seed and its checkpoints.
  """

  def __init__(self, envs: list[SkillWrapper], host_policy: Callable,
               behaviour_log_prob: Callable, rng: np.random.Generator, *,
               action_clipping: float = 1.0, collect_policy: str = "default"):
    self.envs = envs
    self.host_policy = host_policy
    self.behaviour_log_prob = behaviour_log_prob
    self.rng = rng
    self.clip = min(float(action_clipping), 1.0)
    self.collect_policy = collect_policy
    space = envs[0].action_space
    self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
    self.obs_dim = envs[0].obs_dim
    self.stats = EpisodeStats()
    self.total_steps = 0
    self.reset()

  def reset(self) -> None:
    """Starts a fresh episode in every environment."""
    self.obs = np.stack([env.reset()[0] for env in self.envs])
    self.noise = np.zeros((len(self.envs), len(self.low)))
    self.ep_return = np.zeros(len(self.envs))
    self.ep_length = np.zeros(len(self.envs), np.int64)

  def to_env_action(self, action: np.ndarray) -> np.ndarray:
    """[-1, 1] policy actions -> the environment's action bounds."""
    return to_env_action(action, self.low, self.high)

  def collect(self, actor, num_steps: int) -> dict[str, np.ndarray]:
    """At least num_steps transitions (rounded up to a multiple of len(envs))."""
    n = len(self.envs)
    policy = self.host_policy(actor)
    rounds = -(-num_steps // n)
    out = {k: [] for k in ("obs", "skill", "action", "next_obs", "reward", "terminated",
                           "truncated", "behaviour_logp")}
    for _ in range(rounds):
      # Copies: self.obs is overwritten row by row below, and views would change the
      # transitions already recorded.
      obs, skill = self.obs[:, :self.obs_dim].copy(), self.obs[:, self.obs_dim:].copy()
      action, logp = policy(obs, skill, self.rng, self.clip)
      if self.collect_policy == "ou_noise":
        self.noise += -OU_DAMPING * self.noise + OU_STDDEV * self.rng.standard_normal(self.noise.shape)
        action = np.clip(action + self.noise, -self.clip, self.clip).astype(np.float32)
        logp = np.asarray(self.behaviour_log_prob(actor, obs, skill, action))
      env_action = self.to_env_action(action)
      for i, env in enumerate(self.envs):
        next_obs, reward, terminated, truncated, _ = env.step(env_action[i])
        out["obs"].append(obs[i])
        out["skill"].append(skill[i])
        out["action"].append(action[i])
        out["next_obs"].append(next_obs[:self.obs_dim])
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
        self.obs[i] = next_obs
    self.total_steps += rounds * n
    return {k: np.asarray(v, np.float32 if k not in ("terminated", "truncated") else bool)
            for k, v in out.items()}

  # Exact resume ----------------------------------------------------------------------
  def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-able meta, arrays) capturing the collector and every environment."""
    meta = {"rng": self.rng.bit_generator.state, "total_steps": self.total_steps,
            "envs": [], "stats": dataclasses.asdict(self.stats)}
    arrays = {"collector/obs": self.obs, "collector/noise": self.noise,
              "collector/ep_return": self.ep_return, "collector/ep_length": self.ep_length}
    for i, env in enumerate(self.envs):
      env_state = env.get_state()
      for k in ("skill", "obs", "physics"):
        if k in env_state:
          arrays[f"env{i}/{k}"] = np.asarray(env_state.pop(k))
      meta["envs"].append(env_state)
    return meta, arrays

  def set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    if len(meta["envs"]) != len(self.envs):
      raise ValueError(f"checkpoint has {len(meta['envs'])} environments; this run has "
                       f"{len(self.envs)} (--num_envs)")
    for i, env in enumerate(self.envs):
      env_state = dict(meta["envs"][i])
      for k in ("skill", "obs", "physics"):
        if f"env{i}/{k}" in arrays:
          env_state[k] = arrays[f"env{i}/{k}"]
      env.set_state(env_state)
    self.rng.bit_generator.state = meta["rng"]
    self.total_steps = int(meta["total_steps"])
    self.stats = EpisodeStats(**meta["stats"])
    self.obs = arrays["collector/obs"].copy()
    self.noise = arrays["collector/noise"].copy()
    self.ep_return = arrays["collector/ep_return"].copy()
    self.ep_length = arrays["collector/ep_length"].copy()
