"""A downstream run's settings: keyword-only frozen dataclasses, validated here.

Field names are the flags of `python -m unsupervised_skill_learning.downstream`, so an
error names the flag to change. The controller's SAC settings are the training run's own
section (config.AgentConfig: --hidden_layer_size, --agent_lr, --agent_entropy, ...).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from unsupervised_skill_learning.config import MAX_SEED, AgentConfig
from unsupervised_skill_learning.validation import ConfigError, require, require_positive

METHODS = ("meta", "mpc", "random_skills", "flat_sac")
TRAINED = ("meta", "flat_sac")  # the methods that learn (and checkpoint)
# Settings a resumed run may change: how long, how often to save, evaluate and film, where
# to log. Any other change alters the learning problem.
RUN_CONTROL = frozenset({"num_env_steps", "save_freq", "keep_checkpoints", "eval_freq",
                         "eval_episodes", "record_freq", "wandb_project"})
FROZEN = dict(frozen=True, kw_only=True)


@dataclasses.dataclass(**FROZEN)
class DownstreamConfig:
  """One downstream run: a method on a task with trained skills.

  Env steps are robot steps. A controller step is one meta-step (primitive_horizon env
  steps) for --method=meta, one env step for flat_sac; SAC updates count per controller
  step (--updates_per_step).
  """

  logdir: str
  skills: str
  task: str
  method: str = "meta"
  seed: int = 0
  num_env_steps: int = 300_000
  env_steps_per_epoch: int = 1000
  initial_env_steps: int = 5000     # collected by the initial policy before any update
  updates_per_step: float = 1.0
  replay_buffer_capacity: int = 100_000  # controller transitions
  primitive_horizon: int = 0        # 0: the skills' --primitive_horizon
  max_env_steps: int = 0            # episode length; 0: the task's
  deterministic_skills: bool = False  # the skill policy's mean action (default: sampled)
  eval_episodes: int = 10           # test episodes per evaluation (fixed task states)
  eval_freq: int = 10               # evaluate every N epochs (and at the end)
  record_freq: int = 50             # film a test episode every N epochs (0: never)
  save_freq: int = 10
  keep_checkpoints: int = 3
  wandb_project: str = ""
  agent: AgentConfig = AgentConfig(hidden_layer_size=512, agent_entropy=1.0,
                                   agent_batch_size=256)

  def __post_init__(self):
    require(bool(self.logdir), "logdir", self.logdir, "is required")
    require(bool(self.skills), "skills", self.skills, "is required (a trained model or run)")
    require(bool(self.task), "task", self.task, "is required (e.g. ant_goal, or module:function)")
    require(self.method in METHODS, "method", self.method, f"allowed: {', '.join(METHODS)}")
    require(isinstance(self.seed, int) and 0 <= self.seed < MAX_SEED, "seed", self.seed,
            f"must be an integer in [0, {MAX_SEED})")
    require_positive(self, "num_env_steps", "env_steps_per_epoch", "replay_buffer_capacity",
                     "updates_per_step", "save_freq", "keep_checkpoints", "eval_freq")
    for flag in ("initial_env_steps", "primitive_horizon", "max_env_steps", "eval_episodes",
                 "record_freq"):
      require(getattr(self, flag) >= 0, flag, getattr(self, flag), "must be >= 0")
    require(self.method in TRAINED or self.eval_episodes > 0, "eval_episodes",
            self.eval_episodes, f"--method={self.method} is measured by its test episodes; "
            "must be > 0")

  def flat(self) -> dict[str, Any]:
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "agent"}
    out.update(dataclasses.asdict(self.agent))
    return out

  @classmethod
  def build(cls, **values) -> "DownstreamConfig":
    """From flat flag values; ConfigError naming the first unknown one."""
    agent_fields = {f.name for f in dataclasses.fields(AgentConfig)}
    agent = {k: values.pop(k) for k in list(values) if k in agent_fields}
    known = {f.name for f in dataclasses.fields(cls)} - {"agent"}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ConfigError(f"--{unknown[0]}: unknown setting")
    return cls(**values, agent=dataclasses.replace(cls.agent, **agent))

  def to_json(self) -> str:
    return json.dumps(self.flat(), indent=1, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "DownstreamConfig":
    return cls.build(**json.loads(text))

  def differences(self, other: "DownstreamConfig") -> dict[str, tuple[Any, Any]]:
    """{setting: (other's value, this one's)} outside RUN_CONTROL."""
    mine, theirs = self.flat(), other.flat()
    return {k: (theirs.get(k), v) for k, v in mine.items()
            if k not in RUN_CONTROL and theirs.get(k) != v}

  def check_resume(self, saved: "DownstreamConfig", path: str) -> None:
    """ConfigError listing the settings that differ from the checkpoint's."""
    changed = self.differences(saved)
    if changed:
      listed = ", ".join(f"--{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(changed.items()))
      raise ConfigError(f"resuming {path}: these settings differ from the checkpoint's: "
                        f"{listed}; rerun with the checkpoint's values, or use another --logdir")
