"""Frozen run configuration, validated on construction with errors that name the flag.

The driver converts flags into these dataclasses once; nothing else reads flags. Field
names follow the original flags, so an error can always say which flag to change.
"""

from __future__ import annotations

import dataclasses
import json
import os

from lib.skill_prior import PRIOR_KINDS
from unsupervised_skill_learning.off_policy import RELABEL_TYPES

OBJECTIVES = ("dads", "diayn")
COLLECT_POLICIES = ("default", "ou_noise")
PRIOR_TYPES = ("normal", "uniform")


class ConfigError(ValueError):
  """A bad setting; the message starts with the flag to change."""


def _require(ok: bool, flag: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f"--{flag}={value}: {allowed}")


@dataclasses.dataclass(frozen=True)
class EnvConfig:
  environment: str = "Ant-v1"
  max_env_steps: int = 200
  reduced_observation: int = 0
  min_steps_before_resample: int = 2000
  resample_prob: float = 0.0
  num_envs: int = 1

  def __post_init__(self):
    _require(self.max_env_steps > 0, "max_env_steps", self.max_env_steps, "must be positive")
    _require(0 <= self.resample_prob <= 1, "resample_prob", self.resample_prob, "must be in [0, 1]")
    _require(self.num_envs > 0, "num_envs", self.num_envs, "must be positive")
    _require(self.min_steps_before_resample >= 0, "min_steps_before_resample",
             self.min_steps_before_resample, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class SkillConfig:
  skill_type: str = "cont_uniform"
  num_skills: int = 2
  objective: str = "dads"
  random_skills: int = 100

  def __post_init__(self):
    _require(self.skill_type in PRIOR_KINDS, "skill_type", self.skill_type,
             f"allowed: {', '.join(PRIOR_KINDS)}")
    _require(self.num_skills > 0, "num_skills", self.num_skills, "must be positive")
    _require(self.objective in OBJECTIVES, "objective", self.objective,
             f"allowed: {', '.join(OBJECTIVES)}")
    _require(self.random_skills >= 0, "random_skills", self.random_skills, "must be >= 0")
    _require(self.random_skills > 0 or self.skill_type == "discrete_uniform", "random_skills",
             self.random_skills, "0 (the exact sum over skills) needs --skill_type=discrete_uniform")


@dataclasses.dataclass(frozen=True)
class AgentConfig:
  hidden_layer_size: int = 512
  agent_lr: float = 3e-4
  agent_gamma: float = 0.99
  agent_entropy: float = 0.1
  agent_train_steps: int = 64
  agent_batch_size: int = 256
  action_clipping: float = 1.0
  collect_policy: str = "default"
  agent_relabel_type: str = "none"

  def __post_init__(self):
    for flag in ("hidden_layer_size", "agent_train_steps", "agent_batch_size"):
      _require(getattr(self, flag) > 0, flag, getattr(self, flag), "must be positive")
    _require(self.agent_lr > 0, "agent_lr", self.agent_lr, "must be positive")
    _require(0 <= self.agent_gamma <= 1, "agent_gamma", self.agent_gamma, "must be in [0, 1]")
    _require(self.agent_entropy > 0, "agent_entropy", self.agent_entropy,
             "must be positive (the reward scale is 1 / agent_entropy)")
    _require(self.action_clipping > 0, "action_clipping", self.action_clipping, "must be positive")
    _require(self.collect_policy in COLLECT_POLICIES, "collect_policy", self.collect_policy,
             f"allowed: {', '.join(COLLECT_POLICIES)}")
    _require(self.agent_relabel_type in ("none", "policy", "dynamics_posterior"),
             "agent_relabel_type", self.agent_relabel_type,
             "allowed: none, policy, dynamics_posterior")


@dataclasses.dataclass(frozen=True)
class DynamicsConfig:
  skill_dyn_train_steps: int = 8
  skill_dynamics_lr: float = 3e-4
  skill_dyn_batch_size: int = 256
  num_components: int = 4
  fix_variance: bool = True
  normalize_data: bool = True
  graph_type: str = "default"
  skill_dynamics_relabel_type: str = "importance_sampling"
  num_samples_for_relabelling: int = 1
  is_clip_eps: float = 1.0
  normalized_importance_sampling: bool = False
  train_skill_dynamics_on_policy: bool = False

  def __post_init__(self):
    for flag in ("skill_dyn_train_steps", "skill_dyn_batch_size", "num_components",
                 "num_samples_for_relabelling"):
      _require(getattr(self, flag) > 0, flag, getattr(self, flag), "must be positive")
    _require(self.skill_dynamics_lr > 0, "skill_dynamics_lr", self.skill_dynamics_lr,
             "must be positive")
    _require(self.graph_type in ("default", "separate"), "graph_type", self.graph_type,
             "allowed: default, separate")
    _require(self.skill_dynamics_relabel_type in RELABEL_TYPES, "skill_dynamics_relabel_type",
             self.skill_dynamics_relabel_type, f"allowed: {', '.join(RELABEL_TYPES)}")
    _require(self.is_clip_eps > 0, "is_clip_eps", self.is_clip_eps,
             "must be positive (<= 1 turns importance sampling off)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  run_train: bool = True
  num_epochs: int = 100
  initial_collect_steps: int = 2000
  collect_steps: int = 500
  replay_buffer_capacity: int = 10000
  clear_buffer_every_iter: bool = False
  save_model: str = "dads"
  save_freq: int = 50
  keep_checkpoints: int = 3
  record_freq: int = 100
  vid_name: str = "skill"
  num_evals: int = 3
  train_from_scratch: bool = False
  seed: int = 0

  def __post_init__(self):
    for flag in ("num_epochs", "collect_steps", "replay_buffer_capacity", "save_freq",
                 "keep_checkpoints", "record_freq"):
      _require(getattr(self, flag) > 0, flag, getattr(self, flag), "must be positive")
    _require(self.initial_collect_steps >= 0, "initial_collect_steps",
             self.initial_collect_steps, "must be >= 0")
    _require(self.num_evals >= 0, "num_evals", self.num_evals, "must be >= 0")


@dataclasses.dataclass(frozen=True)
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
  deterministic_eval: bool = False  # sampled actions, as the original's evaluation
  record_eval_videos: bool = True

  def __post_init__(self):
    for flag in ("planning_horizon", "primitive_horizon", "num_candidate_sequences",
                 "top_primitives"):
      _require(getattr(self, flag) > 0, flag, getattr(self, flag), "must be positive")
    _require(self.refine_steps >= 0, "refine_steps", self.refine_steps, "must be >= 0")
    _require(self.prior_type in PRIOR_TYPES, "prior_type", self.prior_type,
             f"allowed: {', '.join(PRIOR_TYPES)}")
    _require(0 <= self.smoothing_beta < 1, "smoothing_beta", self.smoothing_beta,
             "must be in [0, 1)")
    _require(self.top_primitives <= self.num_candidate_sequences, "top_primitives",
             self.top_primitives, "must be <= --num_candidate_sequences")


@dataclasses.dataclass(frozen=True)
class RunConfig:
  logdir: str
  env: EnvConfig = EnvConfig()
  skills: SkillConfig = SkillConfig()
  agent: AgentConfig = AgentConfig()
  dynamics: DynamicsConfig = DynamicsConfig()
  train: TrainConfig = TrainConfig()
  eval: EvalConfig = EvalConfig()

  def __post_init__(self):
    _require(bool(self.logdir), "logdir", self.logdir, "is required")
    # Imported here: the env registry imports mujoco, which config users may not need.
    from envs import lookup  # pylint: disable=import-outside-toplevel
    try:
      entry = lookup(self.env.environment)
      entry.spec.reduced_indices(self.env.reduced_observation, self.env.environment)
    except ValueError as err:
      raise ConfigError(str(err)) from None
    if self.dynamics.skill_dynamics_relabel_type in ("policy", "dynamics_posterior"):
      _require(self.dynamics.num_samples_for_relabelling > 1, "num_samples_for_relabelling",
               self.dynamics.num_samples_for_relabelling,
               "must be > 1 for relabelling to choose between skills")

  @property
  def run_dir(self) -> str:
    """<logdir>/<environment>: where everything of this run is written."""
    return os.path.join(self.logdir, self.env.environment)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

  @classmethod
  def from_dict(cls, d: dict) -> "RunConfig":
    def build(kind, values):
      fields = {f.name for f in dataclasses.fields(kind)}
      return kind(**{k: (tuple(tuple(g) for g in v) if k == "goals" else v)
                     for k, v in values.items() if k in fields})
    return cls(logdir=d["logdir"], env=build(EnvConfig, d["env"]),
               skills=build(SkillConfig, d["skills"]), agent=build(AgentConfig, d["agent"]),
               dynamics=build(DynamicsConfig, d["dynamics"]), train=build(TrainConfig, d["train"]),
               eval=build(EvalConfig, d["eval"]))
