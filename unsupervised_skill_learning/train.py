"""The training loop: collect -> skill-dynamics updates -> agent updates -> log / save.

Everything a run leaves is under <logdir>/<environment>/: train/ (TensorBoard),
models/ (checkpoints), videos/<epoch>/ (skill videos and trajectory plots), config.json.
Running the same command again resumes exactly from the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time

import jax
import numpy as np
import tqdm
from absl import logging

import envs
from lib import checkpoint
from lib.logger import Logger
from lib.replay_buffer import ReplayBuffer
from unsupervised_skill_learning import components, skill_rollouts
from unsupervised_skill_learning.collector import Collector
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.skill_rollouts import PolicyFn

MODELS, TRAIN, VIDEOS = "models", "train", "videos"


@dataclasses.dataclass
class Counters:
  epoch: int = 0      # epochs completed
  env_steps: int = 0  # transitions collected, initial collection included


class Trainer:
  """Holds a run's mutable pieces; `run` trains from where the run stands."""

  def __init__(self, cfg: RunConfig):
    self.cfg = cfg
    self.dir = cfg.run_dir
    seeds = np.random.SeedSequence(cfg.train.seed).spawn(3 + cfg.env.num_envs)
    self.buffer_rng = np.random.default_rng(seeds[0])
    self.video_seed = seeds[1]
    collector_rng = np.random.default_rng(seeds[2])
    self.key = jax.random.key(cfg.train.seed)

    probe = envs.get_environment(cfg.env.environment)
    action_dim = int(np.prod(probe.action_space.shape))
    probe.close()
    self.parts = components.build(cfg, action_dim)
    self.learner = self.parts.learner
    self.envs = [self._make_env(np.random.default_rng(s)) for s in seeds[3:]]
    self.collector = Collector(self.envs, self.learner.host_policy,
                               self.learner.behaviour_log_prob, collector_rng,
                               action_clipping=cfg.agent.action_clipping,
                               collect_policy=cfg.agent.collect_policy)
    self.buffer = ReplayBuffer(cfg.train.replay_buffer_capacity, self.parts.obs_dim,
                               self.parts.prior.dim, action_dim)
    self.key, init_key = jax.random.split(self.key)
    self.state = self.learner.init(init_key)
    self.counters = Counters()

  def _make_env(self, rng):
    c = self.cfg.env
    return envs.make_skill_env(c.environment, self.parts.prior, rng, max_env_steps=c.max_env_steps,
                               min_steps_before_resample=c.min_steps_before_resample,
                               resample_prob=c.resample_prob)

  # --- checkpoints ------------------------------------------------------------------
  def save(self) -> str:
    collector_meta, arrays = self.collector.get_state()
    meta = {"epoch": self.counters.epoch, "env_steps": self.counters.env_steps,
            "buffer_rng": self.buffer_rng.bit_generator.state,
            "key": np.asarray(jax.random.key_data(self.key)).tolist(),
            "collector": collector_meta, "config": self.cfg.to_json()}
    return checkpoint.save(os.path.join(self.dir, MODELS), self.counters.epoch, self.state,
                           meta, arrays, extra=lambda d: self.buffer.save(os.path.join(d, "buffer.npz")),
                           keep=self.cfg.train.keep_checkpoints)

  def restore(self, path: str) -> None:
    meta, arrays = checkpoint.restore_meta(path)
    self.state = jax.tree.map(jax.numpy.asarray, checkpoint.restore_state(path, self.state))
    try:
      self.buffer.load(os.path.join(path, "buffer.npz"))
      self.collector.set_state(meta["collector"], arrays)
    except (OSError, KeyError, ValueError) as err:
      raise checkpoint.CheckpointError(f"{path}: cannot resume from this checkpoint ({err})") from err
    self.buffer_rng.bit_generator.state = meta["buffer_rng"]
    self.key = jax.random.wrap_key_data(np.asarray(meta["key"], np.uint32))
    self.counters = Counters(meta["epoch"], meta["env_steps"])

  # --- one epoch ----------------------------------------------------------------------
  def _next_key(self):
    self.key, key = jax.random.split(self.key)
    return key

  def collect(self, steps: int) -> dict[str, np.ndarray]:
    data = self.collector.collect(self.state.agent.actor, steps)
    self.buffer.add_batch(data)
    self.counters.env_steps += len(data["obs"])
    return data

  def epoch(self) -> dict[str, float]:
    cfg = self.cfg
    t0 = time.perf_counter()
    fresh = self.collect(cfg.train.collect_steps)
    t1 = time.perf_counter()
    dyn = cfg.dynamics
    if dyn.train_skill_dynamics_on_policy:
      idx = self.buffer_rng.integers(0, len(fresh["obs"]),
                                     (dyn.skill_dyn_train_steps, dyn.skill_dyn_batch_size))
      dyn_batches = {k: v[idx] for k, v in fresh.items()}
    else:
      dyn_batches = self.buffer.sample(self.buffer_rng, dyn.skill_dyn_batch_size,
                                       dyn.skill_dyn_train_steps)
    agent_batches = self.buffer.sample(self.buffer_rng, cfg.agent.agent_batch_size,
                                       cfg.agent.agent_train_steps)
    self.state, dyn_metrics = self.learner.objective_epoch(self.state, dyn_batches,
                                                           self._next_key())
    self.state, agent_metrics = self.learner.agent_epoch(self.state, agent_batches,
                                                         self._next_key())
    metrics = {k: float(v) for k, v in {**dyn_metrics, **agent_metrics}.items()}
    t2 = time.perf_counter()
    if cfg.train.clear_buffer_every_iter:
      self.buffer.clear()
      self.collector.reset()
    self.counters.epoch += 1
    updates = dyn.skill_dyn_train_steps + cfg.agent.agent_train_steps
    metrics.update(self.collector.stats.drain())
    metrics.update({"perf/env_steps_per_sec": len(fresh["obs"]) / max(t1 - t0, 1e-9),
                    "perf/updates_per_sec": updates / max(t2 - t1, 1e-9),
                    "perf/epoch_seconds": t2 - t0})
    return metrics

  # --- videos -----------------------------------------------------------------------
  def record(self, out_dir: str) -> None:
    """num_evals skills (each skill for discrete priors) with the deterministic policy."""
    cfg = self.cfg
    # A stream of its own per epoch, nested under the video seed (never equal to the
    # run's other streams), so recording changes nothing else and resumes identically.
    rng = np.random.default_rng(np.random.SeedSequence(
        self.video_seed.entropy, spawn_key=(*self.video_seed.spawn_key, self.counters.epoch)))
    env = self._make_env(rng)
    prior = self.parts.prior
    skills = prior.enumerate() if prior.is_discrete else prior.sample(rng, cfg.train.num_evals)
    policy = PolicyFn(self.learner, self.state.agent.actor, env,
                      clip=cfg.agent.action_clipping)
    skill_rollouts.record_skills(env, cfg.env.environment, policy, skills, out_dir,
                                 vid_name=cfg.train.vid_name)
    env.close()

  # --- the loop -----------------------------------------------------------------------
  def run(self) -> None:
    cfg = self.cfg
    logger = Logger(os.path.join(self.dir, TRAIN))
    if self.counters.epoch == 0:
      logger.text("config", "```\n" + cfg.to_json() + "\n```")
    if self.counters.env_steps == 0 and cfg.train.initial_collect_steps > 0:
      self.collect(cfg.train.initial_collect_steps)
    interactive = sys.stderr.isatty()
    bar = tqdm.tqdm(total=cfg.train.num_epochs, initial=self.counters.epoch, unit="epoch",
                    disable=not interactive, dynamic_ncols=True)
    reward_key = "dads/reward" if cfg.skills.objective == "dads" else "diayn/reward"
    try:
      while self.counters.epoch < cfg.train.num_epochs:
        metrics = self.epoch()
        epoch = self.counters.epoch
        logger.scalars({**metrics, "epoch": epoch}, self.counters.env_steps)
        summary = (f"epoch {epoch} env steps {self.counters.env_steps} "
                   f"{reward_key} {metrics.get(reward_key, float('nan')):.3f} "
                   f"{metrics['perf/env_steps_per_sec']:.0f} env steps/s "
                   f"{metrics['perf/epoch_seconds']:.2f} s/epoch")
        bar.update(1)
        bar.set_postfix_str(summary.split(" ", 2)[2])
        if not interactive and (epoch % max(1, cfg.train.num_epochs // 20) == 0
                                or epoch == cfg.train.num_epochs):
          logging.info(summary)
        if cfg.train.num_evals and (epoch % cfg.train.record_freq == 0):
          self.record(os.path.join(self.dir, VIDEOS, str(epoch)))
        if cfg.train.save_model and (epoch % cfg.train.save_freq == 0
                                     or epoch == cfg.train.num_epochs):
          self.save()
    finally:
      bar.close()
      logger.close()


def write_config(cfg: RunConfig) -> None:
  os.makedirs(cfg.run_dir, exist_ok=True)
  tmp = os.path.join(cfg.run_dir, "config.json.tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(cfg.to_json())
  os.replace(tmp, os.path.join(cfg.run_dir, "config.json"))


def run(cfg: RunConfig) -> Trainer:
  """Trains (or resumes) the run described by cfg; returns the trainer at the end."""
  models = os.path.join(cfg.run_dir, MODELS)
  if cfg.train.train_from_scratch and os.path.isdir(models):
    logging.warning("--train_from_scratch: removing %s", models)
    shutil.rmtree(models)
  trainer = Trainer(cfg)
  latest = checkpoint.latest_checkpoint(models)
  if latest is not None:
    trainer.restore(latest)
    logging.info("resumed from %s (epoch %d, %d env steps)", latest, trainer.counters.epoch,
                 trainer.counters.env_steps)
  write_config(cfg)
  trainer.run()
  return trainer
