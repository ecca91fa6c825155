"""Trained models in and out: a run's newest checkpoint, or an exported model folder.

The export format (written by `export_model`):
  <out>/<environment>/config.json              the run's settings
  <out>/<environment>/models/eval_model.msgpack  the policy and the objective's state
                                                 (skill dynamics and its normalizers;
                                                 no critics, optimizer moments or replay)
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
from unsupervised_skill_learning import components
from unsupervised_skill_learning.config import ConfigError, RunConfig

EVAL_MODEL = "eval_model.msgpack"
MODELS = "models"


class EvaluationError(RuntimeError):
  """This logdir cannot be evaluated; the message says why and what to do."""


def resolve_run_config(cfg: RunConfig, explicit: frozenset[str] = frozenset()) -> RunConfig:
  """The trained run's saved configuration, with this invocation's evaluation, video and
  seed settings. `explicit` names the settings the user gave: one that contradicts the
  trained run (say --environment or --hidden_layer_size) is an EvaluationError, never
  silently ignored."""
  path = os.path.join(cfg.run_dir, "config.json")
  if not os.path.exists(path):
    found = sorted(glob.glob(os.path.join(cfg.logdir, "*", "config.json")))
    if len(found) != 1:
      raise EvaluationError(
          f"{cfg.logdir}: no trained run to evaluate (expected {path}); train first with "
          "--run_train=1, or point --logdir at a run's folder")
    path = found[0]
  try:
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if isinstance(saved, dict):
      saved["logdir"] = cfg.logdir
    trained = RunConfig.from_dict(saved)
  except (OSError, ValueError, TypeError) as err:
    raise EvaluationError(f"{path}: not a readable run configuration ({err})") from None
  contradicted = {k: v for k, v in cfg.differences(trained).items()
                  if k in explicit and k != "seed"}
  if contradicted:
    listed = ", ".join(f"--{k}={new} (trained with {old})"
                       for k, (old, new) in sorted(contradicted.items()))
    raise EvaluationError(f"{path}: {listed}: evaluation uses the trained run's settings; drop "
                          "these flags or point --logdir at a run trained with them")
  return dataclasses.replace(trained, eval=cfg.eval, videos=cfg.videos, seed=cfg.seed)


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
  cfg = resolve_run_config(cfg, explicit)
  try:
    probe = envs.get_environment(cfg.env.environment)
  except ValueError as err:
    raise ConfigError(str(err)) from None
  parts = components.build(cfg, int(np.prod(probe.action_space.shape)))
  probe.close()
  models = os.path.join(cfg.run_dir, MODELS)
  template = initial_state(parts, cfg.seed)
  path = choose(models) if choose is not None else checkpoint.latest_valid_checkpoint(models)
  if path is not None:
    state = jax.tree.map(jnp.asarray, checkpoint.restore_state(path, template))
  elif os.path.exists(os.path.join(models, EVAL_MODEL)):
    checkpoint.verify_checksums(cfg.run_dir, kind="model file")
    path = os.path.join(models, EVAL_MODEL)
    state = load_eval_model(path, template)
  else:
    raise EvaluationError(f"{models}: no trained model (no checkpoint or {EVAL_MODEL}); train "
                          "first with --run_train=1 and --save_model set")
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
  """Writes the exported model of the run at cfg.logdir to <out>/<environment>/."""
  model = load(cfg)
  folder = os.path.join(out, model.cfg.env.environment)
  os.makedirs(os.path.join(folder, MODELS), exist_ok=True)
  path = os.path.join(folder, MODELS, EVAL_MODEL)
  atomic_write(path, flax.serialization.msgpack_serialize(eval_state_dict(model.state)))
  config = os.path.join(model.cfg.run_dir, "config.json")
  atomic_write_with(os.path.join(folder, "config.json"), lambda tmp: shutil.copyfile(config, tmp))
  checkpoint.write_checksums(folder, ["config.json", f"{MODELS}/{EVAL_MODEL}"])
  return path
