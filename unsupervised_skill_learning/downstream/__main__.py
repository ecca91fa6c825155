"""Skills on a downstream task: a hierarchical controller, or a baseline, from one command.

  python -m unsupervised_skill_learning.downstream --skills=pretrained/ant_xy \\
      --task=ant_goal --method=meta --logdir=runs/downstream/ant_goal/meta_s0 --seed=0

--method: meta (a SAC meta-controller choosing a skill every --primitive_horizon steps),
mpc (zero-shot MPC over the skill dynamics toward the task's goal), random_skills (a
prior skill per primitive), flat_sac (SAC from scratch on the task, with the skill
policy's network sizes). --task: ant_goal, ant_goal_sparse, ant_waypoints, cheetah_run,
cheetah_back, or module:function for your own (see downstream/tasks.py). Rerunning the
same command resumes a stopped meta / flat_sac run exactly. See docs/downstream.md.
"""

from __future__ import annotations

import signal
import sys

from absl import app, flags, logging

from unsupervised_skill_learning import cli

PROGRAM = "downstream"
_F = flags
_F.DEFINE_string("skills", None, "The trained skills: an exported model (e.g. pretrained/ant_xy) "
                 "or a run's logdir (its newest checkpoint).")
_F.DEFINE_string("task", None, "ant_goal | ant_goal_sparse | ant_waypoints | cheetah_run | "
                 "cheetah_back | module:function (a function returning a downstream Task).")
_F.DEFINE_string("method", "meta", "meta | mpc | random_skills | flat_sac.")
_F.DEFINE_string("logdir", None, "Folder of this run: logs, checkpoints, videos (required).")
_F.DEFINE_integer("seed", 0, "Random seed: the same seed gives the same run, and the same test "
                  "episodes (goals and starts) for every method.")
_F.DEFINE_integer("num_env_steps", 300_000, "Env steps (robot steps) to train for, in total "
                  "across resumes, initial collection included.")
_F.DEFINE_integer("env_steps_per_epoch", 1000, "Env steps collected per epoch.")
_F.DEFINE_integer("initial_env_steps", 5000, "Env steps collected by the initial policy before "
                  "the first update.")
_F.DEFINE_float("updates_per_step", 1.0, "SAC updates per controller step (a meta-step for "
                "meta, an env step for flat_sac).")
_F.DEFINE_integer("replay_buffer_capacity", 100_000, "Replay buffer size (controller steps).")
_F.DEFINE_integer("primitive_horizon", 0, "Env steps a skill is held (0: the skills' "
                  "--primitive_horizon).")
_F.DEFINE_integer("max_env_steps", 0, "Episode length in env steps (0: the task's, 200 for the "
                  "shipped ones).")
_F.DEFINE_bool("deterministic_skills", False, "The skill policy acts with its mean action "
               "(default: sampled actions, as evaluation's).")
_F.DEFINE_integer("eval_episodes", 10, "Test episodes per evaluation (the same task states "
                  "every time, for every method of a seed).")
_F.DEFINE_integer("eval_freq", 10, "Evaluate every N epochs (and at epoch 0 and the end).")
_F.DEFINE_integer("record_freq", 50, "Film the first test episode every N epochs (0: never).")
_F.DEFINE_integer("save_freq", 10, "Checkpoint every N epochs.")
_F.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept (the newest).")
# The controller's SAC: the training run's flags, with downstream defaults.
_F.DEFINE_integer("hidden_layer_size", 0, "Width of the 2 hidden layers of the controller's "
                  "networks (0: the skill policy's).")
_F.DEFINE_float("agent_lr", 3e-4, "SAC learning rate.")
_F.DEFINE_float("agent_gamma", 0.99, "Discount per controller step.")
_F.DEFINE_float("agent_entropy", 1.0, "Reward scale = 1 / agent_entropy.")
_F.DEFINE_integer("agent_batch_size", 256, "SAC batch size.")
_F.DEFINE_float("target_entropy_scale", 1.0, "Continuous actions: target entropy = -scale * "
                "action dimension (discrete skills: half the uniform policy's entropy).")
_F.DEFINE_string("wandb_project", "", "Also log to Weights & Biases under this project (needs "
                 "the wandb extra; WANDB_MODE=offline works without an account).")

FLAGS = flags.FLAGS
# Every flag of this module is a setting (DownstreamConfig's field of the same name);
# --hidden_layer_size is resolved against the skills first.
_SETTINGS = tuple(f.name for f in FLAGS.get_key_flags_for_module(sys.modules[__name__])
                  if f.name != "hidden_layer_size")


def _fail(message: str) -> None:
  cli.fail(PROGRAM, message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  for name in ("skills", "task", "logdir"):
    if not FLAGS[name].value:
      _fail(f"--{name} is required")
  cli.quiet_third_party_logs()
  if FLAGS.hidden_layer_size < 0:
    _fail(f"--hidden_layer_size={FLAGS.hidden_layer_size}: must be >= 0 (0: the skill policy's)")
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo load after flags are valid)
  from lib.checkpoint import CheckpointError
  from lib.run_lock import LockError
  from unsupervised_skill_learning import api
  from unsupervised_skill_learning.downstream import run
  from unsupervised_skill_learning.downstream.config import DownstreamConfig
  from unsupervised_skill_learning.evaluation.model_io import EvaluationError
  from unsupervised_skill_learning.training import trainer
  try:
    values = {name: FLAGS[name].value for name in _SETTINGS}
    # flat_sac and the meta-controller get the skill policy's network sizes by default.
    hidden = FLAGS.hidden_layer_size or api.trained_config(FLAGS.skills).agent.hidden_layer_size
    cfg = DownstreamConfig.build(**values, hidden_layer_size=hidden)
    run.run(cfg)
  except trainer.Stopped as stop:
    print(f"{PROGRAM}: {stop}", file=sys.stderr)
    sys.exit(128 + stop.signum)
  except KeyboardInterrupt:
    print(f"{PROGRAM}: interrupted; what was saved before is kept (rerun the same command to "
          "resume)", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)
  except FileNotFoundError as err:
    _fail(f"--skills={err}")
  except (CheckpointError, EvaluationError, LockError, trainer.TrainingError, ValueError) as err:
    _fail(str(err))
  except OSError as err:
    _fail(f"{err.filename or FLAGS.logdir}: {err.strerror or err}")
  logging.info("done: %s", FLAGS.logdir)


if __name__ == "__main__":
  cli.check_flagfiles(sys.argv, PROGRAM)
  app.run(main)
