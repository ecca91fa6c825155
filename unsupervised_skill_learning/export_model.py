"""Exports what evaluation needs from a trained run: a small, self-contained model folder.

  python -m unsupervised_skill_learning.export_model --logdir=runs/ant --out=pretrained/ant_xy

writes <out>/<environment>/config.json and <out>/<environment>/models/eval_model.msgpack
(the policy and the skill dynamics with its normalizers; no critics, optimizer moments
or replay buffer) and <out>/<environment>/checksums.json, which
`--run_eval=1 --run_train=0 --logdir=<out>` loads and verifies.
"""

from __future__ import annotations

import os

from absl import app, flags

from lib import checkpoint
from unsupervised_skill_learning.config import EnvConfig, RunConfig
from unsupervised_skill_learning.evaluation import model_io

_LOGDIR = flags.DEFINE_string("logdir", None, "A trained run's --logdir.")
_ENV = flags.DEFINE_string("environment", "", "The run's environment (when the logdir holds several).")
_OUT = flags.DEFINE_string("out", None, "Folder to write the exported model to.")


def main(argv):
  del argv
  if not _LOGDIR.value or not _OUT.value:
    raise app.UsageError("--logdir and --out are required")
  cfg = RunConfig(logdir=_LOGDIR.value,
                  env=EnvConfig(environment=_ENV.value) if _ENV.value else EnvConfig())
  try:
    path = model_io.export(cfg, _OUT.value)
  except (checkpoint.CheckpointError, model_io.EvaluationError, ValueError) as err:
    raise app.UsageError(str(err)) from None
  print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
  app.run(main)
