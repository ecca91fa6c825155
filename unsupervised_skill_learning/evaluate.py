"""--run_eval=1: skill evaluation and zero-shot goal reaching with MPC over skills.

Writes under <logdir>/<environment>/eval/:
  skills/         one mp4 per evaluated skill, traj_plot.png (actual paths solid, the
                  skill dynamics' open-loop predictions dashed), skills.json
  mpc_eval/       eval_data.txt (one line per goal, the original's columns),
                  eval_summary.json (per goal and mean; planned vs random skills; skill
                  coverage of the trained vs the untrained policy), goal_plot.png,
                  goal_plot_random.png, goal_<i>.mp4
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import envs
from lib import checkpoint, plots, video
from unsupervised_skill_learning import components, planners, skill_rollouts
from unsupervised_skill_learning.skill_rollouts import PolicyFn
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.dads import DADS

COVERAGE_SKILLS = 48
EVAL_MODEL = "eval_model.msgpack"  # written by export_model


class EvaluationError(RuntimeError):
  """This logdir cannot be evaluated; the message says why and what to do."""


# --- loading ----------------------------------------------------------------------------
def resolve_run_config(cfg: RunConfig) -> RunConfig:
  """The trained run's saved configuration, with this invocation's evaluation settings."""
  path = os.path.join(cfg.run_dir, "config.json")
  if not os.path.exists(path):
    found = sorted(glob.glob(os.path.join(cfg.logdir, "*", "config.json")))
    if len(found) != 1:
      raise EvaluationError(
          f"{cfg.logdir}: no trained run to evaluate (expected {path}); train first with "
          "--run_train=1, or point --logdir at a run's folder")
    path = found[0]
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  saved["logdir"] = cfg.logdir
  trained = RunConfig.from_dict(saved)
  return dataclasses.replace(
      trained, eval=cfg.eval,
      train=dataclasses.replace(trained.train, seed=cfg.train.seed, num_evals=cfg.train.num_evals,
                                vid_name=cfg.train.vid_name))


@dataclasses.dataclass
class TrainedModel:
  cfg: RunConfig
  parts: components.Components
  state: object  # LearnerState
  untrained_state: object
  checkpoint: str


def load(cfg: RunConfig) -> TrainedModel:
  cfg = resolve_run_config(cfg)
  probe = envs.get_environment(cfg.env.environment)
  parts = components.build(cfg, int(np.prod(probe.action_space.shape)))
  probe.close()
  models = os.path.join(cfg.run_dir, "models")
  # The untrained policy is the one a run with this seed starts from (see train.Trainer).
  _, init_key = jax.random.split(jax.random.key(cfg.train.seed))
  template = parts.learner.init(init_key)
  path = checkpoint.latest_checkpoint(models)
  if path is not None:
    state = jax.tree.map(jnp.asarray, checkpoint.restore_state(path, template))
  elif os.path.exists(os.path.join(models, EVAL_MODEL)):
    path = os.path.join(models, EVAL_MODEL)
    state = load_eval_model(path, template)
  else:
    raise EvaluationError(f"{models}: no trained model (no checkpoint or {EVAL_MODEL}); train "
                          "first with --run_train=1 and --save_model set")
  return TrainedModel(cfg, parts, state, template, path)


def load_eval_model(path: str, template):
  """An exported model (policy + objective, see export_model) into a LearnerState;
  the parts it lacks (critics, optimizer moments) keep the template's values."""
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


# --- acting -------------------------------------------------------------------------------
def policy_of(model: TrainedModel, state, env) -> PolicyFn:
  """The evaluation policy of a trained model: sampled actions, as the original's
  (tf-agents' SAC policy samples), or mean actions with deterministic_eval. Sampling
  matters for goal reaching: from states that a switch of skill leads to, the mean action
  can settle the Ant into a standing pose it never leaves."""
  return PolicyFn(model.parts.learner, state.agent.actor, env,
                  clip=model.cfg.agent.action_clipping,
                  deterministic=model.cfg.eval.deterministic_eval, seed=model.cfg.train.seed)


def _make_env(cfg: RunConfig, name: str, prior, rng):
  return envs.make_skill_env(name, prior, rng, max_env_steps=cfg.env.max_env_steps,
                             min_steps_before_resample=10**9, resample_prob=0.0)


def _xy_positions(reduced: tuple[int, ...]) -> tuple[int, int] | None:
  """Where x and y sit in the reduced observation (None when it lacks them)."""
  if 0 in reduced and 1 in reduced:
    return reduced.index(0), reduced.index(1)
  return None


# --- skill evaluation ---------------------------------------------------------------------
def predicted_paths(model: TrainedModel, observations: np.ndarray, skills: np.ndarray):
  """Open-loop skill-dynamics predictions of each skill's x-y path [T + 1, 2], or None."""
  objective = model.parts.learner.objective
  xy = _xy_positions(model.parts.reduced_indices)
  if not isinstance(objective, DADS) or xy is None:
    return None
  dyn, dyn_state = objective.dynamics, model.state.objective
  steps = observations.shape[1] - 1

  @jax.jit
  def predict(s0, z):
    def body(s, _):
      s = dyn.predict_next(dyn_state, s, z)
      return s, s
    _, states = jax.lax.scan(body, s0, None, length=steps)
    return jnp.concatenate([s0[:, None], states.swapaxes(0, 1)], 1)

  s0 = observations[:, 0][:, np.asarray(model.parts.reduced_indices)]
  states = np.asarray(predict(jnp.asarray(s0), jnp.asarray(skills)))
  return [p[:, list(xy)] for p in states]


def coverage(model: TrainedModel, state, rng: np.random.Generator) -> dict:
  """Distinct x-y cells visited by COVERAGE_SKILLS prior skills, and final-position spread."""
  cfg, prior = model.cfg, model.parts.prior
  entry = envs.lookup(cfg.env.environment)
  env_rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(
      int(rng.integers(2**63))).spawn(COVERAGE_SKILLS)]
  batch_envs = [_make_env(cfg, cfg.env.environment, prior, r) for r in env_rngs]
  policy = policy_of(model, state, batch_envs[0])
  skills = prior.sample(rng, COVERAGE_SKILLS)
  obs = skill_rollouts.rollout_skills_batched(batch_envs, policy.batch, skills)
  for env in batch_envs:
    env.close()
  xy = obs[..., :2]
  cells = np.unique(np.floor(xy.reshape(-1, 2) / entry.coverage_cell).astype(np.int64), axis=0)
  final = xy[:, -1]
  return {"cells_visited": int(len(cells)), "cell_size": entry.coverage_cell,
          "final_xy_spread": float(np.sqrt(np.mean(np.sum((final - final.mean(0))**2, -1)))),
          "mean_final_distance": float(np.mean(np.linalg.norm(final - xy[:, 0], axis=-1)))}


def evaluate_skills(model: TrainedModel, out_dir: str, rng: np.random.Generator) -> dict:
  cfg, prior = model.cfg, model.parts.prior
  env = _make_env(cfg, cfg.env.environment, prior, rng)
  skills = (prior.enumerate() if prior.is_discrete and cfg.eval.deterministic_eval
            else prior.sample(rng, max(cfg.train.num_evals, 1)))
  policy = policy_of(model, model.state, env)
  rollouts = [skill_rollouts.rollout_skill(env, policy, z) for z in skills]
  predicted = predicted_paths(model, np.stack([r.observations for r in rollouts]), skills)
  # Videos and plot: the same skills re-run with rendering.
  render_rng = np.random.default_rng(int(rng.integers(2**63)))
  env = _make_env(cfg, cfg.env.environment, prior, render_rng)
  skill_rollouts.record_skills(env, cfg.env.environment, policy, skills, out_dir,
                               vid_name=cfg.train.vid_name, predicted=predicted,
                               render=cfg.eval.record_eval_videos)
  env.close()
  return {"skills": [z.tolist() for z in skills],
          "final_xy": [r.observations[-1, :2].tolist() for r in rollouts]}


# --- goal reaching --------------------------------------------------------------------------
def make_planner(model: TrainedModel, goal_env) -> planners.Planner:
  cfg, prior = model.cfg.eval, model.parts.prior
  objective = model.parts.learner.objective
  if not isinstance(objective, DADS):
    raise EvaluationError("goal reaching plans with the skill dynamics; this run was trained "
                          "with --objective=diayn, which has none")
  if _xy_positions(model.parts.reduced_indices) != (0, 1):
    raise EvaluationError(
        f"goal reaching needs x and y first in the skill dynamics' observation; "
        f"--reduced_observation={model.cfg.env.reduced_observation} gives indices "
        f"{model.parts.reduced_indices}")
  kind = "discrete" if prior.is_discrete else ("cem" if cfg.prior_type == "uniform" else "mppi")
  low, high = prior.bounds
  pcfg = planners.PlannerConfig(
      skill_dim=prior.dim, skill_low=low, skill_high=high,
      planning_horizon=cfg.planning_horizon, primitive_horizon=cfg.primitive_horizon,
      num_candidates=cfg.num_candidate_sequences, refine_steps=cfg.refine_steps,
      mppi_gamma=cfg.mppi_gamma, smoothing_beta=cfg.smoothing_beta,
      top_primitives=cfg.top_primitives, kind=kind,
      skill_only=objective.dynamics.config.input_dim == 0)
  return planners.Planner(pcfg, objective.dynamics.predict_next, goal_env.compute_reward)


def goal_metrics(xy: np.ndarray, goal: np.ndarray, tolerance: float) -> dict:
  """xy [T + 1, 2] (the start first) -> the paper's per-goal numbers."""
  dist = np.linalg.norm(xy[1:] - goal, axis=-1)
  within = np.nonzero(dist < tolerance)[0]
  return {"normalized_reward": float(-dist.sum() / (len(dist) * np.linalg.norm(goal))),
          "first_step_within": int(within[0] + 1) if len(within) else -1,
          "last_distances": [float(d) for d in dist[-3:]],
          "final_distance": float(dist[-1]), "initial_distance": float(np.linalg.norm(xy[0] - goal))}


def reach_goal(model: TrainedModel, planner, goal, seed: int, mode: str, render: bool):
  """One episode toward `goal`; mode 'planned' (MPC) or 'random' (a prior skill per
  primitive). Both modes start from the same state (same seed)."""
  cfg, prior = model.cfg, model.parts.prior
  rng = np.random.default_rng(seed)
  goal_env_name = envs.lookup(cfg.env.environment).goal_env
  env = _make_env(cfg, goal_env_name, prior, rng)
  policy = policy_of(model, model.state, env)
  obs, _ = env.reset(options={"goal": goal})
  reduced = np.asarray(model.parts.reduced_indices)
  mean = jnp.zeros((cfg.eval.planning_horizon, prior.dim)) + (
      1.0 / prior.dim if prior.is_discrete else 0.0)
  key = jax.random.key(seed)
  xy, frames, skills = [obs[:2].copy()], [], []
  renderer = skill_rollouts.renderer_for(goal_env_name, env) if render else None
  if renderer is not None:
    frames.append(renderer.render(env.unwrapped.data))
  done = False
  while not done:
    if mode == "planned":
      key, k = jax.random.split(key)
      skill, mean, _ = planner.plan(model.state.objective, jnp.asarray(obs[:env.obs_dim][reduced]),
                                    jnp.asarray(goal, jnp.float32), mean, k)
      mean = planners.shift(mean)
      skill = np.asarray(skill)
    else:
      skill = prior.sample(rng)
    skills.append(skill.tolist())
    env.set_skill(skill)
    obs = np.concatenate([obs[:env.obs_dim], env.skill])
    for _ in range(cfg.eval.primitive_horizon):
      obs, _, terminated, truncated, _ = env.step(policy(obs))
      xy.append(obs[:2].copy())
      if renderer is not None:
        frames.append(renderer.render(env.unwrapped.data))
      done = terminated or truncated
      if done:
        break
  if renderer is not None:
    renderer.close()
  env.close()
  return np.asarray(xy), frames, skills


def evaluate_goals(model: TrainedModel, out_dir: str, seed: int) -> dict:
  cfg = model.cfg
  entry = envs.lookup(cfg.env.environment)
  if entry.goal_env is None:
    raise EvaluationError(f"--environment={cfg.env.environment} has no goal-reaching twin; "
                          "goal reaching is available for Ant-v1 and point_mass")
  goals = np.asarray(cfg.eval.goals or entry.default_goals, np.float64)
  goal_env = envs.get_environment(entry.goal_env)
  planner = make_planner(model, goal_env)
  os.makedirs(out_dir, exist_ok=True)
  results = {"planned": [], "random": []}
  paths = {"planned": [], "random": []}
  for i, goal in enumerate(goals):
    for mode in ("planned", "random"):
      render = mode == "planned" and cfg.eval.record_eval_videos
      xy, frames, skills = reach_goal(model, planner, goal, seed + i, mode, render)
      if frames:
        video.write_mp4(os.path.join(out_dir, f"goal_{i}.mp4"), frames)
      metrics = goal_metrics(xy, goal, entry.goal_tolerance)
      results[mode].append({"goal": goal.tolist(), **metrics, "skills": skills})
      paths[mode].append(xy)
    p, r = results["planned"][-1], results["random"][-1]
    logging.info("goal %s: normalized reward %.3f (random skills %.3f), final distance %.2f "
                 "(random %.2f)", goal.tolist(), p["normalized_reward"], r["normalized_reward"],
                 p["final_distance"], r["final_distance"])
  write_eval_data(os.path.join(out_dir, "eval_data.txt"), results["planned"], entry.goal_tolerance)
  for mode, name in (("planned", "goal_plot.png"), ("random", "goal_plot_random.png")):
    plots.plot_trajectories(os.path.join(out_dir, name), paths[mode],
                            labels=[f"goal ({g[0]:.2f}, {g[1]:.2f})" for g in goals], goals=goals,
                            title=f"{cfg.env.environment}: {'MPC over skills' if mode == 'planned' else 'random skills'}")
  summary = {mode: {"per_goal": res, **_means(res)} for mode, res in results.items()}
  summary["goal_tolerance"] = entry.goal_tolerance
  return summary


def _means(results: list[dict]) -> dict:
  return {"mean_normalized_reward": float(np.mean([r["normalized_reward"] for r in results])),
          "mean_final_distance": float(np.mean([r["final_distance"] for r in results])),
          "goals_reached": int(sum(r["first_step_within"] >= 0 for r in results)),
          "goals_within_0.3_initial": int(sum(r["final_distance"] < 0.3 * r["initial_distance"]
                                              for r in results))}


def write_eval_data(path: str, results: list[dict], tolerance: float) -> None:
  lines = [f"# goal_x goal_y normalized_reward first_step_within_{tolerance:g} "
           "distance_t-2 distance_t-1 distance_t"]
  for r in results:
    d = r["last_distances"]
    lines.append(" ".join(f"{v:.6g}" for v in (*r["goal"], r["normalized_reward"],
                                                 r["first_step_within"], *d)))
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  os.replace(tmp, path)


# --- entry point ----------------------------------------------------------------------------
def run(cfg: RunConfig) -> dict:
  model = load(cfg)
  root = os.path.join(model.cfg.run_dir, "eval")
  seed = model.cfg.train.seed
  rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
  logging.info("evaluating %s", model.checkpoint)
  skills = evaluate_skills(model, os.path.join(root, "skills"), rng)
  # Coverage draws from a stream of its own, so it does not depend on --num_evals; the
  # trained and untrained policies get the same skills and starts.
  cov_seed = np.random.SeedSequence(seed, spawn_key=(8,))
  skills["coverage_trained"] = coverage(model, model.state, np.random.default_rng(cov_seed))
  skills["coverage_untrained"] = coverage(model, model.untrained_state,
                                          np.random.default_rng(cov_seed))
  summary = {"checkpoint": model.checkpoint, "skills": skills}
  logging.info("coverage: %d cells trained vs %d untrained; final x-y spread %.2f vs %.2f",
               skills["coverage_trained"]["cells_visited"],
               skills["coverage_untrained"]["cells_visited"],
               skills["coverage_trained"]["final_xy_spread"],
               skills["coverage_untrained"]["final_xy_spread"])
  entry = envs.lookup(model.cfg.env.environment)
  if entry.goal_env is not None and isinstance(model.parts.learner.objective, DADS):
    summary["goal_reaching"] = evaluate_goals(model, os.path.join(root, "mpc_eval"), seed)
  out = os.path.join(root, "mpc_eval", "eval_summary.json")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out + ".tmp", "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  os.replace(out + ".tmp", out)
  return summary
