"""Trained models in and out: a run's newest checkpoint, or an exported model folder.

The export format (written by `export_model`):
  <out>/<environment>/config.json              the run's settings
  <out>/<environment>/models/eval_model.msgpack  the policy and the objective's state
                                                 (skill dynamics and its normalizers;
                                                 no critics, optimizer moments or replay)
  <out>/<environment>/checksums.json           sha256 of both (each must be listed),
                                                 verified before either is read

The settings a model is evaluated with are the ones it was trained with: a checkpoint
carries them (meta.json), and the run's config.json must agree with them (a hand-edited
config.json is refused, naming it); an exported model's config.json is covered by its
checksums.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
from collections.abc import Callable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

import envs
from lib import checkpoint
from lib.atomic import atomic_write, atomic_write_with
from lib.run_lock import RunLock
from unsupervised_skill_learning import components
from unsupervised_skill_learning.config import (ConfigError, RunConfig, saved_overrides,
                                                setting_differences)

EVAL_MODEL = "eval_model.msgpack"
MODELS = "models"
CONFIG = "config.json"
# Every file the loader reads from an exported model: each must be in its checksums.json.
EXPORTED_FILES = (CONFIG, f"{MODELS}/{EVAL_MODEL}")


class EvaluationError(RuntimeError):
  """This logdir cannot be evaluated; the message says why and what to do."""


class UnreadableConfig(EvaluationError):
  """A run's config.json is not a valid run configuration (names the file)."""


def resolve_run_config(cfg: RunConfig, explicit: frozenset[str] = frozenset()) -> RunConfig:
  """The trained run's saved configuration, with this invocation's evaluation, video and
  seed settings. `explicit` names the settings the user gave: one that contradicts the
  trained run (say --environment or --hidden_layer_size) is an EvaluationError, never
  silently ignored."""
  path = os.path.join(cfg.run_dir, CONFIG)
  if not os.path.exists(path):
    found = sorted(glob.glob(os.path.join(cfg.logdir, "*", CONFIG)))
    if len(found) != 1:
      raise EvaluationError(
          f"{cfg.logdir}: no trained run to evaluate (expected {path}); train first with "
          "--run_train=1, or point --logdir at a run's folder")
    path = found[0]
  folder = os.path.dirname(path)
  exported = is_exported(folder)
  if exported:
    # Before config.json is read: a changed one is named by its checksum.
    checkpoint.verify_checksums(folder, kind="model file", required=EXPORTED_FILES)
  saved = _read_json_config(path)
  try:
    return _resolve(cfg, explicit, path, saved)
  except (ConfigError, UnreadableConfig):
    # config.json, or this invocation's settings against it, are not valid (say
    # --primitive_horizon against its --max_env_steps): first make sure config.json is
    # the checkpoint's own, so that a hand-edited config.json is named as such.
    newest = None if exported else checkpoint.latest_valid_checkpoint(
        os.path.join(folder, MODELS))
    if newest is not None:
      _checked_against(path, saved, newest)
    raise


def _resolve(cfg: RunConfig, explicit: frozenset[str], path: str, saved) -> RunConfig:
  folder = os.path.dirname(path)
  try:
    trained = RunConfig.from_dict({**saved, "logdir": cfg.logdir} if isinstance(saved, dict)
                                  else saved)
  except (ValueError, TypeError) as err:
    raise UnreadableConfig(f"{path}: not a readable run configuration ({err})") from None
  if os.path.normpath(trained.run_dir) != os.path.normpath(folder):
    raise EvaluationError(f"{path}: says --environment={trained.env.environment}, but lies in "
                          f"{folder}; a run's config.json lies in <logdir>/<its environment>")
  contradicted = {k: v for k, v in cfg.differences(trained).items()
                  if k in explicit and k != "seed"}
  if contradicted:
    listed = ", ".join(f"--{k}={new} (trained with {old})"
                       for k, (old, new) in sorted(contradicted.items()))
    raise EvaluationError(f"{path}: {listed}: evaluation uses the trained run's settings; drop "
                          "these flags or point --logdir at a run trained with them")
  return _with_evaluation_settings(trained, cfg)


def _with_evaluation_settings(trained: RunConfig, cfg: RunConfig) -> RunConfig:
  """The trained run's settings with cfg's logdir, seed, evaluation and video settings."""
  return dataclasses.replace(trained, logdir=cfg.logdir, eval=cfg.eval, videos=cfg.videos,
                             seed=cfg.seed)


def is_exported(folder: str) -> bool:
  """Whether `folder` (<logdir>/<environment>) holds an exported model."""
  return (os.path.exists(os.path.join(folder, MODELS, EVAL_MODEL))
          or os.path.exists(os.path.join(folder, checkpoint.CHECKSUMS)))


def _read_json_config(path: str):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as err:
    raise UnreadableConfig(f"{path}: not a readable run configuration ({err})") from None


def _checked_against(config_path: str, saved, path: str):
  """The settings checkpoint `path` was trained with (its meta.json carries them, as
  to_dict wrote them), once checked against the run's config.json (`saved`, as read from
  `config_path`): they must agree in every setting of the learning problem, except those
  a later resume changed on purpose (config.json's "overrides" after the checkpoint's
  epoch); EvaluationError naming config.json and each difference otherwise."""
  meta, _ = checkpoint.restore_meta(path)
  try:
    carried = json.loads(meta["config"])
    if not isinstance(carried, dict):
      raise TypeError(f"a JSON {type(carried).__name__}, expected an object")
  except (KeyError, TypeError, ValueError) as err:
    raise checkpoint.CheckpointError(f"{os.path.join(path, checkpoint.META)}: unreadable "
                                     f"settings ({err})") from None
  if not isinstance(saved, dict):
    raise UnreadableConfig(f"{config_path}: not a readable run configuration (a JSON "
                           f"{type(saved).__name__}, expected an object)")
  try:
    later = {r["setting"] for r in saved_overrides(saved, config_path)
             if r["epoch"] > meta["epoch"]}
  except ConfigError as err:
    raise EvaluationError(str(err)) from None
  changed = {k: v for k, v in setting_differences(saved, carried).items()
             if k not in later and k != "seed"}  # the evaluation's seed is its own
  if changed:
    listed = ", ".join(f"--{k}: {new!r} (config.json) vs {old!r} (checkpoint)"
                       for k, (old, new) in sorted(changed.items()))
    raise EvaluationError(f"{config_path}: differs from the settings {path} was trained with: "
                          f"{listed}; evaluation uses a checkpoint's own settings: restore "
                          "config.json (or rerun training, which rewrites it)")
  return carried


def _carried_settings(cfg: RunConfig, path: str) -> RunConfig:
  """The settings checkpoint `path` was trained with, checked against the run's
  config.json (see _checked_against)."""
  config_path = os.path.join(cfg.run_dir, CONFIG)
  carried = _checked_against(config_path, _read_json_config(config_path), path)
  try:
    return RunConfig.from_dict(carried)
  except ValueError as err:
    raise checkpoint.CheckpointError(f"{os.path.join(path, checkpoint.META)}: unreadable "
                                     f"settings ({err})") from None


@dataclasses.dataclass
class TrainedModel:
  cfg: RunConfig
  parts: components.Components
  state: object  # LearnerState
  untrained_state: object
  checkpoint: str


def initial_state(parts: components.Components, seed: int):
  """The learner state a run with this seed starts from (see training.trainer)."""
  _, init_key = jax.random.split(jax.random.key(seed))
  return parts.learner.init(init_key)


def load(cfg: RunConfig, explicit: frozenset[str] = frozenset(), *,
         choose: Callable[[str], str] | None = None) -> TrainedModel:
  """The trained model of the run at cfg.logdir (see resolve_run_config for `explicit`):
  its newest intact checkpoint, or its exported model; choose(models folder) -> a
  checkpoint path picks another checkpoint instead."""
  return load_resolved(resolve_run_config(cfg, explicit), choose=choose)


def load_resolved(cfg: RunConfig, *, choose: Callable[[str], str] | None = None
                  ) -> TrainedModel:
  """load, for a configuration resolve_run_config returned; the model is evaluated with
  the settings its checkpoint carries (see _carried_settings)."""
  models = os.path.join(cfg.run_dir, MODELS)
  path = choose(models) if choose is not None else checkpoint.latest_valid_checkpoint(models)
  if path is not None:
    cfg = _with_evaluation_settings(_carried_settings(cfg, path), cfg)
  elif is_exported(cfg.run_dir):
    path = os.path.join(models, EVAL_MODEL)  # verified with config.json by resolve_run_config
  else:
    raise EvaluationError(f"{models}: no trained model (no checkpoint or {EVAL_MODEL}); train "
                          "first with --run_train=1 and --save_model set")
  try:
    probe = envs.get_environment(cfg.env.environment)
  except ValueError as err:
    raise ConfigError(str(err)) from None
  parts = components.build(cfg, int(np.prod(probe.action_space.shape)))
  probe.close()
  template = initial_state(parts, cfg.seed)
  if path.endswith(EVAL_MODEL):
    state = load_eval_model(path, template)
  else:
    state = jax.tree.map(jnp.asarray, checkpoint.restore_state(path, template))
  return TrainedModel(cfg, parts, state, template, path)


def eval_state_dict(state) -> dict:
  """The parts of a LearnerState that acting and planning use, as a flax state dict."""
  objective = flax.serialization.to_state_dict(jax.device_get(state.objective))
  objective.pop("opt_state", None)
  return {"actor": flax.serialization.to_state_dict(jax.device_get(state.agent.actor)),
          "objective": objective}


def load_eval_model(path: str, template):
  """An exported model into a LearnerState; the parts it lacks (critics, optimizer
  moments) keep the template's values."""
  try:
    with open(path, "rb") as f:
      saved = flax.serialization.msgpack_restore(f.read())
    objective = flax.serialization.to_state_dict(template.objective)
    saved_objective = dict(saved["objective"])
    if "opt_state" in objective:
      saved_objective["opt_state"] = objective["opt_state"]
    actor = flax.serialization.from_state_dict(template.agent.actor, saved["actor"])
    objective = flax.serialization.from_state_dict(template.objective, saved_objective)
  except Exception as err:  # msgpack/flax raise many types for a damaged file
    raise checkpoint.CheckpointError(f"{path}: unreadable or incompatible model ({err})") from err
  for want, got in zip(jax.tree.leaves((template.agent.actor, template.objective)),
                       jax.tree.leaves((actor, objective))):
    if np.shape(want) != np.shape(got):
      raise checkpoint.CheckpointError(f"{path}: incompatible model (array of shape "
                                       f"{np.shape(got)}, expected {np.shape(want)})")
  state = template.replace(agent=template.agent.replace(actor=actor), objective=objective)
  return jax.tree.map(jnp.asarray, state)


def export(cfg: RunConfig, out: str) -> str:
  """Writes the exported model of the run at cfg.logdir to <out>/<environment>/ (the run
  locked meanwhile, so training cannot rotate its checkpoint away)."""
  if os.path.lexists(out) and not os.path.isdir(out):
    raise EvaluationError(f"--out={out}: is a file; give a folder (it is made if needed)")
  resolved = resolve_run_config(cfg)
  with RunLock(resolved.run_dir):
    model = load_resolved(resolved)
    folder = os.path.join(out, model.cfg.env.environment)
    if os.path.normpath(os.path.abspath(folder)) == os.path.normpath(
        os.path.abspath(model.cfg.run_dir)):
      raise EvaluationError(f"--out={out}: is the run's own logdir; give another folder")
    os.makedirs(os.path.join(folder, MODELS), exist_ok=True)
    path = os.path.join(folder, MODELS, EVAL_MODEL)
    atomic_write(path, flax.serialization.msgpack_serialize(eval_state_dict(model.state)))
    config = os.path.join(model.cfg.run_dir, CONFIG)
    atomic_write_with(os.path.join(folder, CONFIG), lambda tmp: shutil.copyfile(config, tmp))
    checkpoint.write_checksums(folder, EXPORTED_FILES)
  return path
