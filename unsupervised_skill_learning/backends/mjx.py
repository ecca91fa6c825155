"""The MJX backend: environments, replay buffer and learning on the accelerator.

`num_envs` MJX environments step in parallel inside a `lax.scan`; per-env time limits,
auto-reset, and skill sampling and resampling (the skill wrapper's rules) happen on
device. `train_epoch` is the whole epoch as ONE jitted call, with no per-step host round
trip: collect `collect_steps` transitions with the current policy, write them into the
device replay buffer, sample the batches, then run the learner's objective and agent
update scans. Metrics come back once per epoch.

Randomness comes from the key the trainer passes each epoch (derived from --seed and
saved in checkpoints), so a run resumes exactly: the env states, the buffer and the
accumulators travel in `state()` / `restore()`.
"""

from __future__ import annotations

import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lib.device_buffer import DeviceBuffer
from lib.skill_prior import SkillPrior
from lib.transition import Transition
from unsupervised_skill_learning.agents.policy import Policy
from unsupervised_skill_learning.backends.base import KeySource
from unsupervised_skill_learning.backends.host import to_env_action
from unsupervised_skill_learning.config import AgentConfig, EnvConfig, TrainConfig


class EnvCarry(flax.struct.PyTreeNode):
  """Everything that decides the next transitions of the E environments."""

  env: Any                 # the MJX env states [E]
  obs: jnp.ndarray         # [E, obs_dim] float32
  skill: jnp.ndarray       # [E, dz] the skill of the next action
  elapsed: jnp.ndarray     # [E] int32, steps into the episode
  since_draw: jnp.ndarray  # [E] int32, steps since the skill was drawn
  ep_return: jnp.ndarray   # [E] float32, the env reward so far this episode
  ep_length: jnp.ndarray   # [E] int32


class EpisodeSums(flax.struct.PyTreeNode):
  """Sums over the episodes that finished during a collection."""

  returns: jnp.ndarray  # []
  lengths: jnp.ndarray  # []
  count: jnp.ndarray    # []

  @classmethod
  def zero(cls) -> "EpisodeSums":
    z = jnp.zeros((), jnp.float32)
    return cls(z, z, z)

  def means(self) -> dict[str, float]:
    count = float(self.count)
    if count == 0:
      return {}
    return {"episode_return": float(self.returns) / count,
            "episode_size": float(self.lengths) / count, "episodes": count}


class MJXBackend:
  """Implements backends.base.EnvBackend; its `train_epoch` is one jitted call."""

  def __init__(self, env, prior: SkillPrior, policy: Policy, env_cfg: EnvConfig,
               agent: AgentConfig, train: TrainConfig, key: jax.Array):
    if agent.collect_policy != "default":
      raise ValueError("--collect_policy=ou_noise is available with --backend=host only")
    self.env = env
    self.prior = prior
    self.policy = policy
    self.env_cfg = env_cfg
    self.train = train
    self.agent = agent
    self.clip = min(float(agent.action_clipping), 1.0)
    self.num_envs = env_cfg.num_envs
    self.obs_dim = env.obs_dim
    self.action_dim = env.action_dim
    self.low = jnp.asarray(env.action_low, jnp.float32)
    self.high = jnp.asarray(env.action_high, jnp.float32)
    self.rounds = -(-train.collect_steps // self.num_envs)
    self.steps_per_epoch = self.rounds * self.num_envs
    self.buffer = DeviceBuffer.create(train.replay_buffer_capacity, env.obs_dim, prior.dim,
                                      env.action_dim)
    self.sums = EpisodeSums.zero()
    self._reset = jax.jit(self._reset_impl)
    self._collect = jax.jit(self._collect_impl, static_argnames="rounds")
    self.carry = self._reset(key)

  # --- on device ------------------------------------------------------------------------
  def _reset_impl(self, key) -> EnvCarry:
    k_env, k_skill = jax.random.split(key)
    env = jax.vmap(self.env.reset)(jax.random.split(k_env, self.num_envs))
    n = self.num_envs
    return EnvCarry(env=env, obs=jax.vmap(self.env.observe)(env),
                    skill=self.prior.sample_jax(k_skill, (n,)),
                    elapsed=jnp.zeros(n, jnp.int32), since_draw=jnp.zeros(n, jnp.int32),
                    ep_return=jnp.zeros(n, jnp.float32), ep_length=jnp.zeros(n, jnp.int32))

  def _round(self, actor, starts, starts_obs, carry: EnvCarry, sums: EpisodeSums, key):
    """One step of every env: (carry, sums, Transition [E])."""
    cfg = self.env_cfg
    k_act, k_draw, k_resample = jax.random.split(key, 3)
    action, logp = self.policy.act(actor, carry.obs, carry.skill, k_act, self.clip)
    env_action = to_env_action(action, self.low, self.high)
    env, next_obs, reward, terminated = jax.vmap(self.env.step)(carry.env, env_action)
    elapsed, since = carry.elapsed + 1, carry.since_draw + 1
    truncated = elapsed >= cfg.max_env_steps
    transition = Transition(obs=carry.obs, skill=carry.skill, action=action, next_obs=next_obs,
                            reward=reward.astype(jnp.float32), terminated=terminated,
                            truncated=truncated, behaviour_logp=logp)
    done = terminated | truncated
    ep_return, ep_length = carry.ep_return + reward, carry.ep_length + 1
    sums = EpisodeSums(sums.returns + jnp.sum(jnp.where(done, ep_return, 0.0)),
                       sums.lengths + jnp.sum(jnp.where(done, ep_length, 0)),
                       sums.count + jnp.sum(done))
    # Auto-reset: a finished env restarts from this collection's start state for it.
    env = jax.tree.map(lambda s, r: jnp.where(done.reshape(-1, *([1] * (s.ndim - 1))), r, s),
                       env, starts)
    obs = jnp.where(done[:, None], starts_obs, next_obs)
    # A new episode draws a skill; within one, a redraw after min_steps_before_resample
    # steps with probability resample_prob per step (the skill wrapper's rule).
    resample = (since >= cfg.min_steps_before_resample) & (
        jax.random.uniform(k_resample, done.shape) < cfg.resample_prob)
    redraw = done | resample
    skill = jnp.where(redraw[:, None], self.prior.sample_jax(k_draw, done.shape), carry.skill)
    carry = EnvCarry(env=env, obs=obs, skill=skill, elapsed=jnp.where(done, 0, elapsed),
                     since_draw=jnp.where(redraw, 0, since),
                     ep_return=jnp.where(done, 0.0, ep_return),
                     ep_length=jnp.where(done, 0, ep_length))
    return carry, sums, transition

  def _collect_impl(self, actor, carry: EnvCarry, sums: EpisodeSums, key, rounds: int):
    """`rounds` steps of every env: (carry, sums, Transition [rounds * E], in step order)."""
    k_starts, k_steps = jax.random.split(key)
    starts = jax.vmap(self.env.reset)(jax.random.split(k_starts, self.num_envs))
    starts_obs = jax.vmap(self.env.observe)(starts)

    def body(c, k):
      carry, sums = c
      carry, sums, transition = self._round(actor, starts, starts_obs, carry, sums, k)
      return (carry, sums), transition

    (carry, sums), transitions = jax.lax.scan(body, (carry, sums),
                                              jax.random.split(k_steps, rounds))
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions)
    return carry, sums, flat

  def make_epoch(self, learner):
    """The fused epoch for `learner`: (learner state, carry, buffer, key) ->
    (learner state, carry, buffer, metrics, episode sums), jitted once."""
    train, agent = self.train, self.agent

    def epoch(state, carry, buffer, key):
      k_collect, k_obj, k_agent, k_obj_up, k_agent_up, k_reset = jax.random.split(key, 6)
      carry, sums, fresh = self._collect_impl(state.agent.actor, carry, EpisodeSums.zero(),
                                              k_collect, self.rounds)
      buffer = buffer.add(fresh)
      obj_shape = (train.skill_dyn_train_steps, train.skill_dyn_batch_size)
      if train.train_skill_dynamics_on_policy:
        idx = jax.random.randint(k_obj, obj_shape, 0, self.steps_per_epoch)
        objective_batches = jax.tree.map(lambda x: x[idx], fresh)
      else:
        objective_batches = buffer.sample(k_obj, obj_shape)
      agent_batches = buffer.sample(k_agent, (agent.agent_train_steps, agent.agent_batch_size))
      state, objective_metrics = learner._objective_epoch(state, objective_batches, k_obj_up)  # pylint: disable=protected-access
      state, agent_metrics = learner._agent_epoch(state, agent_batches, k_agent_up)  # pylint: disable=protected-access
      if train.clear_buffer_every_iter:
        buffer = buffer.clear()
        carry = self._reset_impl(k_reset)
      return state, carry, buffer, {**objective_metrics, **agent_metrics}, sums

    return jax.jit(epoch)

  # --- the trainer's interface ----------------------------------------------------------
  def bind(self, learner) -> None:
    """Builds the fused epoch for this learner (compiled on its first call)."""
    self._epoch = self.make_epoch(learner)

  def prefill(self, actor_params, num_steps: int, next_key: KeySource) -> int:
    """Collects at least num_steps transitions into the device buffer (one key); returns
    how many."""
    rounds = -(-num_steps // self.num_envs)
    self.carry, self.sums, fresh = self._collect(actor_params, self.carry, self.sums,
                                                 next_key(), rounds=rounds)
    self.buffer = self.buffer.add(fresh)
    return rounds * self.num_envs

  def train_epoch(self, state, next_key: KeySource
                  ) -> tuple[Any, dict[str, float], dict[str, float]]:
    """One fused epoch (one key); metrics as floats (one device-to-host transfer). The
    epoch's finished episodes replace the episode sums (episode_stats reads them)."""
    t0 = time.perf_counter()
    state, self.carry, self.buffer, metrics, self.sums = self._epoch(
        state, self.carry, self.buffer, next_key())
    metrics = jax.device_get(metrics)
    out = {k: float(v) for k, v in metrics.items()}
    seconds = time.perf_counter() - t0
    updates = self.train.skill_dyn_train_steps + self.agent.agent_train_steps
    perf = {"perf/env_steps_per_sec": self.steps_per_epoch / max(seconds, 1e-9),
            "perf/updates_per_sec": updates / max(seconds, 1e-9),
            "perf/epoch_seconds": seconds}
    return state, out, perf

  # --- EnvBackend -------------------------------------------------------------------------
  def reset(self, key=None) -> None:
    self.carry = self._reset(jax.random.key(0) if key is None else key)

  def collect(self, actor_params, num_steps: int, key=None) -> Transition:
    rounds = -(-num_steps // self.num_envs)
    self.carry, self.sums, fresh = self._collect(
        actor_params, self.carry, self.sums, jax.random.key(0) if key is None else key,
        rounds=rounds)
    return jax.tree.map(np.asarray, fresh)

  def finished_episodes(self) -> None:
    """The device keeps sums of the finished episodes, not each one."""
    return None

  def episode_stats(self) -> dict[str, float]:
    out = jax.device_get(self.sums).means()
    self.sums = EpisodeSums.zero()
    return out

  def state(self) -> tuple[dict, dict[str, np.ndarray]]:
    """The env states, the device buffer and the episode sums, as arrays."""
    leaves = jax.tree.leaves(jax.device_get((self.carry, self.buffer, self.sums)))
    return {"collector": {"backend": "mjx", "leaves": len(leaves)}}, {
        f"mjx/{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}

  def save_files(self, folder: str) -> None:
    """Nothing: the device buffer is among state()'s arrays."""
    del folder

  def load_files(self, folder: str) -> None:
    del folder

  def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    template = (self.carry, self.buffer, self.sums)
    leaves, treedef = jax.tree.flatten(template)
    collector = meta["collector"]
    if collector.get("backend") != "mjx" or collector.get("leaves") != len(leaves):
      raise ValueError("checkpoint was not written by --backend=mjx with these settings")
    restored = []
    for i, want in enumerate(leaves):
      got = arrays[f"mjx/{i:04d}"]
      if got.shape != want.shape or got.dtype != want.dtype:
        raise ValueError(f"saved array {i} has shape {got.shape} {got.dtype}, expected "
                         f"{want.shape} {want.dtype} (--num_envs, --replay_buffer_capacity?)")
      restored.append(jnp.asarray(got))
    self.carry, self.buffer, self.sums = jax.tree.unflatten(treedef, restored)

  def close(self) -> None:
    pass

