"""The public Python API: trained skills as one small object.

  import numpy as np
  from unsupervised_skill_learning import load_skills

  skills = load_skills("pretrained/ant_xy")   # an exported model, or a run directory
  env = skills.make_env(seed=0)               # the environment it was trained on
  obs, _ = env.reset(seed=0)
  z = skills.prior.sample(np.random.default_rng(0))
  action = skills.act(obs, z, deterministic=True)
  predicted = skills.predict(obs, z)          # skill dynamics, where the objective has it
  z = skills.plan(obs, goal=(10.0, 10.0))     # the skill goal reaching would choose now

`Skills` is a view over what training and evaluation already use, not a second
implementation: loading is `evaluation.model_io.load`, environments are evaluation's
(`evaluation.skills.EvalEnvs`), acting is `Policy.act` with the one action scaling
(`backends.host.to_env_action`), prediction is the objective's skill dynamics and planning
is goal reaching's controller for the objective's capability
(`planning.goal_reaching.make_controller`: MPC over the skill dynamics for DADS, the
zero-shot rule of a goal-conditioned latent for METRA).

Observations may be given as the environment's array [obs_dim] (batched: [..., obs_dim])
or as the skill environment's dict observation {"observation", "skill"} (its
"observation" is used; the skill is always the `z` passed).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import envs
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.backends.host import to_env_action
from unsupervised_skill_learning.config import EnvConfig, RunConfig
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.evaluation.model_io import (EvaluationError, TrainedModel, load,
                                                              resolve_run_config)
from unsupervised_skill_learning.planning import goal_reaching, planners


class CapabilityError(EvaluationError):
  """The model's objective lacks what a method needs (say, skill dynamics for predict)."""


def run_config_for(path: str, seed: int = 0) -> RunConfig:
  """A RunConfig that locates the trained model at `path` for model_io.load: a run's
  --logdir (or an exported model's --out) holding one <environment> folder, or that
  <environment> folder itself (it holds config.json). FileNotFoundError when `path` is
  not a folder."""
  path = os.path.normpath(os.fspath(path))
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{path}: no such folder (expected a run's logdir, its "
                            "<environment> folder, or an exported model)")
  if os.path.isfile(os.path.join(path, "config.json")):  # the run's own folder
    return RunConfig(logdir=os.path.dirname(path) or ".",
                     env=EnvConfig(environment=os.path.basename(path)), seed=seed)
  return RunConfig(logdir=path, seed=seed)


def trained_config(path: str | os.PathLike) -> RunConfig:
  """The settings of the trained model at `path` (see load_skills), read from its
  config.json without loading the model."""
  return resolve_run_config(run_config_for(path))


def load_skills(path: str | os.PathLike) -> "Skills":
  """The trained skills at `path`: an exported model (`export_model --out`, e.g.
  pretrained/ant_xy) or a run directory (`<logdir>` or `<logdir>/<environment>`), whose
  newest intact checkpoint is loaded. Evaluation settings (planner, primitive horizon)
  are the evaluation defaults, as `--run_eval=1 --logdir=PATH` uses them."""
  return Skills(load(run_config_for(path)))


def observation(obs) -> np.ndarray:
  """The environment's observation [..., obs_dim] from an array or from the skill
  environment's dict observation (its "observation")."""
  if isinstance(obs, Mapping):
    obs = obs["observation"]
  return np.asarray(obs, np.float32)


class GoalController:
  """Skills toward a goal, chosen as goal reaching chooses them (--run_eval=1's loop):
  one choice per call by the model's goal-reaching controller (MPC over the skill
  dynamics, its plan carried to the next call: a receding horizon; or the zero-shot
  rule of a goal-conditioned latent). Call it once per primitive (every
  `Skills.primitive_horizon` steps).

    controller = skills.goal_controller(key=jax.random.key(0))
    z = controller(obs, goal)       # obs [obs_dim], goal [P] -> skill [dz]
  """

  def __init__(self, skills: "Skills", key: jax.Array):
    self.skills = skills
    self.controller = skills.controller
    # The same key schedule as goal_reaching.reach_goal: the episode's key starts the
    # controller's memory, then is split once per choice.
    self.key = key
    self.memory = self.controller.start(key)

  def __call__(self, obs, goal: Sequence[float]) -> np.ndarray:
    reduced = observation(obs)[..., np.asarray(self.skills.reduced_indices)]
    self.key, k = jax.random.split(self.key)
    skill, self.memory, _ = self.controller.choose(
        self.skills.controller_params, jnp.asarray(reduced), jnp.asarray(goal, jnp.float32),
        self.memory, k)
    return np.asarray(skill)


class Skills:
  """A trained model's skills: its prior, policy, skill dynamics and planner.

  Attributes:
    model: the loaded evaluation.model_io.TrainedModel (config, components, state).
    config: the run's settings (RunConfig), with the evaluation defaults.
    prior: the skill prior (lib.skill_prior.SkillPrior): `prior.sample(rng)` -> [dz].
  """

  def __init__(self, model: TrainedModel):
    self.model = model
    self.config: RunConfig = model.cfg
    self.prior: SkillPrior = model.parts.prior
    probe = envs.get_environment(self.environment, self.config.env.physics)
    space = probe.action_space
    self._low, self._high = space.low.astype(np.float64), space.high.astype(np.float64)
    probe.close()

  # --- what the skills are ----------------------------------------------------------
  @property
  def environment(self) -> str:
    return self.config.env.environment

  @property
  def objective(self) -> str:
    return self.config.objective

  @property
  def skill_dim(self) -> int:
    """dz: the length of a skill vector."""
    return self.prior.dim

  @property
  def num_skills(self) -> int:
    """The --num_skills the model was trained with: the number of skills of a discrete
    prior, the skill dimension dz otherwise."""
    return self.config.skills.num_skills

  @property
  def primitive_horizon(self) -> int:
    """Steps a planned skill is held (--primitive_horizon)."""
    return self.config.eval.primitive_horizon

  @property
  def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
    """(low [A], high [A]): the environment's action box, which `act` returns into."""
    return self._low.copy(), self._high.copy()

  @property
  def checkpoint(self) -> str:
    """The checkpoint folder or exported model file the parameters came from."""
    return self.model.checkpoint

  # --- acting -----------------------------------------------------------------------
  def make_env(self, seed: int = 0, max_env_steps: int | None = None) -> envs.SkillWrapper:
    """The environment the skills were trained on, as evaluation makes it (the run's
    physics; episodes of max_env_steps, default the run's; the skill beside the
    observation never changes by itself). Its observation is {"observation" [obs_dim],
    "skill" [dz]}."""
    cfg = self.config
    return skill_eval.EvalEnvs(self.environment, self.prior,
                               max_env_steps or cfg.env.max_env_steps,
                               cfg.env.physics).make(np.random.default_rng(seed))

  def act(self, obs, z, deterministic: bool = True, key: jax.Array | None = None
          ) -> np.ndarray:
    """The skill policy's action for obs [..., obs_dim] under skill z [..., dz]:
    [..., action_dim] in the environment's bounds. deterministic: the mean action;
    otherwise a sample, which needs `key` (a jax.random key)."""
    if not deterministic and key is None:
      raise ValueError("act(deterministic=False) samples the action: pass key=jax.random.key(...)")
    policy = self.model.parts.learner.policy
    action, _ = policy.act(self.model.state.agent.actor, jnp.asarray(observation(obs)),
                           jnp.asarray(z, jnp.float32),
                           jax.random.key(0) if key is None else key,
                           min(self.config.agent.action_clipping, 1.0),
                           deterministic=deterministic)
    return to_env_action(np.asarray(action), self._low, self._high)

  # --- skill dynamics -----------------------------------------------------------------
  def require(self, what: str) -> None:
    """CapabilityError unless the objective has skill dynamics (`what` names the caller)."""
    if not self.model.parts.objective_spec.has_skill_dynamics:
      raise CapabilityError(f"{what} needs skill dynamics; objective {self.objective} has none "
                            f"(the model at {self.checkpoint})")

  def require_goal_reaching(self, what: str) -> None:
    """CapabilityError unless the objective offers goal reaching (skill dynamics or a
    goal-conditioned latent); `what` names the caller."""
    try:
      goal_reaching.goal_capability(self.model)
    except EvaluationError as err:
      raise CapabilityError(f"{what}: {err} (the model at {self.checkpoint})") from None

  @property
  def dynamics_state(self):
    """The skill dynamics' parameters and normalizers (what predict and plan use)."""
    self.require("dynamics_state")
    return self.model.parts.learner.objective.dynamics_state(self.model.state.objective)

  @property
  def reduced_indices(self) -> tuple[int, ...]:
    """The observation indices the skill dynamics models (--reduced_observation)."""
    return self.model.parts.reduced_indices

  def predict(self, obs, z) -> np.ndarray:
    """The skill dynamics' next state: obs [..., obs_dim], z [..., dz] ->
    [..., D], D = len(reduced_indices) (for the x-y Ant, the next x-y position).
    CapabilityError where the objective has no skill dynamics (DIAYN, RND)."""
    self.require("predict")
    dynamics = self.model.parts.learner.objective.dynamics
    reduced = observation(obs)[..., np.asarray(self.reduced_indices)]
    return np.asarray(dynamics.predict_next(self.dynamics_state, jnp.asarray(reduced),
                                            jnp.asarray(z, jnp.float32)))

  # --- goal reaching ----------------------------------------------------------------------
  @functools.cached_property
  def controller(self) -> planners.Controller:
    """Goal reaching's controller for the objective's capability (built once): MPC over
    the skill dynamics, or the zero-shot rule of a goal-conditioned latent.
    CapabilityError for objectives with neither (DIAYN, RND)."""
    self.require_goal_reaching("goal reaching")
    return goal_reaching.make_controller(self.model)

  @property
  def controller_params(self):
    """What the controller reads: the skill dynamics' state or the latent's parameters."""
    return goal_reaching.controller_params(self.model)

  def goal_controller(self, key: jax.Array | None = None) -> GoalController:
    """A fresh goal-reaching controller for one episode (see GoalController); key
    defaults to jax.random.key(seed of the run)."""
    self.require_goal_reaching("goal_controller")
    return GoalController(self, jax.random.key(self.config.seed) if key is None else key)

  def plan(self, obs, goal: Sequence[float], key: jax.Array | None = None) -> np.ndarray:
    """The skill [dz] goal reaching would choose now from obs [obs_dim] toward goal [P]
    (the position coordinates, e.g. x-y): a fresh controller's first choice (MPC: the
    first replanning of a fresh plan, its candidates drawn from `key`, default
    jax.random.key(seed of the run), so the same key gives the same skill; METRA: the
    latent direction to the goal). CapabilityError where the objective offers no goal
    reaching (DIAYN, RND)."""
    self.require_goal_reaching("plan")
    return self.goal_controller(key)(obs, goal)

  def __repr__(self) -> str:
    return (f"Skills({self.objective} on {self.environment}, {self.prior.kind} skills of "
            f"dimension {self.skill_dim}, from {self.checkpoint})")
