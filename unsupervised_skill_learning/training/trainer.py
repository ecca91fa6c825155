"""The training loop: collect -> objective updates -> agent updates -> log / save.

Everything a run leaves is under <logdir>/<environment>/: train/ (TensorBoard),
models/ (checkpoints), videos/<epoch>/ (skill videos and trajectory plots), config.json.
Running the same command again resumes exactly from the newest checkpoint.

What the loop guarantees under faults:
- a non-finite loss or parameter stops the run (TrainingError naming the epoch and the
  first non-finite metric) before anything is saved from that state;
- SIGINT / SIGTERM / SIGHUP (a closed terminal) finish the current epoch, save, flush
  TensorBoard and stop (Stopped); a second Ctrl-C interrupts at once;
- TensorBoard is flushed before every checkpoint, and a resumed run purges the points a
  killed run wrote after its checkpoint, so no step is logged twice (a fresh start purges
  all of them: a run killed before its first checkpoint starts over);
- a run folder with training logs but no models/ folder (deleted, moved) stops with one
  line instead of starting over, unless --train_from_scratch=1; models/ is made before
  the first log is written, so a run killed before its first checkpoint is told apart;
- a resumed run must have its checkpoint's settings (--override_config allows named
  changes, recorded in config.json);
- one process per run directory (lib.run_lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import sys

import jax
import numpy as np
import tqdm
from absl import logging

import envs
from lib import checkpoint, wandb_logger
from lib.atomic import atomic_write
from lib.logger import Logger
from lib.progress import ProgressWriter
from lib.run_lock import RunLock
from unsupervised_skill_learning import backends, components, seeding
from unsupervised_skill_learning.backends.host import make_skill_envs
from unsupervised_skill_learning.config import ConfigError, RunConfig, saved_overrides
from unsupervised_skill_learning.evaluation import headings
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.training.learner import INTRINSIC_REWARD

MODELS, TRAIN, VIDEOS, EVAL = "models", "train", "videos", "eval"
PROGRESS = "progress.csv"  # one row per epoch (lib/progress.py), beside TensorBoard


class TrainingError(RuntimeError):
  """Training cannot go on (divergence, a full disk); the message says what was kept."""


class Stopped(Exception):
  """SIGINT, SIGTERM or SIGHUP stopped the run after saving; `signum` is the signal."""

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.signum = signum


@contextlib.contextmanager
def stop_requests():
  """Yields a list that SIGINT / SIGTERM / SIGHUP append their signal number to (instead
  of interrupting), so the loop can finish its epoch and save. A second SIGINT interrupts
  at once. Handlers are restored on exit; outside the main thread nothing is installed."""
  requested: list[int] = []

  def handler(signum, frame):
    del frame
    if requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    requested.append(signum)
    logging.warning("%s: finishing this epoch, then saving (Ctrl-C again to stop now)",
                    signal.Signals(signum).name)

  try:
    previous = {s: signal.signal(s, handler)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
  except ValueError:  # not the main thread
    previous = {}
  try:
    yield requested
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def first_non_finite(metrics: dict[str, float]) -> tuple[str, float] | None:
  for name, value in metrics.items():
    if not math.isfinite(value):
      return name, value
  return None


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jax.numpy.all(jax.numpy.isfinite(x)) for x in jax.tree.leaves(tree)
            if jax.numpy.issubdtype(x.dtype, jax.numpy.floating)]
  return jax.numpy.all(jax.numpy.stack(leaves)) if leaves else jax.numpy.bool_(True)


@dataclasses.dataclass
class Counters:
  epoch: int = 0      # epochs completed
  env_steps: int = 0  # transitions collected, initial collection included


class Trainer:
  """Holds a run's mutable pieces; `run` trains from where the run stands."""

  def __init__(self, cfg: RunConfig):
    self.cfg = cfg
    self.dir = cfg.run_dir
    streams = seeding.training_streams(cfg.seed, cfg.env.num_envs)
    self.video_seed = streams.video
    self.key = jax.random.key(cfg.seed)

    probe = envs.get_environment(cfg.env.environment)
    action_dim = int(np.prod(probe.action_space.shape))
    probe.close()
    self.parts = components.build(cfg, action_dim)
    self.learner = self.parts.learner
    # The environments and the replay buffer (host or device), behind backends.EnvBackend.
    self.backend = backends.make(cfg, self.parts, streams)
    self.key, init_key = jax.random.split(self.key)
    self.state = self.learner.init(init_key)
    self.counters = Counters()
    # (returns, lengths) of the episodes that finished in the last epoch, or (None, None)
    # where the backend reports their means only (MJX).
    self.last_episodes = (None, None)

  # --- checkpoints ------------------------------------------------------------------
  def save(self) -> str:
    backend_meta, arrays = self.backend.state()
    meta = {"epoch": self.counters.epoch, "env_steps": self.counters.env_steps,
            "key": np.asarray(jax.random.key_data(self.key)).tolist(),
            "config": self.cfg.to_json()}
    clash = set(meta) & set(backend_meta)
    if clash:
      raise RuntimeError(f"backend state entries {sorted(clash)} clash with the trainer's")
    return checkpoint.save(os.path.join(self.dir, MODELS), self.counters.epoch, self.state,
                           {**meta, **backend_meta}, arrays, extra=self.backend.save_files,
                           keep=self.cfg.train.keep_checkpoints)

  def restore(self, path: str) -> None:
    meta, arrays = checkpoint.restore_meta(path)
    self.state = jax.tree.map(jax.numpy.asarray, checkpoint.restore_state(path, self.state))
    try:
      self.backend.load_files(path)
      self.backend.restore(meta, arrays)
    except (OSError, KeyError, ValueError) as err:
      raise checkpoint.CheckpointError(f"{path}: cannot resume from this checkpoint ({err})") from err
    self.key = jax.random.wrap_key_data(np.asarray(meta["key"], np.uint32))
    self.counters = Counters(meta["epoch"], meta["env_steps"])

  # --- one epoch ----------------------------------------------------------------------
  def _next_key(self):
    self.key, key = jax.random.split(self.key)
    return key

  def collect(self, steps: int) -> None:
    """Collects at least `steps` transitions into the backend's replay buffer (the
    initial collection)."""
    self.counters.env_steps += self.backend.prefill(self.state.agent.actor, steps,
                                                    self._next_key)

  def epoch(self) -> dict[str, float]:
    """One epoch on the backend: (learning metrics, episode means, perf/* timings)."""
    self.state, metrics, perf = self.backend.train_epoch(self.state, self._next_key)
    self.counters.epoch += 1
    self.counters.env_steps += self.backend.steps_per_epoch
    self.last_episodes = self.backend.finished_episodes() or (None, None)
    return {**metrics, **self.backend.episode_stats(), **perf}

  # --- videos -----------------------------------------------------------------------
  def record(self, out_dir: str) -> None:
    """num_evals skills (each skill for discrete priors) with the deterministic policy."""
    cfg = self.cfg
    # A stream of its own per epoch, nested under the video seed (never equal to the
    # run's other streams), so recording changes nothing else and resumes identically.
    rng = seeding.child(self.video_seed, self.counters.epoch)
    env = make_skill_envs(cfg.env, self.parts.prior, [rng])[0]  # the run's physics
    skills = skill_eval.choose_skills(self.parts.prior, rng, cfg.videos.num_evals,
                                      every_discrete_skill=True)
    policy = skill_eval.PolicyFn(self.learner.policy, self.state.agent.actor, env,
                                 clip=cfg.agent.action_clipping)
    skill_eval.record_skills(env, cfg.env.environment, policy, skills, out_dir,
                             vid_name=cfg.videos.vid_name)
    env.close()

  def heading_scalars(self) -> dict[str, float]:
    """headings/* scalars of the current skill dynamics over a skill grid (none without
    one). Draws from no training stream, so it changes nothing else."""
    cfg = self.cfg
    result = headings.model_headings(self.parts, self.state, cfg.env.environment,
                                     cfg.env.max_env_steps, seed=cfg.seed)
    if result is None:
      return {}
    summary = result[0]
    if summary["kind"] == "displacement_range":
      return {"headings/displacement_min": summary["min"],
              "headings/displacement_max": summary["max"]}
    return {"headings/empty_bins": float(summary["empty_bins"]),
            "headings/largest_gap_deg": summary["largest_gap_deg"],
            "headings/slow_fraction": summary["slow_fraction"]}

  # --- the loop -----------------------------------------------------------------------
  def _check_finite(self, metrics: dict[str, float], epoch: int) -> None:
    bad = first_non_finite(metrics)
    if bad is None and not bool(_all_finite(self.state)):
      bad = ("a parameter or optimizer state", float("nan"))
    if bad is not None:
      latest = checkpoint.latest_checkpoint(os.path.join(self.dir, MODELS))
      raise TrainingError(
          f"epoch {epoch}: {bad[0]} is {bad[1]} (training diverged); nothing was saved from "
          f"this state, kept {latest or 'no checkpoint'}; lower the learning rates, or resume "
          "with --override_config")

  def run(self, resumed: bool = False) -> None:
    cfg = self.cfg
    if self.counters.epoch >= cfg.train.num_epochs:
      logging.info("nothing to train: this run finished epoch %d (--num_epochs=%d); raise "
                   "--num_epochs to train on", self.counters.epoch, cfg.train.num_epochs)
      return
    # A resumed run hides what a killed run logged after its checkpoint (whose own epoch
    # was logged at exactly its env_steps, and stays); a fresh start hides all of it.
    logger = wandb_logger.mirror(Logger(
        os.path.join(self.dir, TRAIN), purge_step=self.counters.env_steps + 1 if resumed else 0))
    progress = ProgressWriter(os.path.join(self.dir, PROGRESS), resume_epoch=self.counters.epoch)
    if self.counters.epoch == 0:
      logger.text("config", "```\n" + cfg.to_json() + "\n```")
    if self.counters.env_steps == 0 and cfg.train.initial_collect_steps > 0:
      self.collect(cfg.train.initial_collect_steps)
    interactive = sys.stderr.isatty()
    bar = tqdm.tqdm(total=cfg.train.num_epochs, initial=self.counters.epoch, unit="epoch",
                    disable=not interactive, dynamic_ncols=True)
    try:
      with stop_requests() as stop:
        while self.counters.epoch < cfg.train.num_epochs:
          metrics = self.epoch()
          epoch = self.counters.epoch
          logger.scalars({**metrics, "epoch": epoch}, self.counters.env_steps)
          returns, lengths = self.last_episodes
          progress.write(epoch, self.counters.env_steps, metrics, episode_returns=returns,
                         episode_lengths=lengths)
          self._check_finite(metrics, epoch)
          summary = (f"epoch {epoch} env steps {self.counters.env_steps} "
                     f"{INTRINSIC_REWARD} {metrics.get(INTRINSIC_REWARD, float('nan')):.3f} "
                     f"{metrics['perf/env_steps_per_sec']:.0f} env steps/s "
                     f"{metrics['perf/epoch_seconds']:.2f} s/epoch")
          bar.update(1)
          bar.set_postfix_str(summary.split(" ", 2)[2])
          if not interactive and (epoch % max(1, cfg.train.num_epochs // 20) == 0
                                  or epoch == cfg.train.num_epochs):
            logging.info(summary)
          if cfg.videos.num_evals and (epoch % cfg.videos.record_freq == 0):
            self.record(os.path.join(self.dir, VIDEOS, str(epoch)))
            wandb_logger.log_videos(os.path.join(self.dir, VIDEOS, str(epoch)),
                                    self.counters.env_steps)
            logger.scalars(self.heading_scalars(), self.counters.env_steps)
          due = epoch % cfg.train.save_freq == 0 or epoch == cfg.train.num_epochs
          if cfg.train.save_model and (due or stop):
            logger.flush()  # every point a checkpoint covers is on disk before it
            self.save()
          if stop:
            logger.flush()
            saved = "saved" if cfg.train.save_model else "not saved (--save_model is empty)"
            raise Stopped(f"stopped at epoch {epoch} ({saved}); rerun the same command to "
                          "resume", stop[0])
    except OSError as err:
      latest = checkpoint.latest_checkpoint(os.path.join(self.dir, MODELS))
      raise TrainingError(f"{err.filename or self.dir}: {err.strerror or err}; kept "
                          f"{latest or 'no checkpoint'}") from err
    finally:
      bar.close()
      with contextlib.suppress(OSError):
        logger.close()


def write_config(cfg: RunConfig, overrides: list[dict] | None = None) -> None:
  """config.json: the run's settings, and the deliberate changes made on resumes."""
  os.makedirs(cfg.run_dir, exist_ok=True)
  text = cfg.to_dict()
  if overrides:
    text["overrides"] = overrides
  atomic_write(os.path.join(cfg.run_dir, "config.json"), json.dumps(text, indent=1, sort_keys=True))


def _previous_overrides(cfg: RunConfig) -> list[dict]:
  path = os.path.join(cfg.run_dir, "config.json")
  try:
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return []
  return saved_overrides(saved, path)


def check_fresh_start(cfg: RunConfig) -> None:
  """A run folder with no checkpoint to resume from: CheckpointError if it has training
  logs but no models/ folder (it was deleted or moved: starting over would overwrite the
  logs), unless --train_from_scratch=1. models/ exists from a run's start, so a run killed
  before its first checkpoint starts over."""
  if cfg.train.train_from_scratch or os.path.isdir(os.path.join(cfg.run_dir, MODELS)):
    return
  logs = [name for name in (PROGRESS, TRAIN) if os.path.exists(os.path.join(cfg.run_dir, name))]
  if logs:
    raise checkpoint.CheckpointError(
        f"{os.path.join(cfg.run_dir, MODELS)}: missing, but the run has training logs "
        f"({' and '.join(logs)}), so there is no checkpoint to resume from (was models/ "
        f"deleted or moved?); put it back, or {checkpoint.FROM_SCRATCH}")


def check_resume(cfg: RunConfig, meta: dict, path: str) -> list[dict]:
  """The changes this invocation makes to the checkpoint's settings, each allowed by
  --override_config; ConfigError listing the others."""
  try:
    saved = RunConfig.from_dict(json.loads(meta["config"]))
  except (KeyError, TypeError, ValueError) as err:
    raise checkpoint.CheckpointError(f"{path}/meta.json: unreadable settings ({err})") from None
  allowed = set(cfg.overridden())
  changed = cfg.differences(saved)
  refused = {k: v for k, v in changed.items() if k not in allowed}
  if refused:
    listed = ", ".join(f"--{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(refused.items()))
    raise ConfigError(
        f"resuming {path}: these settings differ from the checkpoint's: {listed}; rerun with "
        f"the checkpoint's values, or --override_config={','.join(sorted(refused))} to change "
        "them from here on, or --train_from_scratch=1")
  epoch = int(meta["epoch"])
  return [{"epoch": epoch + 1, "setting": k, "from": old, "to": new}
          for k, (old, new) in sorted(changed.items())]


def run(cfg: RunConfig) -> Trainer:
  """Trains (or resumes) the run described by cfg; returns the trainer at the end."""
  models = os.path.join(cfg.run_dir, MODELS)
  with RunLock(cfg.run_dir):
    checkpoint.check_folder(models)  # a file in its place: stop before anything is removed
    if cfg.train.train_from_scratch:
      for name in (MODELS, TRAIN, VIDEOS, EVAL):
        if os.path.isdir(os.path.join(cfg.run_dir, name)):
          logging.warning("--train_from_scratch: removing %s", os.path.join(cfg.run_dir, name))
          shutil.rmtree(os.path.join(cfg.run_dir, name))
    latest = checkpoint.latest_valid_checkpoint(models)
    overrides = []
    if latest is not None:
      meta, _ = checkpoint.restore_meta(latest)
      overrides = _previous_overrides(cfg) + check_resume(cfg, meta, latest)
    else:
      check_fresh_start(cfg)
    if cfg.train.save_model:
      os.makedirs(models, exist_ok=True)
    trainer = Trainer(cfg)
    if latest is not None:
      trainer.restore(latest)
      logging.info("resumed from %s (epoch %d, %d env steps)", latest, trainer.counters.epoch,
                   trainer.counters.env_steps)
    write_config(cfg, overrides)
    trainer.run(resumed=latest is not None)
  return trainer
