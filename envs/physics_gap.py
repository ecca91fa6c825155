"""How much a set of MuJoCo options changes an environment's physics: the measurement
behind `envs.physics.MJX_OPTIONS` (its docstring has the numbers).

`trajectory_gap(name, options)` runs CPU MuJoCo twice from the same reset with the same
seeded random actions, once with the XML's options and once with `options`, and returns
the largest distance between the two torso paths. It builds environments by name, so it
sits above both `envs.registry` and `envs.physics` (which the registry imports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs import physics, registry


def _paths(name: str, options: Mapping[str, Any] | None, steps: int, seed: int
           ) -> np.ndarray:
  """Positions [steps + 1, len(position_indices)] of `name` on CPU MuJoCo."""
  entry = registry.lookup(name)
  env = entry.make()
  if options is not None:
    physics.apply(env.unwrapped.model, options)
  env.reset(seed=seed)
  rng = np.random.default_rng(seed)
  low, high = env.action_space.low, env.action_space.high
  index = list(entry.spec.position_indices)
  path = [np.array(env.unwrapped.data.qpos[index])]
  for _ in range(steps):
    env.step(rng.uniform(low, high))
    path.append(np.array(env.unwrapped.data.qpos[index]))
  return np.stack(path)


def trajectory_gap(name: str, options: Mapping[str, Any], steps: int = 200, seed: int = 0
                   ) -> float:
  """Max distance between the torso positions (x-y; x for HalfCheetah) of `name` with
  the XML's own options and with `options`, on CPU MuJoCo, from the same start (reset
  with `seed`) and the same `steps` random actions (uniform in the action bounds, drawn
  from `np.random.default_rng(seed)`). Environments are not reset on termination."""
  default = _paths(name, None, steps, seed)
  changed = _paths(name, options, steps, seed)
  return float(np.max(np.linalg.norm(default - changed, axis=-1)))


def path_length(name: str, steps: int = 200, seed: int = 0) -> float:
  """Length of the torso path of `trajectory_gap`'s run with the XML's own options."""
  path = _paths(name, None, steps, seed)
  return float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=-1)))
