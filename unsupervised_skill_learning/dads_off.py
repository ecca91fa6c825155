"""DADS / off-DADS driver: the only module that reads flags.

  python unsupervised_skill_learning/dads_off.py --flagfile=configs/ant.txt --logdir=DIR

Accepts every flag of the original DADS flag files with the original meanings (0/1 work
for booleans), plus --seed, --objective=dads|diayn and a few additions documented in
configs/template_config.txt. Flags convert once into frozen config dataclasses.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys

from absl import app, flags, logging

_F = flags

# --- run -------------------------------------------------------------------------------
_F.DEFINE_string("logdir", None, "Folder for logs, checkpoints and videos (required).")
_F.DEFINE_integer("seed", 0, "Random seed: the same seed gives the same run.")
_F.DEFINE_bool("run_train", True, "Train (resuming from the newest checkpoint if any).")
_F.DEFINE_bool("run_eval", False, "Evaluate: skill videos and goal reaching with MPC.")
_F.DEFINE_bool("train_from_scratch", False, "Delete existing checkpoints and start over.")
_F.DEFINE_string("save_model", "dads", "Save checkpoints when non-empty (the original's "
                 "checkpoint name prefix; '' disables saving).")
_F.DEFINE_integer("save_freq", 50, "Checkpoint every N epochs.")
_F.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept (the newest).")
_F.DEFINE_integer("record_freq", 100, "Record skill videos every N epochs.")
_F.DEFINE_string("vid_name", "skill", "File name prefix of skill videos.")
_F.DEFINE_integer("num_evals", 3, "Skills recorded per video round (all, for discrete skills).")
_F.DEFINE_bool("debug", False, "Verbose logging.")
# --- training --------------------------------------------------------------------------
_F.DEFINE_integer("replay_buffer_capacity", 10000, "Replay buffer size (transitions).")
_F.DEFINE_bool("clear_buffer_every_iter", False, "On-policy: clear the buffer every epoch.")
_F.DEFINE_integer("initial_collect_steps", 2000, "Steps collected before the first epoch.")
_F.DEFINE_integer("collect_steps", 500, "Steps collected per epoch.")
_F.DEFINE_integer("num_epochs", 100, "Epochs to train for (in total, across resumes).")
_F.DEFINE_integer("num_envs", 1, "Environments stepped in lockstep by the collector.")
_F.DEFINE_integer("skill_dyn_train_steps", 8, "Skill-dynamics updates per epoch.")
_F.DEFINE_float("skill_dynamics_lr", 3e-4, "Skill-dynamics learning rate.")
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
# --- environment and skills ----------------------------------------------------------------
_F.DEFINE_string("environment", "Ant-v1", "Environment name (see envs/registry.py).")
_F.DEFINE_integer("max_env_steps", 200, "Episode length (a truncation).")
_F.DEFINE_integer("reduced_observation", 0, "Skill-dynamics observation: 0 full, 1 x, 2 x-y, "
                  "3 x-y-heading, 4 x-y + x-y velocities (per environment).")
_F.DEFINE_integer("num_skills", 2, "Skill dimension (number of skills when discrete).")
_F.DEFINE_string("skill_type", "cont_uniform",
                 "discrete_uniform | cont_uniform | gaussian | multivariate_bernoulli.")
_F.DEFINE_string("objective", "dads", "dads | diayn.")
_F.DEFINE_integer("random_skills", 100, "L: prior samples in the DADS reward's denominator.")
_F.DEFINE_integer("hidden_layer_size", 512, "Width of the 2 hidden layers of every network.")
_F.DEFINE_string("graph_type", "default", "Skill dynamics input graph: default | separate.")
_F.DEFINE_integer("num_components", 4, "Mixture components of the skill dynamics.")
_F.DEFINE_bool("fix_variance", True, "Unit-variance components (else learned, clipped).")
_F.DEFINE_bool("normalize_data", True, "Normalize skill-dynamics inputs and targets.")
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
_F.DEFINE_bool("deterministic_eval", False, "0 (the original's default): evaluation samples "
               "the policy's actions, as the original's evaluation policy did; 1: every skill "
               "of a discrete prior, acting with the policy's mean action.")
_F.DEFINE_bool("record_eval_videos", True, "Write mp4s during evaluation.")

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


def parse_goals(text: str) -> tuple[tuple[float, float], ...]:
  """'x1,y1;x2,y2' -> ((x1, y1), (x2, y2)); ValueError naming --goals otherwise."""
  goals = []
  for part in filter(None, (p.strip() for p in text.split(";"))):
    try:
      x, y = (float(v) for v in part.split(","))
    except ValueError:
      raise ValueError(f"--goals={text}: expected 'x1,y1;x2,y2;...', got {part!r}") from None
    goals.append((x, y))
  return tuple(goals)


def config_from_flags():
  """FLAGS -> RunConfig (validated); raises ValueError naming the flag."""
  # pylint: disable=import-outside-toplevel  (heavy imports only once flags are parsed)
  from unsupervised_skill_learning import config as c
  f = FLAGS
  return c.RunConfig(
      logdir=f.logdir or "",
      env=c.EnvConfig(f.environment, f.max_env_steps, f.reduced_observation,
                      f.min_steps_before_resample, f.resample_prob, f.num_envs),
      skills=c.SkillConfig(f.skill_type, f.num_skills, f.objective, f.random_skills),
      agent=c.AgentConfig(f.hidden_layer_size, f.agent_lr, f.agent_gamma, f.agent_entropy,
                          f.agent_train_steps, f.agent_batch_size, f.action_clipping,
                          f.collect_policy, f.agent_relabel_type),
      dynamics=c.DynamicsConfig(f.skill_dyn_train_steps, f.skill_dynamics_lr,
                                f.skill_dyn_batch_size, f.num_components, f.fix_variance,
                                f.normalize_data, f.graph_type, f.skill_dynamics_relabel_type,
                                f.num_samples_for_relabelling, f.is_clip_eps,
                                f.normalized_importance_sampling,
                                f.train_skill_dynamics_on_policy),
      train=c.TrainConfig(f.run_train, f.num_epochs, f.initial_collect_steps, f.collect_steps,
                          f.replay_buffer_capacity, f.clear_buffer_every_iter, f.save_model,
                          f.save_freq, f.keep_checkpoints, f.record_freq, f.vid_name,
                          f.num_evals, f.train_from_scratch, f.seed),
      eval=c.EvalConfig(f.run_eval, f.planning_horizon, f.primitive_horizon,
                        f.num_candidate_sequences, f.refine_steps, f.mppi_gamma, f.prior_type,
                        f.smoothing_beta, f.top_primitives, parse_goals(f.goals),
                        f.deterministic_eval, f.record_eval_videos))


def _fail(message: str) -> None:
  print(f"dads_off: error: {message}", file=sys.stderr)
  sys.exit(2)


def _check_flagfiles(argv: list[str]) -> None:
  """A missing --flagfile is a one-line error (absl's own message spans two lines)."""
  for arg in argv[1:]:
    if arg.startswith("--flagfile="):
      path = arg.split("=", 1)[1]
      if not os.path.isfile(path):
        _fail(f"--flagfile={path}: no such file")


def _quiet_third_party_logs() -> None:
  """JAX's TPU probe and PyOpenGL announce themselves at INFO level; nothing is wrong."""
  for name in ("jax._src.xla_bridge", "OpenGL.acceleratesupport"):
    std_logging.getLogger(name).setLevel(std_logging.WARNING)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  if FLAGS.debug:
    logging.set_verbosity(logging.DEBUG)
  else:
    _quiet_third_party_logs()
  ignored = sorted(n for n in UNSHIPPED_ROBOT_FLAGS if FLAGS[n].present)
  if ignored:
    logging.warning("ignoring flags of robots this project does not ship (DKitty, DClaw, "
                    "HandBlock): %s", ", ".join(ignored))
  try:
    cfg = config_from_flags()
  except ValueError as err:
    _fail(str(err))
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo load after flags are valid)
  from lib.checkpoint import CheckpointError
  from unsupervised_skill_learning import train
  from unsupervised_skill_learning import evaluate
  try:
    if cfg.train.run_train:
      train.run(cfg)
    if cfg.eval.run_eval:
      evaluate.run(cfg)
  except (CheckpointError, evaluate.EvaluationError) as err:
    _fail(str(err))


def run():
  """Console-script entry point (`dads-off`)."""
  # absl's --help lists the flags of the module named by argv[0]; for the console
  # script that is the launcher, so point it at this module instead.
  _check_flagfiles(sys.argv)
  sys.argv[0] = __name__
  app.run(main)


if __name__ == "__main__":
  _check_flagfiles(sys.argv)
  app.run(main)
