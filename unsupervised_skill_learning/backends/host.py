"""The host backend: Gymnasium/MuJoCo skill environments stepped in lockstep on the CPU,
and the NumPy replay buffer that training samples from.

One NumPy policy call (agents.policy.HostPolicy, the same function as Policy.act) serves
every environment at each step: batching amortizes the per-call overhead, which
otherwise bounds collection speed on CPU. An epoch is: collect, add to the buffer,
sample every batch up front (from `buffer_rng`), then the learner's two jitted scans.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

import envs
from lib.replay_buffer import ReplayBuffer
from lib.skill_prior import SkillPrior
from lib.transition import FIELDS, Transition
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.backends.base import KeySource
from unsupervised_skill_learning.config import AgentConfig, EnvConfig, TrainConfig

# OU noise as tf-agents' OUNoisePolicy, which the original's collect_policy=ou_noise used.
OU_DAMPING, OU_STDDEV = 0.15, 0.2
BUFFER_FILE = "buffer.npz"  # the replay buffer, beside the checkpoint's other files


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

  All collection sampling (actions, OU noise) uses `rng`, and all batch sampling
  `buffer_rng`; both are saved with the backend's state, so a run is reproducible from
  its seed and its checkpoints; `collect`'s key is not used.

  Built without `train` and `buffer_rng` it only collects (`collect`, `state`,
  `restore`): it has no replay buffer, so `prefill` and `train_epoch` are unavailable.
  """

  def __init__(self, skill_envs: list[envs.SkillWrapper], policy: Policy,
               rng: np.random.Generator, agent: AgentConfig, *,
               train: TrainConfig | None = None,
               buffer_rng: np.random.Generator | None = None):
    if (train is None) != (buffer_rng is None):
      raise ValueError("HostBackend: give both train and buffer_rng (training), or neither "
                       "(collection only)")
    self.envs = skill_envs
    self.policy = policy
    self.rng = rng
    self.agent = agent
    self.train = train
    self.buffer_rng = buffer_rng
    self.clip = min(float(agent.action_clipping), 1.0)
    self.collect_policy = agent.collect_policy
    space = skill_envs[0].action_space
    self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
    self.num_envs = len(skill_envs)
    self.obs_dim = skill_envs[0].obs_dim
    self.action_dim = len(self.low)
    self.stats = EpisodeStats()
    self.buffer = None
    self.steps_per_epoch = 0
    if train is not None:
      self.buffer = ReplayBuffer(train.replay_buffer_capacity, self.obs_dim,
                                 skill_envs[0].prior.dim, self.action_dim)
      self.steps_per_epoch = -(-train.collect_steps // self.num_envs) * self.num_envs
    self.learner = None
    self.reset()

  # --- training ---------------------------------------------------------------------------
  def bind(self, learner) -> None:
    self.learner = learner

  def _training(self) -> ReplayBuffer:
    if self.buffer is None or self.learner is None:
      raise RuntimeError("this HostBackend only collects: build it with train and "
                         "buffer_rng, then bind a learner")
    return self.buffer

  def prefill(self, actor_params, num_steps: int, next_key: KeySource) -> int:
    """Collects into the replay buffer; draws no key (the collection uses `rng`)."""
    del next_key
    data = self.collect(actor_params, num_steps)
    self._training().add_batch(data)
    return len(data)

  def train_epoch(self, state, next_key: KeySource
                  ) -> tuple[Any, dict[str, float], dict[str, float]]:
    """Collect, add, sample (objective batches [U_obj, B], agent batches [U_agent, B]),
    then the objective scan (next_key()) and the agent scan (next_key())."""
    buffer, train, agent, rng = self._training(), self.train, self.agent, self.buffer_rng
    t0 = time.perf_counter()
    fresh = self.collect(state.agent.actor, train.collect_steps)
    buffer.add_batch(fresh)
    t1 = time.perf_counter()
    if train.train_skill_dynamics_on_policy:
      idx = rng.integers(0, len(fresh), (train.skill_dyn_train_steps, train.skill_dyn_batch_size))
      objective_batches = jax.tree.map(lambda v: v[idx], fresh)
    else:
      objective_batches = buffer.sample(rng, train.skill_dyn_batch_size,
                                        train.skill_dyn_train_steps)
    agent_batches = buffer.sample(rng, agent.agent_batch_size, agent.agent_train_steps)
    state, objective_metrics = self.learner.objective_epoch(state, objective_batches, next_key())
    state, agent_metrics = self.learner.agent_epoch(state, agent_batches, next_key())
    metrics = {k: float(v) for k, v in {**objective_metrics, **agent_metrics}.items()}
    t2 = time.perf_counter()
    if train.clear_buffer_every_iter:
      buffer.clear()
      self.reset()
    updates = train.skill_dyn_train_steps + agent.agent_train_steps
    perf = {"perf/env_steps_per_sec": len(fresh) / max(t1 - t0, 1e-9),
            "perf/updates_per_sec": updates / max(t2 - t1, 1e-9),
            "perf/epoch_seconds": t2 - t0}
    return state, metrics, perf

  # --- collection -------------------------------------------------------------------------
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
    """({"collector": the collector and every environment, "buffer_rng": the batch
    sampler's state (training only)}, arrays). The replay buffer is in save_files."""
    collector = {"rng": self.rng.bit_generator.state, "envs": [],
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
      collector["envs"].append(env_state)
    meta = {"collector": collector}
    if self.buffer_rng is not None:
      meta["buffer_rng"] = self.buffer_rng.bit_generator.state
    return meta, arrays

  def save_files(self, folder: str) -> None:
    if self.buffer is not None:
      self.buffer.save(os.path.join(folder, BUFFER_FILE))

  def load_files(self, folder: str) -> None:
    if self.buffer is not None:
      self.buffer.load(os.path.join(folder, BUFFER_FILE))

  def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    collector = meta["collector"]
    if len(collector["envs"]) != self.num_envs:
      raise ValueError(f"checkpoint has {len(collector['envs'])} environments; this run has "
                       f"{self.num_envs} (--num_envs)")
    for i, env in enumerate(self.envs):
      env_state = dict(collector["envs"][i])
      for k in ("skill", "obs", "physics"):
        if f"env{i}/{k}" in arrays:
          env_state[k] = arrays[f"env{i}/{k}"]
      env.set_state(env_state)
    self.rng.bit_generator.state = collector["rng"]
    self.stats = EpisodeStats(**collector["stats"])
    if self.buffer_rng is not None:
      self.buffer_rng.bit_generator.state = meta["buffer_rng"]
    self.obs = arrays["collector/obs"].copy()
    self.skill = arrays["collector/skill"].copy()
    self.noise = arrays["collector/noise"].copy()
    self.ep_return = arrays["collector/ep_return"].copy()
    self.ep_length = arrays["collector/ep_length"].copy()

  def close(self) -> None:
    for env in self.envs:
      env.close()
