"""--run_eval=1: skill evaluation, then zero-shot goal reaching: MPC over skills where the
objective has skill dynamics, the latent direction to the goal where it has a
goal-conditioned latent (METRA); the same report either way.

Writes under <logdir>/<environment>/eval/:
  skills/    one mp4 per evaluated skill, traj_plot.png (actual paths solid, the skill
             dynamics' open-loop predictions dashed; each labelled with its steps),
             skills.json (each skill's final position and steps: robots that fall end
             their episodes before --max_env_steps), skill_returns.png (the spread of
             the environment's episode return per skill: SKILL_RETURN_EPISODES episodes
             of every skill of a discrete prior, or of each evaluated skill)
  mpc_eval/  see planning/goal_reaching.py, and eval_summary.json (per goal and mean;
             planned vs random skills; skill coverage of the trained vs the untrained
             policy)
"""

from __future__ import annotations

import os

import numpy as np
from absl import logging

import envs
from envs import physics
from lib import plots
from lib.atomic import atomic_write_json, folder_written_whole, temporary_path
from lib.run_lock import RunLock
from unsupervised_skill_learning import seeding
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.evaluation import headings
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.evaluation.model_io import (EvaluationError, TrainedModel,
                                                             load_resolved, resolve_run_config)
from unsupervised_skill_learning.planning import goal_reaching

SKILL_RETURN_EPISODES = 5  # episodes per skill in skill_returns.png
# The stream of the per-skill returns, nested under the skills' own (seeding.EVAL_SKILLS)
# so that it changes none of the other evaluation draws.
SKILL_RETURNS_STREAM = 0


def policy_for(model: TrainedModel, state):
  """env -> the evaluation policy of `state`: sampled actions, as the original's
  (tf-agents' SAC policy samples), or mean actions with --deterministic_eval. Sampling
  matters for goal reaching: from states that a switch of skill leads to, the mean action
  can settle the Ant into a standing pose it never leaves."""
  cfg = model.cfg
  return lambda env: skill_eval.PolicyFn(
      model.parts.learner.policy, state.agent.actor, env, clip=cfg.agent.action_clipping,
      deterministic=cfg.eval.deterministic_eval, seed=cfg.seed)


def eval_envs(model: TrainedModel) -> skill_eval.EvalEnvs:
  """The run's environment as evaluation makes it (the run's physics included)."""
  cfg = model.cfg
  return skill_eval.EvalEnvs(cfg.env.environment, model.parts.prior, cfg.env.max_env_steps,
                             cfg.env.physics)


def physics_note(model: TrainedModel) -> str:
  if model.cfg.env.physics == "mjx":
    return ("CPU MuJoCo with the MJX solver options this run was trained with "
            f"({dict(physics.mjx_options(model.cfg.env.environment))})")
  if envs.lookup(model.cfg.env.environment).renders_itself:
    return "the environment's own simulator (Gymnasium, no MuJoCo model)"
  return "CPU MuJoCo with the model's own options"


def evaluate_headings(model: TrainedModel, out_dir: str, seed: int) -> dict | None:
  """Predicted headings (41 x 41 skill grid; with skill dynamics) and actual ones (7 x 7
  grid rolled out; any objective), and <out_dir>/headings.png; None without either."""
  cfg = model.cfg
  predicted = headings.model_headings(model.parts, model.state, cfg.env.environment,
                                      cfg.env.max_env_steps, seed=seed)
  out, predicted_angles, actual_angles = {}, None, None
  if predicted is not None:
    summary, predicted_angles = predicted
    out["predicted"] = summary
    if predicted_angles is None:  # a 1-D position: the displacement range only
      logging.info("predicted displacement over %d steps: %.2f to %.2f", summary["steps"],
                   summary["min"], summary["max"])
      return out
  actual = headings.rollout_headings(
      eval_envs(model), policy_for(model, model.state),
      seeding.child(seeding.eval_stream(seed, seeding.COVERAGE), headings.ROLLOUT_STREAM))
  if actual is not None:
    out["actual"], actual_angles = actual
  if not out:
    return None
  headings.plot_heading_histogram(os.path.join(out_dir, "headings.png"), predicted_angles,
                                  actual_angles, title=f"{cfg.env.environment}: skill headings")
  for name, summary in out.items():
    logging.info("skill headings (%s, %d skills): %d of %d bins empty, largest gap "
                 "%.0f degrees (%.0f -> %.0f), %.0f%% slow skills", name,
                 summary["num_skills"], summary["empty_bins"], len(summary["histogram"]),
                 summary["largest_gap_deg"], summary["largest_gap_from_deg"],
                 summary["largest_gap_to_deg"], 100 * summary["slow_fraction"])
  return out


def evaluate_skills(model: TrainedModel, out_dir: str, rng: np.random.Generator) -> dict:
  """Skill videos and the trajectory plot with the skill dynamics' predicted paths.

  Each skill runs once, and its episode may end early (a robot that falls): the report
  gives every skill's steps beside its final position.
  """
  cfg, prior = model.cfg, model.parts.prior
  name = cfg.env.environment
  env = eval_envs(model).make(rng)
  skills = skill_eval.choose_skills(prior, rng, max(cfg.videos.num_evals, 1),
                                    every_discrete_skill=cfg.eval.deterministic_eval)
  policy = policy_for(model, model.state)(env)

  def predict(rollouts):
    return skill_eval.predicted_paths(
        model.parts.learner.objective, model.state.objective, model.parts.reduced_indices,
        model.parts.reduced_position_indices, rollouts)

  try:
    rollouts = skill_eval.record_skills(env, name, policy, skills, out_dir,
                                        vid_name=cfg.videos.vid_name, predict=predict,
                                        render=cfg.eval.record_eval_videos)
  finally:
    env.close()
  lengths = [r.steps for r in rollouts]
  logging.info("skill episodes lasted %s steps (of --max_env_steps=%d)", lengths,
               cfg.env.max_env_steps)
  positions = list(model.parts.spec.position_indices)
  return {"skills": [z.tolist() for z in skills],
          "final_position": [r.observations[-1, positions].tolist() for r in rollouts],
          "episode_lengths": lengths,
          "skill_returns": evaluate_skill_returns(model, skills, out_dir)}


def evaluate_skill_returns(model: TrainedModel, skills: np.ndarray, out_dir: str) -> dict:
  """skill_returns.png: the environment's episode returns of each skill (every skill of
  a discrete prior, else the evaluated skills [K, dz]) over SKILL_RETURN_EPISODES
  episodes, from a stream of its own; returns them (see skill_eval.skill_returns)."""
  cfg, prior = model.cfg, model.parts.prior
  if prior.is_discrete:
    skills = prior.enumerate()
  rng = seeding.child(seeding.eval_stream(cfg.seed, seeding.EVAL_SKILLS), SKILL_RETURNS_STREAM)
  result = skill_eval.skill_returns(eval_envs(model), policy_for(model, model.state), skills, rng,
                                    SKILL_RETURN_EPISODES)
  plots.plot_skill_returns(
      os.path.join(out_dir, "skill_returns.png"), result["episode_returns"],
      [skill_eval.skill_label(z, prior) for z in skills],
      title=f"{cfg.env.environment}: episode return per skill ({SKILL_RETURN_EPISODES} "
            "episodes each)", ylabel="episode return (environment reward)")
  logging.info("episode return per skill (mean of %d): %s", SKILL_RETURN_EPISODES,
               np.round(result["mean_return"], 2).tolist())
  return result


def run(cfg: RunConfig, explicit: frozenset[str] = frozenset()) -> dict:
  """Evaluates the run at cfg.logdir; `explicit`: the settings the user gave (those that
  contradict the trained run are refused).

  The run is locked meanwhile (lib.run_lock: a training process on it is refused, and
  cannot start or rotate checkpoints away until the evaluation ends). Everything is
  written into a fresh folder that replaces <run>/eval only when complete: an
  evaluation stopped by a kill, SIGTERM or a full disk leaves the previous eval/ as it
  was, never a mix of two evaluations."""
  resolved = resolve_run_config(cfg, explicit)
  with RunLock(resolved.run_dir):
    model = load_resolved(resolved)
    root = os.path.join(model.cfg.run_dir, "eval")
    work = temporary_path(root)
    try:
      with folder_written_whole(root, work):
        summary = _evaluate(model, work)
    except BaseException as err:
      logging.warning("evaluation stopped: its unfinished outputs were removed; %s was left "
                      "as it was", root)
      if isinstance(err, OSError):  # a full disk: the file, as it would lie in eval/
        name = str(err.filename or work).replace(work, os.path.abspath(root))
        raise EvaluationError(f"{name}: {err.strerror or err}; the evaluation was not "
                              f"finished, and {root} was left as it was") from err
      raise
  logging.info("wrote %s", os.path.join(root, "eval_summary.json"))
  return summary


def _evaluate(model: TrainedModel, root: str) -> dict:
  """Every part of the evaluation of `model`, written under the folder `root`; returns
  the summary (also root/eval_summary.json)."""
  seed = model.cfg.seed
  rng = np.random.default_rng(seeding.eval_stream(seed, seeding.EVAL_SKILLS))
  logging.info("evaluating %s on %s", model.checkpoint, physics_note(model))
  skills = evaluate_skills(model, os.path.join(root, "skills"), rng)
  summary = {"checkpoint": model.checkpoint, "physics": physics_note(model), "skills": skills}
  if model.parts.spec.position_indices:
    # Coverage draws from a stream of its own, so it does not depend on --num_evals; the
    # trained and untrained policies get the same skills and starts.
    for name, state in (("coverage_trained", model.state),
                        ("coverage_untrained", model.untrained_state)):
      skills[name] = skill_eval.coverage(
          eval_envs(model), policy_for(model, state),
          np.random.default_rng(seeding.eval_stream(seed, seeding.COVERAGE)))
    trained, untrained = skills["coverage_trained"], skills["coverage_untrained"]
    logging.info("coverage: %d cells trained vs %d untrained; final x-y spread %.2f vs %.2f; "
                 "mean episode length %.1f vs %.1f steps", trained["cells_visited"],
                 untrained["cells_visited"], trained["final_xy_spread"],
                 untrained["final_xy_spread"], trained["mean_episode_length"],
                 untrained["mean_episode_length"])
  heading_report = evaluate_headings(model, os.path.join(root, "skills"), seed)
  if heading_report is not None:
    skills["headings"] = heading_report
  entry = envs.lookup(model.cfg.env.environment)
  mpc_dir = os.path.join(root, "mpc_eval")
  if entry.goal_env is None:
    logging.info("goal reaching skipped: %s has no goal-reaching twin", model.cfg.env.environment)
  elif goal_reaching.capability_of(model) is None:
    logging.warning("goal reaching skipped: %s", goal_reaching.no_capability(model))
  else:
    summary["goal_reaching"] = goal_reaching.evaluate_goals(model, mpc_dir, seed)
  atomic_write_json(os.path.join(root, "eval_summary.json"), summary)
  return summary
