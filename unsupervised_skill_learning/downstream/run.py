"""A downstream run, from its settings to what it leaves in --logdir:

  config.json     the run's settings
  progress.csv    one row per epoch (lib/progress.py): env_steps, the training episodes'
                  task returns (AverageEpRet ...), the test episodes' (AverageTestEpRet,
                  StdTestEpRet, TestEpLen) where tested, SAC's losses
  train/          TensorBoard: the same scalars keyed by env steps, the config as text
  models/         checkpoints (meta, flat_sac): exact resume by rerunning the command
  videos/<epoch>/test_episode.mp4   the first test episode, the goal(s) marked

The trained methods (meta, flat_sac) test at epoch 0 (before any update), every
--eval_freq epochs and at the end; the baselines (mpc, random_skills) play the test
episodes once, as epoch 0. The fault guarantees are the training loop's: one process
per --logdir (lib.run_lock), Ctrl-C / SIGTERM finish the epoch and save
(training.trainer.stop_requests), a non-finite loss stops the run before anything is
saved from it, damaged checkpoints are skipped (lib.checkpoint), changed settings on
resume are refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np
from absl import logging

from lib import checkpoint, wandb_logger
from lib.atomic import atomic_write
from lib.logger import Logger
from lib.progress import ProgressWriter
from lib.run_lock import RunLock
from unsupervised_skill_learning import api
from unsupervised_skill_learning.downstream import baselines, episodes, meta, tasks
from unsupervised_skill_learning.downstream.config import TRAINED, DownstreamConfig
from unsupervised_skill_learning.training import trainer

TRAIN, PROGRESS, CONFIG = "train", "progress.csv", "config.json"


class Logs:
  """Where a run's scalars go, keyed by env steps: TensorBoard and progress.csv (and the
  optional loggers). `purge_step`: a resumed run hides the TensorBoard points a killed
  process wrote from there on (0 for a run that starts over)."""

  def __init__(self, cfg: DownstreamConfig, resume_epoch: int, purge_step: int):
    self.logger = wandb_logger.mirror(Logger(os.path.join(cfg.logdir, TRAIN),
                                             purge_step=purge_step))
    self.progress = ProgressWriter(os.path.join(cfg.logdir, PROGRESS), resume_epoch=resume_epoch)

  def write(self, epoch: int, env_steps: int, metrics: dict[str, float],
            episodes_done: tuple[list, list] = (None, None)) -> None:
    self.logger.scalars({**metrics, "epoch": epoch}, env_steps)
    returns, lengths = episodes_done
    self.progress.write(epoch, env_steps, metrics, episode_returns=returns,
                        episode_lengths=lengths)

  def videos(self, path: str | None, env_steps: int) -> None:
    """The optional loggers get the video just written at `path` (None: none)."""
    if path is not None:
      wandb_logger.log_videos(os.path.dirname(path), env_steps)

  def text(self, name: str, text: str) -> None:
    self.logger.text(name, text)

  def flush(self) -> None:
    self.logger.flush()

  def close(self) -> None:
    with contextlib.suppress(OSError):
      self.logger.close()


def write_config(cfg: DownstreamConfig) -> None:
  os.makedirs(cfg.logdir, exist_ok=True)
  atomic_write(os.path.join(cfg.logdir, CONFIG), cfg.to_json())


def prepare(cfg: DownstreamConfig, skills: api.Skills | None = None
            ) -> tuple[api.Skills, tasks.Task, int]:
  """(the skills, loaded from cfg.skills unless given, the task, the primitive horizon);
  one-line errors (TaskError, CapabilityError, model_io's) before any work."""
  task = tasks.get_task(cfg.task)
  if cfg.max_env_steps:
    task = dataclasses.replace(task, max_env_steps=cfg.max_env_steps)
  trained = api.trained_config(cfg.skills) if skills is None else skills.config
  tasks.check_environment(task, trained.env.environment, cfg.skills)
  if skills is None:
    skills = api.load_skills(cfg.skills)
  if cfg.method == "mpc":
    baselines.check_mpc(skills, task)
  if cfg.wandb_project:
    wandb_logger.require(cfg.wandb_project)
  return skills, task, cfg.primitive_horizon or skills.primitive_horizon


def run(cfg: DownstreamConfig, skills: api.Skills | None = None) -> dict[str, float]:
  """Runs cfg's method (training or resuming the trained ones); returns the last test
  metrics. `skills`: the skills at cfg.skills, already loaded (load_skills), to save
  loading them again."""
  skills, task, horizon = prepare(cfg, skills)
  with RunLock(cfg.logdir):
    tracked = (wandb_logger.start(cfg.wandb_project, cfg.logdir, cfg.flat())
               if cfg.wandb_project else None)
    exit_code = 1  # what W&B records if the run ends by an exception
    try:
      if cfg.method in TRAINED:
        result = train(cfg, meta.ControllerRun(cfg, skills, task, horizon))
      else:
        result = run_baseline(cfg, skills, task, horizon)
      exit_code = 0
      return result
    finally:
      if tracked is not None:
        tracked.finish(exit_code=exit_code)


def _config_text(cfg: DownstreamConfig) -> str:
  return "```\n" + cfg.to_json() + "\n```"


def run_baseline(cfg: DownstreamConfig, skills: api.Skills, task: tasks.Task,
                 horizon: int) -> dict[str, float]:
  """The baseline's test episodes, logged as epoch 0 (a rerun replaces them)."""
  write_config(cfg)
  logs = Logs(cfg, resume_epoch=0, purge_step=0)
  try:
    logs.text("config", _config_text(cfg))

    def make(seq):
      return episodes.make_env(skills, task, seq, meta=True, primitive_horizon=horizon,
                               deterministic_skills=cfg.deterministic_skills)

    video = episodes.video_path(cfg.logdir, 0) if cfg.record_freq else None
    metrics = episodes.test_episodes(
        make, baselines.act_for(cfg.method, skills, cfg.seed), cfg.seed, cfg.eval_episodes, video)
    logs.write(0, 0, metrics)
    logs.videos(video, 0)
    logging.info("%s on %s: test return %.3f ± %.3f over %d episodes", cfg.method, task.name,
                 metrics[episodes.TEST_RETURN], metrics[episodes.TEST_STD], cfg.eval_episodes)
    return metrics
  finally:
    logs.close()


def _resume(cfg: DownstreamConfig, run: meta.ControllerRun) -> str | None:
  """Restores the newest intact checkpoint, if any, after checking its settings."""
  latest = checkpoint.latest_valid_checkpoint(os.path.join(cfg.logdir, meta.MODELS))
  if latest is None:
    return None
  saved, _ = checkpoint.restore_meta(latest)
  try:
    saved_cfg = DownstreamConfig.from_json(saved["config"])
  except (KeyError, TypeError, ValueError) as err:
    raise checkpoint.CheckpointError(f"{latest}/meta.json: unreadable settings ({err})") from None
  cfg.check_resume(saved_cfg, latest)
  run.restore(latest)
  logging.info("resumed from %s (epoch %d, %d env steps)", latest, run.counters.epoch,
               run.counters.env_steps)
  return latest


def _check_finite(cfg: DownstreamConfig, run: meta.ControllerRun, metrics: dict[str, float]):
  bad = trainer.first_non_finite(metrics)
  if bad is None and not bool(trainer._all_finite(run.state)):  # pylint: disable=protected-access
    bad = ("a parameter or optimizer state", float("nan"))
  if bad is not None:
    latest = checkpoint.latest_checkpoint(os.path.join(cfg.logdir, meta.MODELS))
    raise trainer.TrainingError(
        f"epoch {run.counters.epoch}: {bad[0]} is {bad[1]} (training diverged); nothing was "
        f"saved from this state, kept {latest or 'no checkpoint'}; lower --agent_lr")


def train(cfg: DownstreamConfig, run: meta.ControllerRun) -> dict[str, float]:
  """Trains (or resumes) a meta / flat_sac run until cfg.num_env_steps env steps."""
  resumed = _resume(cfg, run)
  write_config(cfg)
  counters = run.counters
  if counters.env_steps >= cfg.num_env_steps:
    logging.info("nothing to train: this run has %d env steps (--num_env_steps=%d)",
                 counters.env_steps, cfg.num_env_steps)
    return {}
  logs = Logs(cfg, resume_epoch=counters.epoch,
              purge_step=counters.env_steps + 1 if resumed else 0)
  tested: dict[str, float] = {}
  try:
    if resumed is None:
      logs.text("config", _config_text(cfg))
      video = episodes.video_path(cfg.logdir, 0) if cfg.record_freq else None
      tested = run.test(video)
      logs.write(0, 0, tested)
      logs.videos(video, 0)
      run.collect(cfg.initial_env_steps)
    with trainer.stop_requests() as stop:
      while counters.env_steps < cfg.num_env_steps:
        metrics = run.epoch()
        epoch, done = counters.epoch, counters.env_steps >= cfg.num_env_steps
        film = cfg.record_freq > 0 and (epoch % cfg.record_freq == 0 or done)
        video = episodes.video_path(cfg.logdir, epoch) if film else None
        if film or done or epoch % cfg.eval_freq == 0:
          tested = run.test(video)
          metrics.update(tested)
        logs.write(epoch, counters.env_steps, metrics, run.last_episodes)
        logs.videos(video, counters.env_steps)
        _check_finite(cfg, run, metrics)
        logging.info("epoch %d env steps %d: training return %.3f, test return %s, %.1f s/epoch",
                     epoch, counters.env_steps, metrics.get("episode_return", np.nan),
                     f"{tested[episodes.TEST_RETURN]:.3f}" if episodes.TEST_RETURN in metrics
                     else "-", metrics["perf/epoch_seconds"])
        if epoch % cfg.save_freq == 0 or done or stop:
          logs.flush()  # every point a checkpoint covers is on disk before it
          run.save(cfg.logdir)
        if stop:
          raise trainer.Stopped(f"stopped at epoch {epoch} (saved); rerun the same command to "
                                "resume", stop[0])
  except OSError as err:
    latest = checkpoint.latest_checkpoint(os.path.join(cfg.logdir, meta.MODELS))
    raise trainer.TrainingError(f"{err.filename or cfg.logdir}: {err.strerror or err}; kept "
                                f"{latest or 'no checkpoint'}") from err
  finally:
    logs.close()
  return tested


def read_config(run_dir: str) -> DownstreamConfig:
  """A finished or running downstream run's settings (its config.json)."""
  with open(os.path.join(run_dir, CONFIG), encoding="utf-8") as f:
    return DownstreamConfig.from_json(f.read())
