"""Model-predictive control over skills with a learned skill dynamics model (DADS' zero-shot
MPC), as pure functions with the search strategy injected.

A plan is `planning_horizon` skills [H, dz], each held for `primitive_horizon` (P) steps.
Candidate plans are rolled out through the skill dynamics, predict(params, s, z) -> s', and
scored with a reward of the predicted positions and the goal, summed over every predicted
step. How candidates are drawn and how their returns become the next plan is a `Strategy`:

  mppi(config):      candidates ~ N(plan, 1.5 I), put into the support (below); the new plan
                     is the average weighted by exp(gamma (R - max R)).
  cem(config):       candidates ~ U(low, high), put into the support; the `top_primitives`
                     best (the elites) refit low/high per refinement, and their mean is the
                     plan.
  discrete(config):  one-hot skills: every sequence of skills is scored exactly in a single
                     round and the best one is the plan.

MPPI and CEM smooth each candidate along the plan before it is scored, as the original did:
z'[h] = beta z'[h-1] + (1 - beta) z[h] (no effect with planning_horizon 1).

The support (`support`): a candidate is mapped by the prior's projection (`config.project`,
SkillPrior.project: a clip for the box, normalisation for the sphere) and clipped to
[skill_low, skill_high], before and after smoothing (a mixture of directions is no
direction); the plan played (the strategy's mean, a weighted average that may lie inside
the sphere) is put into the support the same way. So with --skill_type=cont_sphere every
candidate and every plan is a unit vector (projection onto the sphere): MPPI's proposal
mean + N(0, 1.5 I) is normalised (around a zero mean: uniform directions), and CEM's
uniform box draws are normalised (in its first round, before the box shrinks to the
elites, that favours the diagonals, as normalised points of a square do). For the box
and the Gaussian priors the projection is the clip itself or nothing, so their plans are
exactly those of a plain clip to the bounds.

`make_planner` ties a config, the dynamics, a strategy and the reward into one jitted replanning
step; the planner also owns the plan's initialization and its shift between replans:

  planner = make_planner(config, predict, mppi(config))
  plan = planner.init_plan()
  skill, plan, info = planner.plan(params, s0, goal, plan, key)   # execute `skill` P steps
  plan = planner.shift_plan(plan)

Where a replanning's proposal starts (`fresh_proposal`, --mpc_fresh_proposal):
  0: the last plan, shifted (the executed skill dropped, the last one repeated): each
     replanning refines the previous one (this project's default);
  1: the shifted plan with a fresh last slot at zeros, the N(0, I) proposal's mean;
  2: the shifted plan with a fresh last slot drawn from N(0, I), and a first plan drawn
     likewise, as the original (dads_off.py's _get_init_primitive_parameters draws the
     proposal mean with np.random.multivariate_normal at every replanning; after a
     replan it pops the executed slot and appends a fresh one). init_plan and shift_plan
     then take a key.
With planning_horizon 1 (the paper's), 1 and 2 ignore the previous plan entirely.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from envs.goal import goal_reward

PROPOSAL_VARIANCE = 1.5  # the original's N(mean, 1.5 I); a constant, never mutated

# predict(params, s [..., D], z [..., dz]) -> s' [..., D]: the skill dynamics' next state.
Predict = Callable[[Any, jax.Array, jax.Array], jax.Array]
# reward(positions [..., len(position_indices)], goal [P]) -> [...], summed over the steps.
Reward = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlannerConfig:
  """Static planner settings (hashable: the jitted planner closes over them).

  Errors name the command-line flag to change, where there is one.
  """
  skill_dim: int
  skill_low: float = -1.0
  skill_high: float = 1.0
  planning_horizon: int = 1     # H: skills per plan
  primitive_horizon: int = 10   # P: steps each skill is held
  num_candidates: int = 50      # N: candidate plans per refinement (MPPI, CEM)
  refine_steps: int = 10        # refinement rounds per replan (MPPI, CEM)
  mppi_gamma: float = 10.0
  smoothing_beta: float = 0.9
  top_primitives: int = 5       # CEM elites
  skill_only: bool = False      # predict ignores s: a primitive's change per step is constant
  position_indices: tuple[int, ...] = (0, 1)  # where the positions sit in a predicted state
  fresh_proposal: int = 0       # 0 carry the shifted plan; 1 fresh zeros; 2 fresh N(0, I) draw
  # z [..., dz] -> z in the prior's support (SkillPrior.project; hashable); None: identity.
  project: Callable[[jax.Array], jax.Array] | None = None

  def __post_init__(self):
    def require(ok, message):
      if not ok:
        raise ValueError(message)

    require(self.skill_dim > 0, f"--num_skills must be positive; got {self.skill_dim}")
    require(self.skill_low < self.skill_high,
            f"skill bounds need skill_low < skill_high; got {self.skill_low}, {self.skill_high}")
    for flag in ("planning_horizon", "primitive_horizon", "top_primitives"):
      require(getattr(self, flag) > 0, f"--{flag} must be positive; got {getattr(self, flag)}")
    require(self.num_candidates > 0,
            f"--num_candidate_sequences must be positive; got {self.num_candidates}")
    require(self.refine_steps >= 0, f"--refine_steps must be >= 0; got {self.refine_steps}")
    require(self.mppi_gamma >= 0, f"--mppi_gamma must be >= 0; got {self.mppi_gamma}")
    require(0 <= self.smoothing_beta < 1,
            f"--smoothing_beta must be in [0, 1); got {self.smoothing_beta}")
    require(self.fresh_proposal in (0, 1, 2),
            f"--mpc_fresh_proposal must be 0, 1 or 2; got {self.fresh_proposal}")
    require(self.top_primitives <= self.num_candidates,
            f"--top_primitives must be <= --num_candidate_sequences; got {self.top_primitives} "
            f"> {self.num_candidates}")
    indices = tuple(self.position_indices)
    require(len(indices) > 0 and all(isinstance(i, int) and i >= 0 for i in indices)
            and len(set(indices)) == len(indices),
            f"position_indices must be distinct non-negative ints; got {self.position_indices}")
    # A list would make the config unhashable, and jit needs it hashable.
    object.__setattr__(self, "position_indices", indices)


def support(config: PlannerConfig, skills: jax.Array) -> jax.Array:
  """Skills [..., dz] put into the prior's support: projected (config.project), then
  clipped to [skill_low, skill_high]. Points already in a box support come out unchanged,
  bit for bit."""
  if config.project is not None:
    skills = config.project(skills)
  return jnp.clip(skills, config.skill_low, config.skill_high)


# --- strategies ---------------------------------------------------------------------------
class Strategy(NamedTuple):
  """How candidate plans are proposed and how their returns update the proposal.

  The planner runs `rounds` rounds of propose -> score -> update, then plays mean(state).
  All functions are pure and traceable; `state` is any pytree.

    init(plan [H, dz]) -> state
    propose(state, key) -> candidates [N, H, dz]
    update(state, candidates [N, H, dz], returns [N]) -> state
    mean(state) -> plan [H, dz]
  """
  init: Callable[[jax.Array], Any]
  propose: Callable[[Any, jax.Array], jax.Array]
  update: Callable[[Any, jax.Array, jax.Array], Any]
  mean: Callable[[Any], jax.Array]
  rounds: int
  one_hot: bool = False  # skills are one-hot (the plan starts at 1 / dz, not 0)


def mppi(config: PlannerConfig) -> Strategy:
  """MPPI: Gaussian proposal around the plan, return-weighted average. State: plan [H, dz]."""
  shape = (config.num_candidates, config.planning_horizon, config.skill_dim)

  def propose(mean, key):
    noise = jnp.sqrt(PROPOSAL_VARIANCE) * jax.random.normal(key, shape)
    candidates = support(config, mean + noise)
    return support(config, smooth(candidates, config.smoothing_beta))

  def update(mean, candidates, returns):
    del mean  # The proposal is re-centred on the weighted average; its spread is fixed.
    return mppi_average(candidates, returns, config.mppi_gamma)

  return Strategy(init=lambda plan: plan, propose=propose, update=update,
                  mean=lambda mean: mean, rounds=config.refine_steps)


def cem(config: PlannerConfig) -> Strategy:
  """CEM-like: uniform proposal in a box refit to the elites. State: (mean, low, high),
  each [H, dz]; the box starts at the skill bounds, whatever the plan."""
  shape = (config.num_candidates, config.planning_horizon, config.skill_dim)

  def init(plan):
    return (plan, jnp.full(plan.shape, config.skill_low), jnp.full(plan.shape, config.skill_high))

  def propose(state, key):
    _, low, high = state
    candidates = support(config, jax.random.uniform(key, shape, minval=low, maxval=high))
    return support(config, smooth(candidates, config.smoothing_beta))

  def update(state, candidates, returns):
    del state
    elites = candidates[jnp.argsort(-returns)[:config.top_primitives]]
    return elites.mean(0), elites.min(0), elites.max(0)

  return Strategy(init=init, propose=propose, update=update, mean=lambda state: state[0],
                  rounds=config.refine_steps)


def discrete(config: PlannerConfig) -> Strategy:
  """Exhaustive search over sequences of one-hot skills: one round scores all dz^H of them
  (ignoring the key and the previous plan) and keeps the best. State: plan [H, dz]."""
  eye = np.eye(config.skill_dim, dtype=np.float32)
  # Built once with NumPy: a constant of the compiled planner, [dz^H, H, dz].
  sequences = np.array([[eye[i] for i in seq] for seq in
                        itertools.product(range(config.skill_dim),
                                          repeat=config.planning_horizon)])

  def update(plan, candidates, returns):
    del plan
    return candidates[jnp.argmax(returns)]

  return Strategy(init=lambda plan: plan, propose=lambda plan, key: jnp.asarray(sequences),
                  update=update, mean=lambda plan: plan, rounds=1, one_hot=True)


# --- plan bookkeeping ---------------------------------------------------------------------
# pylint: disable-next=redefined-outer-name
def init_plan(config: PlannerConfig, discrete: bool, key: jax.Array | None = None) -> jax.Array:
  """The first plan [H, dz]: zeros (the centre of the skill box), or 1/dz for one-hot skills
  (the uniform mixture: no skill favoured); with fresh_proposal 2 (continuous skills), a
  draw from N(0, I), which needs `key`."""
  shape = (config.planning_horizon, config.skill_dim)
  if config.fresh_proposal == 2 and not discrete:
    return _draw_mean(key, shape)
  return jnp.zeros(shape) + (1.0 / config.skill_dim if discrete else 0.0)


def shift_plan(plan: jax.Array) -> jax.Array:
  """Receding horizon: plan [H, dz] -> [H, dz] without the executed skill, the last repeated."""
  return jnp.concatenate([plan[1:], plan[-1:]], 0)


# pylint: disable-next=redefined-outer-name
def shift_plan_fresh(config: PlannerConfig, discrete: bool, plan: jax.Array,
                     key: jax.Array | None = None) -> jax.Array:
  """Receding horizon with a fresh proposal: plan [H, dz] -> [H, dz] without the executed
  skill, and a fresh last slot: init_plan's (zeros, 1/dz for one-hot skills, or with
  fresh_proposal 2 a draw from N(0, I), which needs `key`)."""
  return jnp.concatenate([plan[1:], init_plan(config, discrete, key)[-1:]], 0)


def _draw_mean(key: jax.Array | None, shape: tuple[int, ...]) -> jax.Array:
  if key is None:
    raise ValueError("--mpc_fresh_proposal=2 draws the proposal mean: init_plan and "
                     "shift_plan need a key")
  return jax.random.normal(key, shape)


def smooth(sequences: jax.Array, beta: float) -> jax.Array:
  """Skill sequences [..., H, dz] smoothed along the plan (axis -2), as the original:
  z'[0] = z[0], z'[h] = beta * z'[h - 1] + (1 - beta) * z[h]. beta = 0 leaves them as they
  are; beta near 1 makes each sequence nearly one repeated skill."""
  steps = jnp.moveaxis(sequences, -2, 0)

  def body(prev, z):
    out = beta * prev + (1 - beta) * z
    return out, out

  _, rest = jax.lax.scan(body, steps[0], steps[1:])
  return jnp.moveaxis(jnp.concatenate([steps[:1], rest], 0), 0, -2)


def mppi_average(candidates: jax.Array, returns: jax.Array, gamma: float) -> jax.Array:
  """Reward-weighted average of candidates [N, ...] with weights exp(gamma (R - max R)).

  Subtracting max R keeps the exponent <= 0, so huge returns cannot overflow."""
  weights = jnp.exp(gamma * (returns - jnp.max(returns)))
  weights = weights / jnp.sum(weights)
  return jnp.tensordot(weights, candidates, axes=1)


# --- scoring ------------------------------------------------------------------------------
def rollout(config: PlannerConfig, predict: Predict, params, s0: jax.Array,
            skills: jax.Array) -> jax.Array:
  """Predicted states [N, H * P, D] (s0 excluded) for skill sequences [N, H, dz] from s0 [D]."""
  n = skills.shape[0]
  if config.skill_only:
    # The change per step depends on z alone: one predict per (candidate, skill), then a
    # cumulative sum, instead of H * P sequential predictions.
    deltas = predict(params, jnp.zeros((n, config.planning_horizon, s0.shape[0])), skills)
    steps = jnp.repeat(deltas, config.primitive_horizon, axis=1)  # [N, H*P, D]
    return s0 + jnp.cumsum(steps, axis=1)
  per_step = jnp.repeat(skills, config.primitive_horizon, axis=1).swapaxes(0, 1)  # [H*P, N, dz]

  def step(s, z):
    s_next = predict(params, s, z)
    return s_next, s_next

  _, states = jax.lax.scan(step, jnp.broadcast_to(s0, (n, s0.shape[0])), per_step)
  return states.swapaxes(0, 1)


def positions_of(config: PlannerConfig, states: jax.Array) -> jax.Array:
  """states [..., D] -> positions [..., len(position_indices)]."""
  idx = config.position_indices
  if idx == tuple(range(idx[0], idx[0] + len(idx))):
    return states[..., idx[0]:idx[0] + len(idx)]  # contiguous: a plain slice, no gather
  return states[..., np.asarray(idx)]


def score(config: PlannerConfig, predict: Predict, reward: Reward, params, s0: jax.Array,
          goal: jax.Array, skills: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Returns [N] (the reward summed over the H * P predicted steps) of skill sequences
  [N, H, dz] from s0 [D] toward goal [P], and their predicted states [N, H * P, D]."""
  states = rollout(config, predict, params, s0, skills)
  return jnp.sum(reward(positions_of(config, states), goal), 1), states


# --- controllers: what goal reaching asks for a skill ----------------------------------------
class Controller(Protocol):
  """Chooses the skill to hold for the next primitive (P steps) toward a goal. Goal
  reaching's loop, metrics, plots and videos take any Controller: MPC over skill
  dynamics (`Planner`) or the zero-shot rule of a goal-conditioned latent
  (planning/zero_shot.py).

    start(key) -> memory: what an episode starts with (MPC: its first plan).
    choose(params, s [D], goal [P], memory, key) -> (skill [dz], memory, info):
        params are the objective's (MPC: the skill dynamics' state; zero-shot: the
        latent's), s the reduced observation, goal the goal position; key a fresh key per
        choice (split by the caller from the episode's key).
    title: what the goal plots call the controller.
  """
  title: str

  def start(self, key: jax.Array) -> Any:
    ...

  def choose(self, params, s: jax.Array, goal: jax.Array, memory, key: jax.Array
             ) -> tuple[jax.Array, Any, dict]:
    ...


# --- the planner --------------------------------------------------------------------------
def _plan(config: PlannerConfig, predict: Predict, strategy: Strategy, reward: Reward,
          params, s0, goal, plan, key):
  """One replanning step; see `Planner.plan`."""
  evaluate = functools.partial(score, config, predict, reward, params, s0, goal)

  def refine(state, k):
    candidates = strategy.propose(state, k)
    returns, _ = evaluate(candidates)
    return strategy.update(state, candidates, returns), jnp.max(returns)

  state, best = jax.lax.scan(refine, strategy.init(plan),
                             jax.random.split(key, strategy.rounds))
  new_plan = strategy.mean(state)
  if not strategy.one_hot:  # one-hot plans are exact candidates already
    new_plan = support(config, new_plan)
  # The plan played is the mean, which need not be one of the candidates: score it itself.
  planned_return, states = evaluate(new_plan[None])
  info = {"planned_return": planned_return[0], "predicted_states": states[0],
          "best_candidate_return": jnp.max(best, initial=planned_return[0])}
  return new_plan[0], new_plan, info


@dataclasses.dataclass(frozen=True)
class Planner:
  """A compiled MPC planner over skills (build it with `make_planner`).

  plan(params, s0 [D], goal [P], plan [H, dz], key) -> (skill [dz], new_plan [H, dz], info):
      one jitted replanning step, all refinements included; it compiles once per planner
      (goal, key, params and plan are traced arguments). info: "planned_return" [] (the
      return predicted for new_plan), "predicted_states" [H * P, D] (new_plan's predicted
      states), "best_candidate_return" [] (the best return seen, new_plan's included).
  init_plan(key=None) -> plan [H, dz]: the plan to start an episode with.
  shift_plan(plan [H, dz], key=None) -> [H, dz]: the plan for the next replan, after
      executing skill. The keys are used (and required) only with fresh_proposal 2.

  As a `Controller` (receding horizon, the plan is the memory): start(key) is init_plan,
  choose(...) one plan step then shift_plan. With fresh_proposal 2 their proposal means
  are drawn from keys of their own (fold_in(key, 1)), so that the planner's own keys are
  those of the other settings.
  """
  plan: Callable[..., tuple[jax.Array, jax.Array, dict]]
  init_plan: Callable[..., jax.Array]
  shift_plan: Callable[..., jax.Array]
  config: PlannerConfig
  title: str = "MPC over skills"

  def _draw_key(self, key: jax.Array) -> jax.Array | None:
    return jax.random.fold_in(key, 1) if self.config.fresh_proposal == 2 else None

  def start(self, key: jax.Array) -> jax.Array:
    return self.init_plan(self._draw_key(key))

  def choose(self, params, s, goal, memory, key):
    skill, plan, info = self.plan(params, s, goal, memory, key)
    return skill, self.shift_plan(plan, self._draw_key(key)), info


def make_planner(config: PlannerConfig, predict: Predict, strategy: Strategy,
                 reward: Reward = goal_reward) -> Planner:
  """A planner that searches with `strategy` through `predict` for the plan maximizing the
  summed reward(positions [..., len(position_indices)], goal [P]) -> [...]."""
  if config.fresh_proposal:
    shift = functools.partial(shift_plan_fresh, config, strategy.one_hot)
  else:
    shift = lambda plan, key=None: shift_plan(plan)  # noqa: E731
  return Planner(
      plan=jax.jit(functools.partial(_plan, config, predict, strategy, reward)),
      init_plan=functools.partial(init_plan, config, strategy.one_hot),
      shift_plan=shift,
      config=config)
