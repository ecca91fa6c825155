"""Exports what evaluation needs from a trained run: a small, self-contained model folder.

  python -m unsupervised_skill_learning.export_model --logdir=runs/ant --out=pretrained/ant_xy

writes <out>/<environment>/config.json and <out>/<environment>/models/eval_model.msgpack
(the policy and the skill dynamics with its normalizers; no critics, optimizer moments
or replay buffer), which `--run_eval=1 --run_train=0 --logdir=<out>` loads.
"""

from __future__ import annotations

import os
import shutil

import flax.serialization
import jax
from absl import app, flags

from lib import checkpoint
from unsupervised_skill_learning import evaluate
from unsupervised_skill_learning.config import EnvConfig, RunConfig

EVAL_MODEL = evaluate.EVAL_MODEL

_LOGDIR = flags.DEFINE_string("logdir", None, "A trained run's --logdir.")
_ENV = flags.DEFINE_string("environment", "", "The run's environment (when the logdir holds several).")
_OUT = flags.DEFINE_string("out", None, "Folder to write the exported model to.")


def eval_state_dict(state) -> dict:
  """The parts of a LearnerState that acting and planning use, as a flax state dict."""
  objective = flax.serialization.to_state_dict(jax.device_get(state.objective))
  objective.pop("opt_state", None)
  return {"actor": flax.serialization.to_state_dict(jax.device_get(state.agent.actor)),
          "objective": objective}


def export(cfg: RunConfig, out: str) -> str:
  model = evaluate.load(cfg)
  folder = os.path.join(out, model.cfg.env.environment)
  os.makedirs(os.path.join(folder, "models"), exist_ok=True)
  path = os.path.join(folder, "models", EVAL_MODEL)
  with open(path + ".tmp", "wb") as f:
    f.write(flax.serialization.msgpack_serialize(eval_state_dict(model.state)))
  os.replace(path + ".tmp", path)
  shutil.copyfile(os.path.join(model.cfg.run_dir, "config.json"),
                  os.path.join(folder, "config.json"))
  return path


def main(argv):
  del argv
  if not _LOGDIR.value or not _OUT.value:
    raise app.UsageError("--logdir and --out are required")
  cfg = RunConfig(logdir=_LOGDIR.value,
                  env=EnvConfig(_ENV.value) if _ENV.value else EnvConfig())
  try:
    path = export(cfg, _OUT.value)
  except (checkpoint.CheckpointError, evaluate.EvaluationError) as err:
    raise app.UsageError(str(err)) from None
  print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
  app.run(main)
