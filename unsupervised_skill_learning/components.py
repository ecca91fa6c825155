"""Builds a run's learner (skill prior, SAC, objective) from its configuration.

Shared by training and evaluation, so a logdir's checkpoint always meets the same
networks it was written from. This is where environments are checked: `check` looks the
environment up and validates the reduced observation against it.
"""

from __future__ import annotations

import dataclasses

import envs
from envs import ObservationSpec
from lib import rendering
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.agents.sac import SAC, SACConfig
from unsupervised_skill_learning.config import AgentConfig, ConfigError, RunConfig
from unsupervised_skill_learning.objectives import OBJECTIVES, ObjectiveContext, ObjectiveSpec
from unsupervised_skill_learning.training.learner import Learner


@dataclasses.dataclass(frozen=True)
class Components:
  prior: SkillPrior
  learner: Learner
  objective_spec: ObjectiveSpec
  spec: ObservationSpec              # the environment's observation layout
  reduced_indices: tuple[int, ...]   # what the objective models (--reduced_observation)
  action_dim: int

  @property
  def obs_dim(self) -> int:
    return self.spec.obs_dim

  @property
  def reduced_position_indices(self) -> tuple[int, ...] | None:
    """Where the position sits inside the reduced observation; None when the reduced
    observation lacks part of it (goal reaching then cannot plan)."""
    positions = self.spec.position_indices
    if not positions or any(p not in self.reduced_indices for p in positions):
      return None
    return tuple(self.reduced_indices.index(p) for p in positions)


def check(cfg: RunConfig) -> tuple[ObservationSpec, tuple[int, ...]]:
  """(the environment's spec, the reduced observation's indices), or ConfigError naming
  the flag; also refuses sizes that cannot fit in this machine's memory."""
  try:
    entry = envs.lookup(cfg.env.environment)
    spec = entry.spec
    reduced = spec.reduced_indices(cfg.env.reduced_observation, cfg.env.environment)
    if entry.renders_itself and cfg.videos.num_evals > 0:
      rendering.require_env_frames()
  except ValueError as err:
    raise ConfigError(str(err)) from None
  except RuntimeError as err:
    raise ConfigError(f"--environment={cfg.env.environment}: {err} (or --num_evals=0)") from None
  _check_memory(cfg, spec)
  return spec, reduced


def available_memory_bytes() -> int | None:
  """MemAvailable of /proc/meminfo (None where there is no such file)."""
  try:
    with open("/proc/meminfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def _check_memory(cfg: RunConfig, spec: ObservationSpec) -> None:
  """Sizes that would exhaust memory are refused here, in one line, instead of ending
  in an allocation failure or an XLA abort after start-up."""
  available = available_memory_bytes()
  if available is None:
    return
  gib = 2.0**30
  if cfg.skills.skill_type == "discrete_uniform":
    # Discrete skills are drawn and enumerated through a num_skills x num_skills one-hot
    # table (float32): sampling, the skill grid of headings, every skill's videos.
    table = 4 * cfg.skills.num_skills**2
    if table > 0.8 * available:
      raise ConfigError(f"--num_skills={cfg.skills.num_skills}: --skill_type=discrete_uniform "
                        f"needs a {cfg.skills.num_skills} x {cfg.skills.num_skills} one-hot "
                        f"table of its skills ({table / gib:.1f} GiB), {available / gib:.1f} "
                        "GiB of memory available")
  # A stored transition: obs and next_obs, skill, action (float32), reward, logp, 2 flags.
  action_guess = 32  # the action size is not known before the env is built; generous
  row = 4 * (2 * spec.obs_dim + cfg.skills.num_skills + action_guess + 2) + 2
  need = cfg.train.replay_buffer_capacity * row
  if need > 0.8 * available:
    raise ConfigError(f"--replay_buffer_capacity={cfg.train.replay_buffer_capacity}: needs "
                      f"{need / gib:.1f} GiB, {available / gib:.1f} GiB of memory available")
  hidden = cfg.agent.hidden_layer_size
  batch = max(cfg.agent.agent_batch_size, cfg.train.skill_dyn_batch_size)
  # Networks: ~4 of 2 hidden layers (actor, twin critic + target, the objective's), with
  # Adam's 2 moments; activations of a batch through them, with gradients, per update.
  params = 4 * 4 * 3 * hidden * hidden
  activations = 4 * 40 * batch * hidden
  if params + activations > 0.8 * available:
    batch_flag = ("agent_batch_size" if cfg.agent.agent_batch_size == batch
                  else "skill_dyn_batch_size")
    flag, value = (("hidden_layer_size", hidden) if params >= activations else (batch_flag, batch))
    raise ConfigError(f"--{flag}={value}: the networks and batches need about "
                      f"{(params + activations) / gib:.1f} GiB, {available / gib:.1f} GiB of "
                      "memory available")


def sac_config(agent: AgentConfig, *, obs_dim: int, skill_dim: int, action_dim: int,
               policy_indices: tuple[int, ...]) -> SACConfig:
  """SAC's settings from a run's AgentConfig section (2 hidden layers of
  --hidden_layer_size, reward scale 1 / --agent_entropy, target entropy
  -(--target_entropy_scale) * action_dim)."""
  return SACConfig(obs_dim=obs_dim, skill_dim=skill_dim, action_dim=action_dim,
                   policy_indices=policy_indices, hidden=(agent.hidden_layer_size,) * 2,
                   lr=agent.agent_lr, gamma=agent.agent_gamma,
                   reward_scale=1.0 / agent.agent_entropy,
                   target_entropy=-agent.target_entropy_scale * float(action_dim),
                   init=agent.agent_init, alpha_loss_sample=agent.alpha_loss_sample)


def build(cfg: RunConfig, action_dim: int) -> Components:
  spec, reduced = check(cfg)
  prior = SkillPrior(cfg.skills.skill_type, cfg.skills.num_skills)
  hidden = (cfg.agent.hidden_layer_size,) * 2
  sac = SAC(sac_config(cfg.agent, obs_dim=spec.obs_dim, skill_dim=prior.dim,
                       action_dim=action_dim, policy_indices=spec.policy_indices()))
  objective_spec = OBJECTIVES[cfg.objective]
  context = ObjectiveContext(
      prior=prior, reduced_indices=reduced, hidden=hidden,
      dynamics_input_positions=tuple(p for p, i in enumerate(reduced) if i >= spec.num_hidden))
  objective = objective_spec.build(cfg.objective_config, context)
  learner = Learner(cfg.off_policy, sac, objective, prior)
  return Components(prior, learner, objective_spec, spec, reduced, action_dim)
