"""Run configuration: keyword-only frozen dataclasses, validated here and nowhere else.

Field names are the driver's flag names, unique across sections, so a run is described
by one flat mapping flag -> value (`RunConfig.build`), and an error can always say which
flag to change. Each objective brings its own config section (see objectives/); the run
keeps the chosen one in `objective_config`. Building a RunConfig imports no simulator:
environments are checked when components are built (`components.check`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any

from envs.goal import GOAL_SETS
from lib.skill_prior import PRIOR_KINDS
from unsupervised_skill_learning.objectives import OBJECTIVES
from unsupervised_skill_learning.validation import (ConfigError, require, require_positive,
                                                    require_types)

COLLECT_POLICIES = ("default", "ou_noise")
AGENT_INITS = ("flax", "tf_agents")
ALPHA_LOSS_SAMPLES = ("pre_update", "fresh")
MPC_FRESH_PROPOSALS = (0, 1, 2)
BACKENDS = ("host", "mjx")
PRIOR_TYPES = ("normal", "uniform")
RELABEL_TYPES = ("none", "importance_sampling", "policy", "dynamics_posterior")
FROZEN = dict(frozen=True, kw_only=True)
MAX_SEED = 2**31  # jax.random.key takes a 32-bit seed
# A file name of its own: no folder separators, no leading dot (nor '.' or '..').
FILE_NAME = re.compile(r"^[A-Za-z0-9_+=@-][A-Za-z0-9_.+=@-]*$")


@dataclasses.dataclass(**FROZEN)
class EnvConfig:
  environment: str = "Ant-v1"
  max_env_steps: int = 200
  reduced_observation: int = 0
  min_steps_before_resample: int = 2000
  resample_prob: float = 0.0
  num_envs: int = 1
  backend: str = "host"

  def __post_init__(self):
    require_positive(self, "max_env_steps", "num_envs")
    require(self.backend in BACKENDS, "backend", self.backend, f"allowed: {', '.join(BACKENDS)}")
    require(0 <= self.resample_prob <= 1, "resample_prob", self.resample_prob, "must be in [0, 1]")
    require(self.min_steps_before_resample >= 0, "min_steps_before_resample",
            self.min_steps_before_resample, "must be >= 0")

  @property
  def physics(self) -> str:
    """The simulator options the run's policy knows: 'mjx' (envs/physics.py's MJX solver
    settings, which evaluation and videos apply to CPU MuJoCo too) or 'default'."""
    return "mjx" if self.backend == "mjx" else "default"


@dataclasses.dataclass(**FROZEN)
class SkillConfig:
  skill_type: str = "cont_uniform"
  num_skills: int = 2

  def __post_init__(self):
    require(self.skill_type in PRIOR_KINDS, "skill_type", self.skill_type,
            f"allowed: {', '.join(PRIOR_KINDS)}")
    require_positive(self, "num_skills")


@dataclasses.dataclass(**FROZEN)
class AgentConfig:
  """SAC, read by agents/sac.py and the collector (action clipping, noise)."""

  hidden_layer_size: int = 512
  agent_lr: float = 3e-4
  agent_gamma: float = 0.99
  agent_entropy: float = 0.1
  agent_train_steps: int = 64
  agent_batch_size: int = 256
  action_clipping: float = 1.0
  collect_policy: str = "default"
  target_entropy_scale: float = 1.0   # target entropy = -scale * dim(A); original 0.5
  agent_init: str = "flax"            # flax | tf_agents; original tf_agents
  alpha_loss_sample: str = "pre_update"  # pre_update | fresh; original fresh

  def __post_init__(self):
    require_positive(self, "hidden_layer_size", "agent_train_steps", "agent_batch_size",
                     "agent_lr", "action_clipping")
    require(self.action_clipping <= 1, "action_clipping", self.action_clipping,
            "must be in (0, 1]: the policy's actions lie in [-1, 1], so a larger value "
            "clips nothing")
    require(0 <= self.agent_gamma <= 1, "agent_gamma", self.agent_gamma, "must be in [0, 1]")
    require(math.isfinite(self.agent_entropy) and self.agent_entropy > 0, "agent_entropy",
            self.agent_entropy, "must be positive (the reward scale is 1 / agent_entropy)")
    require(self.collect_policy in COLLECT_POLICIES, "collect_policy", self.collect_policy,
            f"allowed: {', '.join(COLLECT_POLICIES)}")
    require(math.isfinite(self.target_entropy_scale), "target_entropy_scale",
            self.target_entropy_scale, "must be a finite number (target entropy = "
            "-target_entropy_scale * action dimension)")
    require(self.agent_init in AGENT_INITS, "agent_init", self.agent_init,
            f"allowed: {', '.join(AGENT_INITS)}")
    require(self.alpha_loss_sample in ALPHA_LOSS_SAMPLES, "alpha_loss_sample",
            self.alpha_loss_sample, f"allowed: {', '.join(ALPHA_LOSS_SAMPLES)}")


@dataclasses.dataclass(**FROZEN)
class OffPolicyConfig:
  """off-DADS corrections, read by the learner: importance weights on the objective's
  updates and skill relabelling of replayed transitions."""

  skill_dynamics_relabel_type: str = "importance_sampling"
  agent_relabel_type: str = "none"
  num_samples_for_relabelling: int = 1
  is_clip_eps: float = 1.0
  normalized_importance_sampling: bool = False

  def __post_init__(self):
    require(self.skill_dynamics_relabel_type in RELABEL_TYPES, "skill_dynamics_relabel_type",
            self.skill_dynamics_relabel_type, f"allowed: {', '.join(RELABEL_TYPES)}")
    require(self.agent_relabel_type in ("none", "policy", "dynamics_posterior"),
            "agent_relabel_type", self.agent_relabel_type,
            "allowed: none, policy, dynamics_posterior")
    require_positive(self, "num_samples_for_relabelling", "is_clip_eps")
    if self.skill_dynamics_relabel_type in ("policy", "dynamics_posterior"):
      require(self.num_samples_for_relabelling > 1, "num_samples_for_relabelling",
              self.num_samples_for_relabelling,
              "must be > 1 for relabelling to choose between skills")


@dataclasses.dataclass(**FROZEN)
class TrainConfig:
  """The training loop: collection, update counts, replay, checkpoints."""

  run_train: bool = True
  num_epochs: int = 100
  initial_collect_steps: int = 2000
  collect_steps: int = 500
  replay_buffer_capacity: int = 10000
  clear_buffer_every_iter: bool = False
  skill_dyn_train_steps: int = 8
  skill_dyn_batch_size: int = 256
  train_skill_dynamics_on_policy: bool = False
  save_model: str = "dads"
  save_freq: int = 50
  keep_checkpoints: int = 3
  train_from_scratch: bool = False
  override_config: str = ""  # settings a resumed run may change, comma-separated

  def __post_init__(self):
    require_positive(self, "num_epochs", "collect_steps", "replay_buffer_capacity",
                     "save_freq", "keep_checkpoints", "skill_dyn_train_steps",
                     "skill_dyn_batch_size")
    require(self.initial_collect_steps >= 0, "initial_collect_steps",
            self.initial_collect_steps, "must be >= 0")


@dataclasses.dataclass(**FROZEN)
class VideoConfig:
  """Skill videos and trajectory plots, read by training (every record_freq epochs) and
  by evaluation."""

  record_freq: int = 100
  vid_name: str = "skill"
  num_evals: int = 3

  def __post_init__(self):
    require_positive(self, "record_freq")
    require(self.num_evals >= 0, "num_evals", self.num_evals, "must be >= 0")
    require(bool(FILE_NAME.match(self.vid_name)), "vid_name", self.vid_name,
            "must be a plain file name prefix (letters, digits, . _ - + = @; no folders, "
            "no leading dot): videos are written inside the run's folder")


@dataclasses.dataclass(**FROZEN)
class EvalConfig:
  run_eval: bool = False
  planning_horizon: int = 1
  primitive_horizon: int = 10
  num_candidate_sequences: int = 50
  refine_steps: int = 10
  mppi_gamma: float = 10.0
  prior_type: str = "normal"
  smoothing_beta: float = 0.9
  top_primitives: int = 5
  goals: tuple[tuple[float, float], ...] = ()
  goal_set: str = "paper"  # paper: the environment's list; random30: envs.goal.random_goals
  deterministic_eval: bool = False  # sampled actions, as the original's evaluation
  record_eval_videos: bool = True
  mpc_fresh_proposal: int = 0  # 0 carry the shifted plan; 1 fresh zeros; 2 fresh N(0, I) draw

  def __post_init__(self):
    require_positive(self, "planning_horizon", "primitive_horizon", "num_candidate_sequences",
                     "top_primitives")
    require(self.refine_steps >= 0, "refine_steps", self.refine_steps, "must be >= 0")
    require(self.prior_type in PRIOR_TYPES, "prior_type", self.prior_type,
            f"allowed: {', '.join(PRIOR_TYPES)}")
    require(0 <= self.smoothing_beta < 1, "smoothing_beta", self.smoothing_beta,
            "must be in [0, 1)")
    require(math.isfinite(self.mppi_gamma) and self.mppi_gamma >= 0, "mppi_gamma",
            self.mppi_gamma, "must be a finite number >= 0 (the MPPI inverse temperature)")
    require(self.goal_set in GOAL_SETS, "goal_set", self.goal_set,
            f"allowed: {', '.join(GOAL_SETS)}")
    require(not (self.goals and self.goal_set != "paper"), "goal_set", self.goal_set,
            "--goals already names the goals; give one of --goals and --goal_set")
    for goal in self.goals:
      text = ",".join(f"{v:g}" for v in goal)
      require(all(math.isfinite(v) for v in goal), "goals", text, "coordinates must be finite")
      require(any(v != 0 for v in goal), "goals", text,
              "a goal at the start (0, 0) has no normalized reward; choose another")
    require(self.top_primitives <= self.num_candidate_sequences, "top_primitives",
            self.top_primitives, "must be <= --num_candidate_sequences")
    require(self.mpc_fresh_proposal in MPC_FRESH_PROPOSALS, "mpc_fresh_proposal",
            self.mpc_fresh_proposal, "allowed: 0 (carry the shifted plan), 1 (fresh mean "
            "zeros), 2 (fresh mean drawn from N(0, I), as the original)")


# Settings a resumed run may change freely: how long, how often to save or film, and
# evaluation. Any other difference from the checkpoint's settings changes the learning
# problem and needs --override_config.
RUN_CONTROL = frozenset({
    "run_train", "num_epochs", "save_model", "save_freq", "keep_checkpoints",
    "train_from_scratch", "override_config", "record_freq", "vid_name", "num_evals",
    *(f.name for f in dataclasses.fields(EvalConfig))})

SECTIONS = {"env": EnvConfig, "skills": SkillConfig, "agent": AgentConfig,
            "off_policy": OffPolicyConfig, "train": TrainConfig, "videos": VideoConfig,
            "eval": EvalConfig}


@dataclasses.dataclass(**FROZEN)
class RunConfig:
  logdir: str
  seed: int = 0
  objective: str = "dads"
  env: EnvConfig = EnvConfig()
  skills: SkillConfig = SkillConfig()
  agent: AgentConfig = AgentConfig()
  off_policy: OffPolicyConfig = OffPolicyConfig()
  train: TrainConfig = TrainConfig()
  videos: VideoConfig = VideoConfig()
  eval: EvalConfig = EvalConfig()
  objective_config: Any = None  # the chosen objective's section; None: its defaults

  def __post_init__(self):
    require(bool(self.logdir), "logdir", self.logdir, "is required")
    require(isinstance(self.seed, int) and 0 <= self.seed < MAX_SEED, "seed", self.seed,
            f"must be an integer in [0, {MAX_SEED})")
    require(self.objective in OBJECTIVES, "objective", self.objective,
            f"allowed: {', '.join(OBJECTIVES)}")
    spec = OBJECTIVES[self.objective]
    if self.objective_config is None:
      object.__setattr__(self, "objective_config", spec.config())
    require(isinstance(self.objective_config, spec.config), "objective", self.objective,
            f"its settings must be a {spec.config.__name__}")
    spec.check(self.objective_config, self.skills)
    require(not (self.env.backend == "mjx" and self.agent.collect_policy == "ou_noise"),
            "collect_policy", self.agent.collect_policy, "ou_noise needs --backend=host")
    self._check_across_sections()

  def _check_across_sections(self) -> None:
    """Settings of different sections that must agree."""
    env, train = self.env, self.train
    # Every collection round steps each of the num_envs environments once.
    require(env.num_envs <= train.collect_steps, "num_envs", env.num_envs,
            f"must be <= --collect_steps={train.collect_steps} (each epoch steps every "
            "environment at least once)")
    for flag in ("collect_steps", "initial_collect_steps"):
      steps = getattr(train, flag)
      require(steps % env.num_envs == 0, flag, steps,
              f"must be a multiple of --num_envs={env.num_envs} (each collection round "
              f"steps every environment once), e.g. "
              f"{max(1, round(steps / env.num_envs)) * env.num_envs}")
    # What the replay buffer can ever hold: its capacity, or one epoch's collection when
    # it is cleared every epoch.
    holds = train.replay_buffer_capacity
    why = f"--replay_buffer_capacity={holds}"
    if train.clear_buffer_every_iter and train.collect_steps < holds:
      holds, why = train.collect_steps, (f"--collect_steps={train.collect_steps} with "
                                         "--clear_buffer_every_iter=1")
    for flag, batch in (("agent_batch_size", self.agent.agent_batch_size),
                        ("skill_dyn_batch_size", train.skill_dyn_batch_size)):
      require(batch <= holds, flag, batch,
              f"larger than the replay buffer can ever hold ({holds} transitions: {why}); "
              "use a smaller batch or a larger buffer")
    require(self.eval.primitive_horizon <= env.max_env_steps, "primitive_horizon",
            self.eval.primitive_horizon,
            f"must be <= --max_env_steps={env.max_env_steps} (a skill is held that many "
            "steps within one episode)")

  @property
  def run_dir(self) -> str:
    """<logdir>/<environment>: where everything of this run is written."""
    return os.path.join(self.logdir, self.env.environment)

  @classmethod
  def build(cls, *, logdir: str, **values) -> "RunConfig":
    """A run from flat flag values (any subset; the rest keep their defaults).

    Raises ConfigError naming the first unknown flag or invalid value.
    """
    values = dict(values)
    top = {k: values.pop(k) for k in ("seed", "objective") if k in values}
    require_types(RunConfig, top)
    spec = OBJECTIVES.get(top.get("objective", "dads"))
    sections = {}
    for name, kind in SECTIONS.items():
      sections[name] = _build(kind, _take(values, kind))
    objective_config = _build(spec.config, _take(values, spec.config)) if spec else None
    # Other objectives' settings may be present (the driver has flags for all of them).
    for other in OBJECTIVES.values():
      _take(values, other.config)
    if values:
      raise ConfigError(f"--{sorted(values)[0]}: unknown setting")
    return cls(logdir=logdir, **top, **sections, objective_config=objective_config)

  def flat(self) -> dict[str, Any]:
    """flag -> value for every setting of this run (the inverse of `build`)."""
    out = {"seed": self.seed, "objective": self.objective}
    for name in SECTIONS:
      out.update(dataclasses.asdict(getattr(self, name)))
    out.update(dataclasses.asdict(self.objective_config))
    return out

  def overridden(self) -> tuple[str, ...]:
    """The settings named by --override_config (ConfigError for an unknown name)."""
    names = tuple(n.strip() for n in self.train.override_config.split(",") if n.strip())
    known = self.flat()
    for name in names:
      require(name in known, "override_config", self.train.override_config,
              f"{name} is not a setting")
    return names

  def differences(self, other: "RunConfig") -> dict[str, tuple[Any, Any]]:
    """{setting: (other's value, this one's)} for the settings that change the learning
    problem (everything but RUN_CONTROL)."""
    return setting_differences(self.to_dict(), other.to_dict())

  def to_dict(self) -> dict[str, Any]:
    out = {"logdir": self.logdir, "seed": self.seed, "objective": self.objective}
    for name in SECTIONS:
      out[name] = dataclasses.asdict(getattr(self, name))
    out["objective_config"] = dataclasses.asdict(self.objective_config)
    return out

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=1, sort_keys=True)

  @classmethod
  def from_dict(cls, d: dict) -> "RunConfig":
    """Reads `to_dict`'s output, and the sectioned layout of earlier versions (whose
    field names were the same flags, grouped differently)."""
    flat = flat_settings(d)
    return cls.build(logdir=d.get("logdir", ""), **flat)


def flat_settings(d: Any) -> dict[str, Any]:
  """A saved run configuration (to_dict's layout, or the sectioned layout of earlier
  versions) -> flag -> value, unchecked; settings that no longer exist are left out."""
  if not isinstance(d, dict):
    raise ConfigError(f"a run configuration is a JSON object; got {type(d).__name__}")
  flat = {}
  for key, value in d.items():
    if key == "logdir":
      continue
    if isinstance(value, dict):
      flat.update(value)
    else:
      flat[key] = value
  if isinstance(flat.get("goals"), list) and all(isinstance(g, list) for g in flat["goals"]):
    flat["goals"] = tuple(tuple(g) for g in flat["goals"])
  known = set(default_settings())
  return {k: v for k, v in flat.items() if k in known}


def default_settings() -> dict[str, Any]:
  """flag -> default value of every setting, every objective's included."""
  kinds = (*SECTIONS.values(), *(spec.config for spec in OBJECTIVES.values()))
  out = {f.name: f.default for kind in kinds for f in dataclasses.fields(kind)}
  out.update({f.name: f.default for f in dataclasses.fields(RunConfig)
              if f.name in ("seed", "objective")})
  return out


def setting_differences(mine: Any, theirs: Any) -> dict[str, tuple[Any, Any]]:
  """{setting: (theirs, mine)} of two saved run configurations (dicts as to_dict writes
  them; a setting one of them lacks has its default) for the settings that change the
  learning problem (not RUN_CONTROL). Unlike RunConfig.differences, neither needs to be
  a valid configuration (a hand-edited file may not be)."""
  defaults = default_settings()
  a, b = {**defaults, **flat_settings(mine)}, {**defaults, **flat_settings(theirs)}
  return {k: (b[k], a[k]) for k in defaults if k not in RUN_CONTROL and a[k] != b[k]}


def saved_overrides(saved: Any, path: str) -> list[dict]:
  """The "overrides" record of a run's config.json (already parsed): the settings changed
  on resumes, a list of {"epoch", "setting", "from", "to"}; [] when absent. ConfigError
  naming `path` when it is anything else (a hand edit, damage)."""
  if not isinstance(saved, dict):
    return []
  records = saved.get("overrides", [])
  ok = isinstance(records, list) and all(
      isinstance(r, dict) and isinstance(r.get("setting"), str)
      and isinstance(r.get("epoch"), int) and not isinstance(r.get("epoch"), bool)
      for r in records)
  if not ok:
    raise ConfigError(f"{path}: \"overrides\" must be a list of records "
                      f"{{\"epoch\", \"setting\", \"from\", \"to\"}} (the settings changed "
                      f"on resumes); got {json.dumps(records)[:80]}; fix or remove that entry")
  return list(records)


def _take(values: dict, kind) -> dict:
  """Removes and returns the entries of `values` that are fields of dataclass `kind`."""
  return {f.name: values.pop(f.name) for f in dataclasses.fields(kind) if f.name in values}


def _build(kind, values: dict):
  """kind(**values), its values' types checked first (ConfigError naming the flag)."""
  require_types(kind, values)
  return kind(**values)
