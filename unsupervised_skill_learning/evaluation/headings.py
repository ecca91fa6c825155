"""Heading coverage: in which directions do the skills move?

The skill dynamics predicts, for every skill z of a grid over the prior, where the robot
goes from a start state s0 (open loop: `steps` calls of predict_next); the direction of
that predicted displacement is the skill's predicted heading. Rolled-out skills give the
actual headings. `heading_coverage` summarizes a set of headings: a histogram over
360 / bin_degrees bins, the empty bins, and the largest circular gap between occupied
directions (a blind spot: no skill heads that way, so MPC cannot go there directly).

With a 1-D position (HalfCheetah's x) there is no heading: `displacement_range` reports
the range of the predicted displacement instead.

Angles are degrees in [0, 360), counter-clockwise from +x (x-y positions in the order
of the environment's position_indices); bins start at 0 degrees, so with 20-degree bins
the bin [40, 60) is bin 2.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lib import plots
from lib.skill_prior import SkillPrior

GRID = 41               # skills per axis of a 2-D prior's grid (41 x 41 = 1681 skills)
ROLLOUT_GRID = 7        # per axis for rollouts in the environment (7 x 7 = 49 episodes)
# The rollouts' stream: seeding.child(seeding.eval_stream(seed, seeding.COVERAGE),
# ROLLOUT_STREAM), nested under the coverage stream so that it changes none of the other
# evaluation draws (as evaluation/run.py nests the per-skill returns under EVAL_SKILLS).
ROLLOUT_STREAM = 0
BIN_DEGREES = 20.0
# A skill slower than this fraction of the median skill speed counts as slow: its
# direction is left out of the histogram and the gaps (a near-zero displacement points
# anywhere), and reported in slow_fraction. A skill 4x slower than the typical one covers
# its direction only nominally (MPC would get there 4x slower). An absolute threshold
# (position units per step) can be given instead, as min_speed.
MIN_RELATIVE_SPEED = 0.25
MAX_ENUMERATED = 4096   # a multivariate Bernoulli prior is enumerated up to this many skills


# --- skills -----------------------------------------------------------------------------
def skill_grid(prior: SkillPrior, n: int = GRID, rng: np.random.Generator | None = None
               ) -> np.ndarray:
  """The skills to look at, float32 [K, dz]: for a continuous prior of 1 or 2 dimensions a
  regular grid over its box (n points per axis: n x n for 2-D); for the circle
  (cont_sphere, 2-D) n x n evenly spaced directions, and for S^0 its two points; every
  skill of a discrete prior (and of a multivariate Bernoulli one, up to MAX_ENUMERATED);
  otherwise n * n prior samples (from rng, default seed 0)."""
  if prior.is_discrete:
    return prior.enumerate()
  if prior.kind == "cont_sphere" and prior.dim == 1:
    return np.array([[-1.0], [1.0]], np.float32)
  if prior.kind == "cont_sphere" and prior.dim == 2:
    angles = 2 * np.pi * np.arange(n * n) / (n * n)
    return np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
  if prior.kind == "multivariate_bernoulli" and 2**prior.dim <= MAX_ENUMERATED:
    return np.array(list(itertools.product((0.0, 1.0), repeat=prior.dim)), np.float32)
  if prior.kind in ("cont_uniform", "gaussian") and prior.dim <= 2:
    low, high = prior.bounds
    axis = np.linspace(low, high, n, dtype=np.float32)
    if prior.dim == 1:
      return axis[:, None]
    gx, gy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
  rng = np.random.default_rng(0) if rng is None else rng
  return prior.sample(rng, n * n)


# --- displacements and headings ----------------------------------------------------------
def predicted_displacements(dynamics, dyn_state, s0, skills, position_positions: Sequence[int],
                            steps: int) -> np.ndarray:
  """The skill dynamics' predicted change of position after `steps` open-loop steps from
  s0 [D] (a reduced observation), for skills [K, dz]: float [K, len(position_positions)].

  dynamics: a SkillDynamics (its predict_next(state, s [K, D], z [K, dz]) -> s' [K, D]);
  position_positions: where the position sits in the reduced observation.
  """
  if steps <= 0:
    raise ValueError(f"steps must be positive; got {steps}")
  s0 = jnp.asarray(s0, jnp.float32)
  skills = jnp.asarray(skills, jnp.float32)
  start = jnp.broadcast_to(s0, (skills.shape[0], s0.shape[-1]))

  def body(s, _):
    return dynamics.predict_next(dyn_state, s, skills), None

  end, _ = jax.lax.scan(body, start, None, length=steps)
  idx = np.asarray(position_positions)
  return np.asarray(end[:, idx] - start[:, idx], np.float64)


def headings_of(displacements: np.ndarray) -> np.ndarray:
  """Displacements [K, 2] -> headings [K] in degrees, [0, 360), counter-clockwise from +x."""
  d = np.asarray(displacements, np.float64)
  return wrap_degrees(np.degrees(np.arctan2(d[:, 1], d[:, 0])))


def wrap_degrees(angles) -> np.ndarray:
  """Angles (degrees) -> [0, 360) (np.mod alone can round a tiny negative angle to 360)."""
  a = np.mod(np.asarray(angles, np.float64), 360.0)
  return np.where(a >= 360.0, 0.0, a)


def signed_degrees(angles) -> np.ndarray:
  """Angles (degrees) -> [-180, 180): how a direction is reported (0 is +x, 90 is +y)."""
  return wrap_degrees(np.asarray(angles, np.float64) + 180.0) - 180.0


def predicted_headings(dynamics, dyn_state, s0, skills, position_positions: Sequence[int],
                       steps: int) -> np.ndarray:
  """Headings [K] (degrees in [0, 360)) of the skill dynamics' predicted displacement
  after `steps` open-loop steps from s0 [D], for skills [K, dz]; position_positions must
  name 2 coordinates (x, y)."""
  if len(position_positions) != 2:
    raise ValueError(f"headings need a 2-D position; got position_positions {position_positions}")
  return headings_of(predicted_displacements(dynamics, dyn_state, s0, skills,
                                             position_positions, steps))


def actual_headings(start_xy, end_xy) -> np.ndarray:
  """Headings [K] (degrees in [0, 360)) of rollouts from start_xy [K, 2] to end_xy [K, 2]."""
  return headings_of(np.asarray(end_xy, np.float64) - np.asarray(start_xy, np.float64))


# --- summaries --------------------------------------------------------------------------
def circular_gaps(angles) -> np.ndarray:
  """The gaps [K] (degrees) between consecutive distinct directions around the circle,
  the wrap-around gap (last to first + 360) included; they sum to 360. No angle: [360]."""
  a = np.unique(wrap_degrees(angles))
  if len(a) == 0:
    return np.array([360.0])
  return np.diff(np.concatenate([a, a[:1] + 360.0]))


def heading_coverage(angles, speeds=None, bin_degrees: float = BIN_DEGREES,
                     min_speed: float | None = None,
                     min_relative_speed: float = MIN_RELATIVE_SPEED) -> dict:
  """Summary of headings angles [K] (degrees) with speeds [K] (optional). Skills slower
  than min_speed (absolute), or when it is None than min_relative_speed x the median
  speed, are slow: left out of everything but slow_fraction. Returns

    histogram:           skills per bin, 360 / bin_degrees bins from 0 degrees;
    bin_degrees, empty_bins;
    largest_gap_deg:     the largest circular gap between occupied directions (360 with
                         at most one direction);
    largest_gap_from_deg, largest_gap_to_deg: where that gap is (from -> to,
                         counter-clockwise), each in [-180, 180) (so `to` is below
                         `from` when the gap crosses 180 degrees);
    num_skills, slow_fraction (0 without speeds), speed_threshold (the speed below
                         which a skill was slow; 0 without speeds), median_speed (None without).
  """
  angles = wrap_degrees(np.asarray(angles, np.float64).reshape(-1))
  num_bins = int(round(360.0 / bin_degrees))
  if num_bins <= 0 or abs(num_bins * bin_degrees - 360.0) > 1e-9:
    raise ValueError(f"bin_degrees must divide 360; got {bin_degrees}")
  fast = np.ones(len(angles), bool)
  threshold, median = 0.0, None
  if speeds is not None:
    speeds = np.asarray(speeds, np.float64).reshape(-1)
    if speeds.shape != angles.shape:
      raise ValueError(f"speeds {speeds.shape} and angles {angles.shape} differ in shape")
    median = float(np.median(speeds)) if len(speeds) else 0.0
    threshold = float(min_speed) if min_speed is not None else min_relative_speed * median
    fast = speeds >= threshold
  moving = angles[fast]
  bins = np.minimum((moving // bin_degrees).astype(np.int64), num_bins - 1)
  histogram = np.bincount(bins, minlength=num_bins)
  distinct = np.unique(moving)
  gaps = circular_gaps(distinct)
  i = int(np.argmax(gaps))
  start = float(distinct[i]) if len(distinct) else 0.0
  return {"histogram": histogram.tolist(), "bin_degrees": float(bin_degrees),
          "empty_bins": int(np.sum(histogram == 0)),
          "largest_gap_deg": float(gaps[i]),
          "largest_gap_from_deg": float(signed_degrees(start)),
          "largest_gap_to_deg": float(signed_degrees(start + gaps[i])),
          "num_skills": int(len(angles)),
          "slow_fraction": float(1.0 - fast.mean()) if len(angles) else 0.0,
          "speed_threshold": threshold, "median_speed": median}


def displacement_range(displacements) -> dict:
  """For a 1-D position: the range of the displacements [K] or [K, 1] (min, max), and how
  many move each way."""
  d = np.asarray(displacements, np.float64).reshape(-1)
  return {"min": float(d.min()), "max": float(d.max()), "num_skills": int(len(d)),
          "num_positive": int(np.sum(d > 0)), "num_negative": int(np.sum(d < 0))}


def skill_headings(dynamics, dyn_state, prior: SkillPrior, s0, position_positions,
                   steps: int, *, n: int = GRID, bin_degrees: float = BIN_DEGREES,
                   min_speed: float | None = None) -> tuple[dict, np.ndarray | None]:
  """The predicted-heading report of a skill-dynamics model over skill_grid(prior, n),
  from s0 [D] over `steps` steps: (summary, headings [K] or None).

  A 2-D position: heading_coverage of the predicted headings, speeds = |displacement| /
  steps, with "kind": "headings"; a 1-D position: displacement_range, "kind":
  "displacement_range" (no headings). Both add "steps" and "grid" (n).
  """
  skills = skill_grid(prior, n)
  disp = predicted_displacements(dynamics, dyn_state, s0, skills, position_positions, steps)
  if disp.shape[1] == 1:
    return {"kind": "displacement_range", "steps": int(steps), "grid": int(n),
            **displacement_range(disp)}, None
  if disp.shape[1] != 2:
    raise ValueError(f"headings need a 1-D or 2-D position; got {disp.shape[1]} coordinates")
  angles = headings_of(disp)
  speeds = np.linalg.norm(disp, axis=1) / steps
  summary = heading_coverage(angles, speeds, bin_degrees, min_speed)
  return {"kind": "headings", "steps": int(steps), "grid": int(n), **summary}, angles


def initial_reduced_state(env_name: str, reduced_indices: Sequence[int], seed: int = 0
                          ) -> np.ndarray:
  """The reduced observation [D] the environment starts from (reset with `seed`): the s0
  to predict from."""
  import envs  # pylint: disable=import-outside-toplevel  (MuJoCo only when needed)
  env = envs.get_environment(env_name)
  try:
    obs, _ = env.reset(seed=seed)
  finally:
    env.close()
  return np.asarray(obs, np.float32)[np.asarray(reduced_indices)]


def model_headings(parts, state, env_name: str, steps: int, *, n: int = GRID, seed: int = 0,
                   bin_degrees: float = BIN_DEGREES, min_speed: float | None = None
                   ) -> tuple[dict, np.ndarray | None] | None:
  """skill_headings for a run's components (components.Components) and LearnerState,
  from env_name's start state (reset with `seed`): None when the objective has no skill
  dynamics or the reduced observation lacks a 1-D or 2-D position."""
  objective = parts.learner.objective
  positions = parts.reduced_position_indices
  if objective.dynamics is None or positions is None or len(positions) not in (1, 2):
    return None
  s0 = initial_reduced_state(env_name, parts.reduced_indices, seed)
  return skill_headings(objective.dynamics, objective.dynamics_state(state.objective),
                        parts.prior, s0, positions, steps, n=n, bin_degrees=bin_degrees,
                        min_speed=min_speed)


def rollout_headings(eval_envs, policy_for, rng: np.random.Generator, *, n: int = ROLLOUT_GRID,
                     bin_degrees: float = BIN_DEGREES, min_speed: float | None = None
                     ) -> tuple[dict, np.ndarray] | None:
  """The actual headings of skill_grid(prior, n) rolled out in eval_envs (an
  evaluation.skills.EvalEnvs; one batched episode each; policy_for(env) -> PolicyFn):
  (heading_coverage with speeds = |displacement| / steps lasted, headings [K]), or None
  when the environment's position is not 2-D."""
  # pylint: disable=import-outside-toplevel  (MuJoCo only when needed)
  import envs
  positions = list(envs.lookup(eval_envs.name).spec.position_indices)
  if len(positions) != 2:
    return None
  skills = skill_grid(eval_envs.prior, n, rng)
  out = eval_envs.run(policy_for, skills, int(rng.integers(2**63)))
  obs, steps = out.observations, out.steps
  start, end = obs[:, 0][:, positions], obs[np.arange(len(obs)), steps][:, positions]
  angles = actual_headings(start, end)
  speeds = np.linalg.norm(end - start, axis=1) / np.maximum(steps, 1)
  summary = heading_coverage(angles, speeds, bin_degrees, min_speed)
  return {"kind": "headings", "steps": int(steps.max()), "grid": int(n), **summary}, angles


# --- the figure ----------------------------------------------------------------------------
def plot_heading_histogram(path: str, predicted, actual=None, bin_degrees: float = BIN_DEGREES,
                           title: str = "") -> str:
  """A polar histogram PNG of headings (degrees): the skill dynamics' predicted headings
  [K] and, optionally, the rollouts' actual ones [M], each as the fraction of its skills
  per bin (the radial axis). Written atomically; returns path."""
  num_bins = int(round(360.0 / bin_degrees))
  histograms = {}
  for angles, label in ((predicted, "predicted by the skill dynamics"),
                        (actual, "actual (rollouts)")):
    if angles is None or len(angles) == 0:
      continue
    a = wrap_degrees(angles)
    counts = np.bincount(np.minimum((a // bin_degrees).astype(np.int64), num_bins - 1),
                         minlength=num_bins)
    histograms[f"{label}: {len(a)} skills"] = counts / counts.sum()
  return plots.plot_polar_histogram(
      path, histograms, title=title or "skill headings",
      radial_label=f"fraction of skills per {bin_degrees:g}-degree bin")
