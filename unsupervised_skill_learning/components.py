"""Builds the learner (skill prior, SAC, objective) for a run configuration.

Shared by training and evaluation, so a logdir's checkpoint always meets the same
networks it was written from.
"""

from __future__ import annotations

import dataclasses

import envs
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.dads import DADS, DADSConfig
from unsupervised_skill_learning.diayn import DIAYN, DIAYNConfig
from unsupervised_skill_learning.learner import Learner, LearnerConfig
from unsupervised_skill_learning.sac import SAC, SACConfig
from unsupervised_skill_learning.skill_dynamics import SkillDynamicsConfig


@dataclasses.dataclass(frozen=True)
class Components:
  prior: SkillPrior
  learner: Learner
  obs_dim: int
  action_dim: int
  reduced_indices: tuple[int, ...]


def build(cfg: RunConfig, action_dim: int) -> Components:
  entry = envs.lookup(cfg.env.environment)
  spec = entry.spec
  reduced = spec.reduced_indices(cfg.env.reduced_observation, cfg.env.environment)
  prior = SkillPrior(cfg.skills.skill_type, cfg.skills.num_skills)
  hidden = (cfg.agent.hidden_layer_size,) * 2
  policy_indices = spec.policy_indices()
  sac = SAC(SACConfig(obs_dim=len(policy_indices) + prior.dim, action_dim=action_dim,
                      hidden=hidden, lr=cfg.agent.agent_lr, gamma=cfg.agent.agent_gamma,
                      reward_scale=1.0 / cfg.agent.agent_entropy))
  if cfg.skills.objective == "dads":
    dyn = cfg.dynamics
    input_positions = tuple(p for p, i in enumerate(reduced) if i >= spec.num_hidden)
    objective = DADS(DADSConfig(
        SkillDynamicsConfig(output_dim=len(reduced), skill_dim=prior.dim,
                            input_positions=input_positions, hidden=hidden,
                            num_components=dyn.num_components, fix_variance=dyn.fix_variance,
                            normalize_data=dyn.normalize_data, graph_type=dyn.graph_type,
                            lr=dyn.skill_dynamics_lr),
        reduced_indices=reduced, random_skills=cfg.skills.random_skills), prior)
  else:
    objective = DIAYN(DIAYNConfig(reduced_indices=reduced, hidden=hidden,
                                  lr=cfg.dynamics.skill_dynamics_lr), prior)
  learner = Learner(LearnerConfig(
      policy_indices=policy_indices, is_clip_eps=cfg.dynamics.is_clip_eps,
      normalized_importance_sampling=cfg.dynamics.normalized_importance_sampling,
      dynamics_relabel_type=cfg.dynamics.skill_dynamics_relabel_type,
      agent_relabel_type=cfg.agent.agent_relabel_type,
      num_samples_for_relabelling=cfg.dynamics.num_samples_for_relabelling),
      sac, objective, prior)
  return Components(prior, learner, spec.obs_dim, action_dim, reduced)
