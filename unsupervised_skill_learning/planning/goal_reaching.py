"""Zero-shot goal reaching in the real environment, and the paper's metrics.

The skill for each primitive comes from a controller (planners.Controller) chosen by the
objective's declared capability (objectives/base.py), never by its class:
  skill_dynamics: MPC over skills through the learned skill dynamics (planners.py);
  goal_latent:    the direction from phi(s) to phi(goal) (zero_shot.py, METRA).
The loop, metrics, report, plots and videos are the same for both.

Writes under <run>/eval/mpc_eval/: eval_data.txt (one line per goal, the original's
columns), goal_plot.png, goal_plot_random.png and goal_<i>.mp4 (a fixed camera over the
start and the goal; the goal drawn as a red disc of the 'reached' radius). Each goal's
report says how many steps its episode lasted: a robot that falls ends it early.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import envs
from envs.goal import GOAL_SETS, random_goals
from lib import plots, rendering, video
from lib.atomic import atomic_write
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.evaluation.model_io import EvaluationError, TrainedModel
from unsupervised_skill_learning.objectives.base import GOAL_LATENT, SKILL_DYNAMICS
from unsupervised_skill_learning.planning import planners, zero_shot


def capability_of(model: TrainedModel) -> str | None:
  """The capability goal reaching uses for this model's objective: SKILL_DYNAMICS (MPC)
  where it has one, else GOAL_LATENT (zero-shot), else None."""
  capabilities = model.parts.objective_spec.capabilities
  return next((c for c in (SKILL_DYNAMICS, GOAL_LATENT) if c in capabilities), None)


def no_capability(model: TrainedModel) -> str:
  """Why goal reaching declines a model whose objective offers it nothing."""
  return (f"goal reaching needs skill dynamics; objective {model.cfg.objective} has none "
          "(nor a goal-conditioned latent)")


def goal_capability(model: TrainedModel) -> str:
  """capability_of(model); EvaluationError when the objective has neither."""
  capability = capability_of(model)
  if capability is None:
    raise EvaluationError(no_capability(model))
  return capability


def require_skill_dynamics(model: TrainedModel) -> None:
  """MPC plans with the objective's skill dynamics: EvaluationError otherwise."""
  if goal_capability(model) != SKILL_DYNAMICS:
    raise EvaluationError(f"MPC needs skill dynamics; objective {model.cfg.objective} has "
                          "none (its goal reaching is zero-shot)")


def reduced_positions(model: TrainedModel) -> tuple[int, ...]:
  """Where the position sits in the reduced observation the objective models;
  EvaluationError when it is not all there (no goal can be compared with it)."""
  positions = model.parts.reduced_position_indices
  if positions is None:
    raise EvaluationError(
        f"goal reaching needs the position {model.parts.spec.position_indices} in the "
        f"objective's observation; --reduced_observation={model.cfg.env.reduced_observation} "
        f"keeps indices {model.parts.reduced_indices}")
  return positions


def make_controller(model: TrainedModel) -> planners.Controller:
  """The controller of the model's goal capability: MPC (make_planner) or zero-shot."""
  if goal_capability(model) == SKILL_DYNAMICS:
    return make_planner(model)
  return zero_shot.ZeroShot(model.parts.learner.objective.latent, model.parts.prior,
                            reduced_positions(model))


def controller_params(model: TrainedModel):
  """What the model's controller reads: the skill dynamics' state (MPC) or the
  objective's state, which holds the latent's parameters (zero-shot)."""
  objective, state = model.parts.learner.objective, model.state.objective
  return objective.dynamics_state(state) if goal_capability(model) == SKILL_DYNAMICS else state


def make_planner(model: TrainedModel) -> planners.Planner:
  """The planner of --prior_type (MPPI or CEM-like; exhaustive for one-hot skills) over
  the model's skill dynamics, scoring the predicted positions against the goal; its
  candidates and plans are kept in the prior's support (SkillPrior.project)."""
  require_skill_dynamics(model)
  cfg, prior = model.cfg.eval, model.parts.prior
  positions = reduced_positions(model)
  dynamics = model.parts.learner.objective.dynamics
  low, high = prior.bounds
  pcfg = planners.PlannerConfig(
      skill_dim=prior.dim, skill_low=low, skill_high=high,
      planning_horizon=cfg.planning_horizon, primitive_horizon=cfg.primitive_horizon,
      num_candidates=cfg.num_candidate_sequences, refine_steps=cfg.refine_steps,
      mppi_gamma=cfg.mppi_gamma, smoothing_beta=cfg.smoothing_beta,
      top_primitives=cfg.top_primitives, skill_only=dynamics.config.input_dim == 0,
      position_indices=positions, fresh_proposal=cfg.mpc_fresh_proposal, project=prior.project)
  if prior.is_discrete:
    strategy = planners.discrete(pcfg)
  elif cfg.prior_type == "uniform":
    strategy = planners.cem(pcfg)
  else:
    strategy = planners.mppi(pcfg)
  return planners.make_planner(pcfg, dynamics.predict_next, strategy)


def goal_metrics(positions: np.ndarray, goal: np.ndarray, tolerance: float) -> dict:
  """positions [T + 1, P] (the start first) -> the paper's per-goal numbers, and T, the
  steps the episode lasted (fewer than --max_env_steps when the robot fell)."""
  dist = np.linalg.norm(positions[1:] - goal, axis=-1)
  within = np.nonzero(dist < tolerance)[0]
  return {"steps": len(dist),
          "normalized_reward": float(-dist.sum() / (len(dist) * np.linalg.norm(goal))),
          "first_step_within": int(within[0] + 1) if len(within) else -1,
          "last_distances": [float(d) for d in dist[-3:]],
          "final_distance": float(dist[-1]),
          "initial_distance": float(np.linalg.norm(positions[0] - goal))}


def reach_goal(model: TrainedModel, controller: planners.Controller, goal, seed: int, mode: str,
               render: bool):
  """One episode toward `goal`; mode 'planned' (the controller's skill per primitive: MPC
  or zero-shot) or 'random' (a prior skill per primitive). Both modes start from the same
  state (same seed).

  Returns (positions [T + 1, P], frames, skills chosen per primitive).
  """
  cfg, prior = model.cfg, model.parts.prior
  rng = np.random.default_rng(seed)
  goal_env_name = envs.lookup(cfg.env.environment).goal_env
  env = skill_eval.EvalEnvs(goal_env_name, prior, cfg.env.max_env_steps, cfg.env.physics).make(rng)
  policy = skill_eval.PolicyFn(model.parts.learner.policy, model.state.agent.actor, env,
                               clip=cfg.agent.action_clipping,
                               deterministic=cfg.eval.deterministic_eval, seed=cfg.seed)
  positions = list(model.parts.spec.position_indices)
  obs, _ = env.reset(options={"goal": goal})
  obs = obs["observation"]
  reduced = np.asarray(model.parts.reduced_indices)
  params = controller_params(model)
  key = jax.random.key(seed)
  memory = controller.start(key)
  path, frames, skills = [obs[positions].copy()], [], []
  renderer = (goal_renderer(env.unwrapped.model, path[0], goal,
                            envs.lookup(goal_env_name).goal_tolerance) if render else None)
  if renderer is not None:
    frames.append(renderer.capture(env))
  done = False
  while not done:
    if mode == "planned":
      key, k = jax.random.split(key)
      skill, memory, _ = controller.choose(params, jnp.asarray(obs[reduced]),
                                           jnp.asarray(goal, jnp.float32), memory, k)
      skill = np.asarray(skill)
    else:
      skill = prior.sample(rng)
    skills.append(skill.tolist())
    env.set_skill(skill)
    for _ in range(cfg.eval.primitive_horizon):
      step, _, terminated, truncated, _ = env.step(policy(obs, env.skill))
      obs = step["observation"]
      path.append(obs[positions].copy())
      if renderer is not None:
        frames.append(renderer.capture(env))
      done = terminated or truncated
      if done:
        break
  if renderer is not None:
    renderer.close()
  env.close()
  return np.asarray(path), frames, skills


def goal_renderer(model, start: np.ndarray, goal: np.ndarray,
                  tolerance: float) -> rendering.FrameRenderer:
  """A goal video's camera for a MuJoCo model: fixed, looking down on both the start [2]
  and the goal [2] (a camera tracking the robot would rarely show the goal), the goal
  marked by a disc of the 'reached' radius `tolerance`."""
  goal_xy = (float(goal[0]), float(goal[1]))
  return rendering.FrameRenderer.framing(model, [(float(start[0]), float(start[1])), goal_xy],
                                         markers=[goal_xy], marker_radius=tolerance)


def goal_set(name: str, paper_goals) -> np.ndarray:
  """The goals [G, 2] of --goal_set `name` for an environment whose paper goals are
  `paper_goals`: those goals, or random_goals in the square of 1.5x their reach (the
  paper's Figure 7 samples Ant goals from [-15, 15]^2 around goals 10 away)."""
  paper_goals = np.asarray(paper_goals, np.float64)
  if name == "paper":
    return paper_goals
  if name == "random30":
    return random_goals(1.5 * float(np.abs(paper_goals).max()), n=30)
  raise ValueError(f"--goal_set={name}: allowed: {', '.join(GOAL_SETS)}")


def evaluate_goals(model: TrainedModel, out_dir: str, seed: int,
                   controller: planners.Controller | None = None) -> dict:
  """Every goal (--goals, else the environment's list) with the model's controller (MPC or
  zero-shot, by capability) and with random skills.

  controller: make_controller(model), passed in by a caller that evaluates one model
  many times (several seeds or goal sets), so that it is built and compiled once.
  """
  cfg = model.cfg
  entry = envs.lookup(cfg.env.environment)
  if entry.goal_env is None:
    raise EvaluationError(f"--environment={cfg.env.environment} has no goal-reaching twin; "
                          "goal reaching is available for Ant-v1 and point_mass")
  goals = np.asarray(cfg.eval.goals or goal_set(cfg.eval.goal_set, entry.default_goals),
                     np.float64)
  controller = make_controller(model) if controller is None else controller
  os.makedirs(out_dir, exist_ok=True)
  results = {"planned": [], "random": []}
  paths = {"planned": [], "random": []}
  for i, goal in enumerate(goals):
    for mode in ("planned", "random"):
      render = mode == "planned" and cfg.eval.record_eval_videos
      path, frames, skills = reach_goal(model, controller, goal, seed + i, mode, render)
      if frames:
        video.write_mp4(os.path.join(out_dir, f"goal_{i}.mp4"), frames)
      metrics = goal_metrics(path, goal, entry.goal_tolerance)
      results[mode].append({"goal": goal.tolist(), **metrics, "skills": skills})
      paths[mode].append(path)
    p, r = results["planned"][-1], results["random"][-1]
    logging.info("goal %s: normalized reward %.3f (random skills %.3f), final distance %.2f "
                 "(random %.2f), %d steps (random %d)", goal.tolist(), p["normalized_reward"],
                 r["normalized_reward"], p["final_distance"], r["final_distance"], p["steps"],
                 r["steps"])
  write_eval_data(os.path.join(out_dir, "eval_data.txt"), results["planned"], entry.goal_tolerance)
  for mode, name in (("planned", "goal_plot.png"), ("random", "goal_plot_random.png")):
    title = controller.title if mode == "planned" else "random skills"
    plots.plot_goal_paths(os.path.join(out_dir, name), paths[mode], goals,
                          radius=entry.goal_tolerance, policy=title,
                          scores=[r["normalized_reward"] for r in results[mode]],
                          steps=[r["steps"] for r in results[mode]],
                          title=f"{cfg.env.environment}: {title}")
  summary = {mode: {"per_goal": res, **_means(res)} for mode, res in results.items()}
  summary["goal_tolerance"] = entry.goal_tolerance
  summary["goal_set"] = "goals" if cfg.eval.goals else cfg.eval.goal_set
  summary["controller"] = "mpc" if goal_capability(model) == SKILL_DYNAMICS else "zero_shot"
  return summary


def _means(results: list[dict]) -> dict:
  rewards = [r["normalized_reward"] for r in results]
  return {"mean_normalized_reward": float(np.mean(rewards)),
          # Standard error over goals: the spread a different draw of goals would show.
          "se_normalized_reward": (float(np.std(rewards, ddof=1) / np.sqrt(len(rewards)))
                                   if len(rewards) > 1 else 0.0),
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
  atomic_write(path, "\n".join(lines) + "\n")
