"""DADS / off-DADS driver: the only module that reads flags.

  python unsupervised_skill_learning/dads_off.py --flagfile=configs/ant.txt --logdir=DIR
"""

from __future__ import annotations

import sys

from absl import app, flags

_LOGDIR = flags.DEFINE_string("logdir", None, "Folder for logs, checkpoints and videos.")


def main(argv):
  del argv
  raise app.UsageError("training is not available yet in this version; see --help")


def run():
  """Console-script entry point (`dads-off`)."""
  # absl's --help lists the flags of the module named by argv[0]; for the console
  # script that is the launcher, so point it at this module instead.
  sys.argv[0] = __name__
  app.run(main)


if __name__ == "__main__":
  run()
