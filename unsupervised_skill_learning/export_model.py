"""Exports what evaluation needs from a trained run: a small, self-contained model folder.

Writes <out>/<environment>/config.json (the run's settings),
<out>/<environment>/models/eval_model.msgpack (the policy, and the skill dynamics with
its normalizers; no critics, optimizer moments or replay buffer) and
<out>/<environment>/checksums.json (the sha256 of both), from the run's newest intact
checkpoint. `dads_off --run_eval=1 --run_train=0 --logdir=<out>` evaluates it, verifying
the checksums first.

  python -m unsupervised_skill_learning.export_model --logdir=runs/ant --out=pretrained/ant_xy
"""

from __future__ import annotations

import os

from absl import flags

from lib import checkpoint
from lib.run_lock import LockError
from unsupervised_skill_learning import cli
from unsupervised_skill_learning.config import EnvConfig, RunConfig
from unsupervised_skill_learning.evaluation import model_io

_LOGDIR = flags.DEFINE_string("logdir", None, "A trained run's --logdir.")
_ENV = flags.DEFINE_string("environment", "", "The run's environment (when the logdir holds several).")
_OUT = flags.DEFINE_string("out", None, "Folder to write the exported model to (made if needed).")


def _fail(message: str) -> None:
  cli.fail("export_model", message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  if not _LOGDIR.value or not _OUT.value:
    _fail("--logdir and --out are required")
  try:
    cfg = RunConfig(logdir=_LOGDIR.value,
                    env=EnvConfig(environment=_ENV.value) if _ENV.value else EnvConfig())
    path = model_io.export(cfg, _OUT.value)
  except (checkpoint.CheckpointError, model_io.EvaluationError, LockError, ValueError) as err:
    _fail(str(err))
  except OSError as err:  # --out cannot be made or written (a file in the way, a full disk)
    _fail(f"{err.filename or _OUT.value}: {err.strerror or err}")
  print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
  cli.run(main, "export_model", __doc__)
