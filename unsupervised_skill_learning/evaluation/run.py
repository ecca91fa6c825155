"""--run_eval=1: skill evaluation, then zero-shot goal reaching with MPC over skills.

Writes under <logdir>/<environment>/eval/:
  skills/    one mp4 per evaluated skill, traj_plot.png (actual paths solid, the skill
             dynamics' open-loop predictions dashed; each labelled with its steps),
             skills.json (each skill's final position and steps: robots that fall end
             their episodes before --max_env_steps)
  mpc_eval/  see planning/goal_reaching.py, and eval_summary.json (per goal and mean;
             planned vs random skills; skill coverage of the trained vs the untrained
             policy)
"""

from __future__ import annotations

import os

import numpy as np
from absl import logging

import envs
from lib.atomic import atomic_write_json
from unsupervised_skill_learning import seeding
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.evaluation.model_io import TrainedModel, load
from unsupervised_skill_learning.planning import goal_reaching


def policy_for(model: TrainedModel, state):
  """env -> the evaluation policy of `state`: sampled actions, as the original's
  (tf-agents' SAC policy samples), or mean actions with --deterministic_eval. Sampling
  matters for goal reaching: from states that a switch of skill leads to, the mean action
  can settle the Ant into a standing pose it never leaves."""
  cfg = model.cfg
  return lambda env: skill_eval.PolicyFn(
      model.parts.learner.policy, state.agent.actor, env, clip=cfg.agent.action_clipping,
      deterministic=cfg.eval.deterministic_eval, seed=cfg.seed)


def evaluate_skills(model: TrainedModel, out_dir: str, rng: np.random.Generator) -> dict:
  """Skill videos and the trajectory plot with the skill dynamics' predicted paths.

  Each skill runs once, and its episode may end early (a robot that falls): the report
  gives every skill's steps beside its final position.
  """
  cfg, prior = model.cfg, model.parts.prior
  name = cfg.env.environment
  env = skill_eval.make_eval_env(name, prior, rng, cfg.env.max_env_steps)
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
          "episode_lengths": lengths}


def run(cfg: RunConfig, explicit: frozenset[str] = frozenset()) -> dict:
  """Evaluates the run at cfg.logdir; `explicit`: the settings the user gave (those that
  contradict the trained run are refused)."""
  model = load(cfg, explicit)
  root = os.path.join(model.cfg.run_dir, "eval")
  seed = model.cfg.seed
  rng = np.random.default_rng(seeding.eval_stream(seed, seeding.EVAL_SKILLS))
  logging.info("evaluating %s", model.checkpoint)
  skills = evaluate_skills(model, os.path.join(root, "skills"), rng)
  summary = {"checkpoint": model.checkpoint, "skills": skills}
  if model.parts.spec.position_indices:
    # Coverage draws from a stream of its own, so it does not depend on --num_evals; the
    # trained and untrained policies get the same skills and starts.
    for name, state in (("coverage_trained", model.state),
                        ("coverage_untrained", model.untrained_state)):
      skills[name] = skill_eval.coverage(
          model.cfg.env.environment, model.parts.prior, policy_for(model, state),
          np.random.default_rng(seeding.eval_stream(seed, seeding.COVERAGE)),
          model.cfg.env.max_env_steps)
    trained, untrained = skills["coverage_trained"], skills["coverage_untrained"]
    logging.info("coverage: %d cells trained vs %d untrained; final x-y spread %.2f vs %.2f; "
                 "mean episode length %.1f vs %.1f steps", trained["cells_visited"],
                 untrained["cells_visited"], trained["final_xy_spread"],
                 untrained["final_xy_spread"], trained["mean_episode_length"],
                 untrained["mean_episode_length"])
  entry = envs.lookup(model.cfg.env.environment)
  mpc_dir = os.path.join(root, "mpc_eval")
  if entry.goal_env is None:
    logging.info("goal reaching skipped: %s has no goal-reaching twin", model.cfg.env.environment)
  elif not model.parts.objective_spec.has_skill_dynamics:
    logging.warning("goal reaching skipped: goal reaching needs skill dynamics; objective %s "
                    "has none", model.cfg.objective)
  else:
    summary["goal_reaching"] = goal_reaching.evaluate_goals(model, mpc_dir, seed)
  out = os.path.join(root, "eval_summary.json")
  atomic_write_json(out, summary)
  logging.info("wrote %s", out)
  return summary
