"""Trains skills without reward (DADS, off-DADS, DIAYN, ...) and evaluates them.

Training discovers skills in an environment with no task reward, logging to TensorBoard
and progress.csv and saving checkpoints under --logdir; the same command again resumes
exactly where it stopped (Ctrl-C, SIGTERM or a closed terminal save first). Evaluation
(--run_eval=1) films the skills, measures how much of the space they cover, and reaches
goals it was never trained for by planning over skills (MPC).

  python unsupervised_skill_learning/dads_off.py --flagfile=configs/ant.txt --logdir=DIR
  python unsupervised_skill_learning/dads_off.py --logdir=DIR --run_train=0 --run_eval=1

Accepts every flag of the original DADS flag files with the original meanings (0/1 work
for booleans), plus --seed, --objective and a few additions documented in
configs/template_config.txt. Each registered objective's settings are flags too.
"""

# This module is the only one that reads flags: they convert once into frozen config
# dataclasses (RunConfig.build).

from __future__ import annotations

import dataclasses
import os
import signal
import sys

from unsupervised_skill_learning import cli

if __name__ == "__main__":
  # Before the heavy imports below: a SIGTERM while JAX loads stops with its line too.
  cli.stop_on_signals("dads_off")

# pylint: disable=wrong-import-position
from absl import flags, logging

with cli.stops_survive_imports():
  from unsupervised_skill_learning.objectives import OBJECTIVES

_F = flags

# --- run -------------------------------------------------------------------------------
_F.DEFINE_string("logdir", None, "Folder for logs, checkpoints and videos (required).")
_F.DEFINE_integer("seed", 0, "Random seed: the same seed gives the same run.")
_F.DEFINE_bool("run_train", True, "Train (resuming from the newest checkpoint if any).")
_F.DEFINE_bool("run_eval", False, "Evaluate: skill videos and goal reaching with MPC.")
_F.DEFINE_bool("train_from_scratch", False, "Delete the run's checkpoints, TensorBoard logs, "
               "videos and evaluation, and start over.")
_F.DEFINE_string("override_config", "", "Settings a resumed run may change from its "
                 "checkpoint's, comma-separated (e.g. agent_lr,seed); recorded in config.json.")
_F.DEFINE_string("save_model", "dads", "Save checkpoints when non-empty (the original's "
                 "checkpoint name prefix; '' disables saving).")
_F.DEFINE_integer("save_freq", 50, "Checkpoint every N epochs.")
_F.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept (the newest).")
_F.DEFINE_integer("record_freq", 100, "Record skill videos every N epochs.")
_F.DEFINE_string("vid_name", "skill", "File name prefix of skill videos.")
_F.DEFINE_integer("num_evals", 3, "Skills recorded per video round (training: every skill of "
                  "a discrete prior; evaluation: num_evals, discrete skills in order, each once "
                  "before any repeats).")
_F.DEFINE_bool("debug", False, "Verbose logging.")
_F.DEFINE_string("wandb_project", "", "Also log to Weights & Biases under this project: the "
                 "same scalars, the config and the videos (the wandb extra; WANDB_MODE=offline "
                 "works without an account).")
# --- training --------------------------------------------------------------------------
_F.DEFINE_integer("replay_buffer_capacity", 10000, "Replay buffer size (transitions).")
_F.DEFINE_bool("clear_buffer_every_iter", False, "On-policy: clear the buffer every epoch.")
_F.DEFINE_integer("initial_collect_steps", 2000, "Steps collected before the first epoch.")
_F.DEFINE_integer("collect_steps", 500, "Steps collected per epoch.")
_F.DEFINE_integer("num_epochs", 100, "Epochs to train for (in total, across resumes).")
_F.DEFINE_integer("num_envs", 1, "Environments stepped in parallel by the backend.")
_F.DEFINE_string("backend", "host", "Where environments run: host (Gymnasium/MuJoCo on the "
                 "CPU) | mjx (MJX on the accelerator: the whole epoch is one jitted call).")
_F.DEFINE_integer("skill_dyn_train_steps", 8, "Skill-dynamics updates per epoch.")
_F.DEFINE_integer("skill_dyn_batch_size", 256, "Skill-dynamics batch size.")
_F.DEFINE_float("agent_gamma", 0.99, "Discount.")
_F.DEFINE_float("agent_lr", 3e-4, "SAC learning rate (actor, critics, temperature).")
_F.DEFINE_float("agent_entropy", 0.1, "Reward scale = 1 / agent_entropy (as the original).")
_F.DEFINE_integer("agent_train_steps", 64, "SAC updates per epoch.")
_F.DEFINE_integer("agent_batch_size", 256, "SAC batch size.")
_F.DEFINE_string("skill_dynamics_relabel_type", "importance_sampling",
                 "none | importance_sampling | policy | dynamics_posterior.")
_F.DEFINE_string("agent_relabel_type", "none", "none | policy | dynamics_posterior.")
_F.DEFINE_integer("num_samples_for_relabelling", 1, "Candidate skills (original included).")
_F.DEFINE_float("is_clip_eps", 1.0, "Clip IS weights to [1/eps, eps]; <= 1 turns IS off.")
_F.DEFINE_bool("normalized_importance_sampling", False, "Divide IS weights by their mean.")
_F.DEFINE_integer("min_steps_before_resample", 2000, "Steps before a skill may be redrawn.")
_F.DEFINE_float("resample_prob", 0.02, "Per-step probability of redrawing the skill.")
_F.DEFINE_bool("train_skill_dynamics_on_policy", False, "Skill dynamics on this epoch's data only.")
_F.DEFINE_string("collect_policy", "default", "default | ou_noise.")
_F.DEFINE_float("action_clipping", 1.0, "Clip policy actions to [-c, c] (of [-1, 1]).")
_F.DEFINE_float("target_entropy_scale", 1.0, "SAC's target entropy = -scale * action "
                "dimension. original: 0.5 (tf-agents' default, -dim(A) / 2).")
_F.DEFINE_string("agent_init", "flax", "Actor and critic initializers: flax (lecun_normal "
                 "kernels, zero biases) | tf_agents (actor: glorot_uniform hidden kernels, mean "
                 "and log-std heads VarianceScaling(0.1) truncated normal, zero biases; critics: "
                 "VarianceScaling(1/3, fan_in, uniform) hidden kernels, last layer U(+-0.003), "
                 "zero biases). original: tf_agents.")
_F.DEFINE_string("alpha_loss_sample", "pre_update", "Actions the SAC temperature loss uses: "
                 "pre_update (the actor loss's sample, before the actor's step) | fresh (a new "
                 "sample from the updated actor). original: fresh.")
# --- environment and skills ----------------------------------------------------------------
_F.DEFINE_string("environment", "Ant-v1", "Environment name (see envs/registry.py).")
_F.DEFINE_integer("max_env_steps", 200, "Episode length (a truncation).")
_F.DEFINE_integer("reduced_observation", 0, "Skill-dynamics observation: 0 full, 1 x, 2 x-y, "
                  "3 x-y-heading, 4 x-y + x-y velocities (per environment).")
_F.DEFINE_integer("num_skills", 2, "Skill dimension (number of skills when discrete).")
_F.DEFINE_string("skill_type", "cont_uniform",
                 "discrete_uniform | cont_uniform | gaussian | multivariate_bernoulli | "
                 "cont_sphere (uniform on the unit sphere: a normalised Gaussian, as METRA).")
_F.DEFINE_string("objective", "dads", " | ".join(
    f"{name}: {spec.summary}" for name, spec in OBJECTIVES.items()))
_F.DEFINE_integer("hidden_layer_size", 512, "Width of the 2 hidden layers of every network.")
# --- evaluation ------------------------------------------------------------------------------
_F.DEFINE_integer("planning_horizon", 1, "Skills planned ahead.")
_F.DEFINE_integer("primitive_horizon", 10, "Steps each planned skill is held.")
_F.DEFINE_integer("num_candidate_sequences", 50, "Candidates per refinement.")
_F.DEFINE_integer("refine_steps", 10, "Refinements per replanning step.")
_F.DEFINE_float("mppi_gamma", 10.0, "MPPI inverse temperature.")
_F.DEFINE_string("prior_type", "normal", "normal: MPPI; uniform: CEM-like with elites.")
_F.DEFINE_float("smoothing_beta", 0.9, "Smoothing between consecutive planned skills.")
_F.DEFINE_integer("top_primitives", 5, "Elites of the CEM-like planner.")
_F.DEFINE_string("goals", "", "Goals 'x1,y1;x2,y2;...' (default: the environment's list).")
_F.DEFINE_string("goal_set", "paper", "Named goals when --goals is not given: paper (the "
                 "environment's list: the paper's 6 for Ant) | random30 (30 goals uniform in the "
                 "square of 1.5x the paper goals' reach, [-15, 15]^2 for Ant, as the paper's "
                 "Figure 7; fixed seed; none nearer the start than a third of that).")
_F.DEFINE_bool("deterministic_eval", False, "0 (the original's default): evaluation samples "
               "the policy's actions, as the original's evaluation policy did; 1: every skill "
               "of a discrete prior, acting with the policy's mean action.")
_F.DEFINE_bool("record_eval_videos", True, "Write mp4s during evaluation.")
_F.DEFINE_integer("mpc_fresh_proposal", 0, "Where each MPC replanning's proposal mean starts: "
                  "0 the last plan, shifted | 1 fresh zeros (the N(0, I) proposal's mean) | 2 a "
                  "fresh draw from N(0, I). With --planning_horizon > 1 only the slot appended "
                  "after the shift is fresh, as the original. original: 2.")

# Each objective's settings, from its settings dataclass (see objectives/base.py).
_DEFINE_BY_TYPE = {"float": _F.DEFINE_float, "int": _F.DEFINE_integer, "bool": _F.DEFINE_bool,
                   "str": _F.DEFINE_string}
for _spec in OBJECTIVES.values():
  for _field in dataclasses.fields(_spec.config):
    _DEFINE_BY_TYPE[_field.type](_field.name, _field.default,
                                 f"[{_spec.name}] {_field.metadata['help']}")

# Flags of robots this project does not ship: accepted, ignored with one warning.
UNSHIPPED_ROBOT_FLAGS = {
    "expose_last_action": 1, "expose_upright": 1, "robot_noise_ratio": 0.0,
    "root_noise_ratio": 0.0, "upright_threshold": 0.95, "scale_root_position": 1,
    "randomize_hfield": 0.0, "observation_omission_size": 0,
    "randomized_initial_distribution": 1, "horizontal_wrist_constraint": 0.3,
    "vertical_wrist_constraint": 1.0,
}
for _name, _default in UNSHIPPED_ROBOT_FLAGS.items():
  _F.DEFINE_float(_name, _default, "DKitty / DClaw / HandBlock only: ignored here.")

FLAGS = flags.FLAGS
# The flags this module defined (absl's own, such as --flagfile, are not settings).
_RUN_FLAGS = tuple(f.name for f in FLAGS.get_key_flags_for_module(sys.modules[__name__]))


def parse_goals(text: str) -> tuple[tuple[float, float], ...]:
  """'x1,y1;x2,y2' -> ((x1, y1), (x2, y2)); '' -> () (the environment's goals); a
  ValueError naming --goals for anything else, an empty goal included (';;', '1,2;;3,4';
  one trailing ';' is allowed)."""
  if not text.strip():
    return ()
  parts = [p.strip() for p in text.split(";")]
  if len(parts) > 1 and not parts[-1]:
    parts.pop()
  goals = []
  for part in parts:
    try:
      x, y = (float(v) for v in part.split(","))
    except ValueError:
      raise ValueError(f"--goals={text}: expected 'x1,y1;x2,y2;...', got "
                       f"{part!r}{' (an empty goal)' if not part else ''}") from None
    goals.append((x, y))
  return tuple(goals)


def setting_names() -> tuple[str, ...]:
  """The flags that are run settings (what a sweep may vary), every objective's included."""
  return tuple(n for n in _RUN_FLAGS
               if n not in ("logdir", "debug", "wandb_project", *UNSHIPPED_ROBOT_FLAGS))


def parse_setting(name: str, text: str):
  """A setting's value from its command-line text; ValueError naming --name otherwise."""
  if name not in setting_names():
    raise ValueError(f"--{name}: not a setting of dads_off (e.g. seed, agent_lr, objective)")
  try:
    return FLAGS[name].parser.parse(text)
  except (ValueError, TypeError) as err:
    raise ValueError(f"--{name}={text}: {err}") from None


def config_from_flags(overrides: dict | None = None, logdir: str | None = None):
  """FLAGS, with `overrides` {name: value} in place of their flags' values -> RunConfig
  (validated); raises ValueError naming the flag."""
  # pylint: disable=import-outside-toplevel  (heavy imports only once flags are parsed)
  from unsupervised_skill_learning.config import RunConfig
  values = {name: FLAGS[name].value for name in setting_names()}
  values.update(overrides or {})
  goals = values.pop("goals")
  goals = parse_goals(goals) if isinstance(goals, str) else goals
  return RunConfig.build(logdir=(FLAGS.logdir if logdir is None else logdir) or "", goals=goals,
                         **values)


def _check_logdir(logdir: str) -> None:
  """--logdir must be a folder this process can create and write in."""
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    _fail(f"--logdir={logdir}: is a file, not a folder")
  try:
    os.makedirs(logdir, exist_ok=True)
  except OSError as err:
    _fail(f"--logdir={logdir}: cannot create it ({err.strerror})")
  if not os.access(logdir, os.W_OK | os.X_OK):
    _fail(f"--logdir={logdir}: not writable")


def _fail(message: str) -> None:
  cli.fail("dads_off", message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  if FLAGS.debug:
    logging.set_verbosity(logging.DEBUG)
  ignored = sorted(n for n in UNSHIPPED_ROBOT_FLAGS if FLAGS[n].present)
  if ignored:
    logging.warning("ignoring flags of robots this project does not ship (DKitty, DClaw, "
                    "HandBlock): %s", ", ".join(ignored))
  # pylint: disable=import-outside-toplevel  (MuJoCo loads after flags are valid)
  from lib import wandb_logger
  from lib.checkpoint import CheckpointError
  from lib.run_lock import LockError
  from unsupervised_skill_learning import components
  from unsupervised_skill_learning.evaluation import run as evaluation
  from unsupervised_skill_learning.evaluation.model_io import EvaluationError
  from unsupervised_skill_learning.training import trainer
  try:
    cfg = config_from_flags()
    if cfg.train.run_train:
      components.check(cfg)
      cfg.overridden()
      _check_logdir(cfg.logdir)
    if FLAGS.wandb_project:  # the loggers training builds mirror to this run
      wandb_logger.start(FLAGS.wandb_project, cfg.run_dir, cfg.to_dict())
  except ValueError as err:
    _fail(str(err))
  try:
    if cfg.train.run_train:
      trainer.run(cfg)
    if cfg.eval.run_eval:
      # After training in this invocation the flags are the run's own; alone, the ones
      # given must not contradict the trained run.
      given = frozenset() if cfg.train.run_train else frozenset(
          name for name in _RUN_FLAGS if FLAGS[name].present)
      evaluation.run(cfg, given)
  except trainer.Stopped as stop:
    print(f"dads_off: {stop}", file=sys.stderr)
    sys.exit(128 + stop.signum)
  except KeyboardInterrupt:
    print("dads_off: interrupted; what was saved before is kept (rerun the same command to "
          "resume)", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)
  except (CheckpointError, EvaluationError, LockError, trainer.TrainingError, ValueError) as err:
    _fail(str(err))
  except OSError as err:  # a full disk or a vanished folder outside the training loop
    _fail(f"{err.filename or cfg.logdir}: {err.strerror or err}")


def run():
  """Console-script entry point (`dads-off`)."""
  # The help lists the flags of the module named by argv[0]; for the console script that
  # is the launcher, so point it at this module instead.
  sys.argv[0] = __name__
  cli.run(main, "dads_off", __doc__, stop_signals=True)


if __name__ == "__main__":
  cli.run(main, "dads_off", __doc__, stop_signals=True)
