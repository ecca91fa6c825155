"""Rolls out skills under a uniformly random policy and records them.

What an untrained agent does: the baseline a trained run is compared with, and a quick
check that simulation and headless video work on a machine.

  python -m unsupervised_skill_learning.random_skills --environment=Ant-v1 --out=runs/demo
"""

from __future__ import annotations

import numpy as np
from absl import flags

import envs
from lib.skill_prior import PRIOR_KINDS, SkillPrior
from unsupervised_skill_learning import cli
from unsupervised_skill_learning.evaluation import skills as skill_eval

_ENV = flags.DEFINE_string("environment", "Ant-v1", "Environment name.")
_OUT = flags.DEFINE_string("out", "runs/random_skills", "Output folder.")
_NUM = flags.DEFINE_integer("num_skills_to_show", 3, "Skills to roll out.", lower_bound=1)
_STEPS = flags.DEFINE_integer("max_env_steps", 200, "Episode length.", lower_bound=1)
_SKILL_TYPE = flags.DEFINE_enum("skill_type", "cont_uniform", PRIOR_KINDS, "Skill prior.")
_SKILL_DIM = flags.DEFINE_integer("num_skills", 2, "Skill dimension.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")


def main(argv):
  del argv
  rng = np.random.default_rng(_SEED.value)
  prior = SkillPrior(_SKILL_TYPE.value, _SKILL_DIM.value)
  env = envs.make_skill_env(_ENV.value, prior, rng, max_env_steps=_STEPS.value)
  action_rng = np.random.default_rng(rng.integers(2**63))
  space = env.action_space

  def random_policy(obs, skill):
    del obs, skill
    return action_rng.uniform(space.low, space.high).astype(np.float32)

  skills = prior.sample(rng, _NUM.value)
  rollouts = skill_eval.record_skills(
      env, _ENV.value, random_policy, skills, _OUT.value,
      title="untrained baseline, uniform random actions (skills ignored)")
  positions = list(envs.lookup(_ENV.value).spec.position_indices) or [0, 1]
  for i, r in enumerate(rollouts):
    print(f"skill {i}: z={np.round(r.skill, 2)} final position="
          f"{np.round(r.observations[-1, positions], 2)} frames={len(r.frames)}")
  print(f"wrote {_OUT.value}/skill_*.mp4, traj_plot.png, skills.json")


if __name__ == "__main__":
  cli.run(main, "random_skills", __doc__)
