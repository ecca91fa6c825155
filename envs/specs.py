"""Observation specs: what the policy may see, where the position is, and what each
reduced observation keeps.

These replace the original's magic numbers. `num_hidden` leading coordinates (the
global position) are removed from the policy's and critic's input; `position_indices`
says where the robot's position (x-y, or x alone) sits, for goals, coverage and plots;
`reduced` maps each supported `reduced_observation` code to the observation indices the
skill dynamics models (0 always means the full observation).
"""

from __future__ import annotations

import dataclasses

REDUCED_OBSERVATION_MEANINGS = {
    0: "full observation",
    1: "x",
    2: "x-y",
    3: "x-y-heading",
    4: "x-y and x-y velocities",
}


@dataclasses.dataclass(frozen=True)
class ObservationSpec:
  """obs_dim: observation length; num_hidden: leading coordinates hidden from the policy;
  position_indices: the position's indices (empty when the env exposes none);
  reduced: reduced_observation code -> tuple of observation indices (0 is implicit)."""

  obs_dim: int
  num_hidden: int = 0
  position_indices: tuple[int, ...] = ()
  reduced: dict[int, tuple[int, ...]] = dataclasses.field(default_factory=dict)

  def supported(self) -> tuple[int, ...]:
    return (0, *sorted(self.reduced))

  def reduced_indices(self, code: int, env_name: str = "this environment") -> tuple[int, ...]:
    """Indices kept by `reduced_observation=code`; raises ValueError naming the flag."""
    if code == 0:
      return tuple(range(self.obs_dim))
    if code not in self.reduced:
      allowed = ", ".join(f"{c} ({REDUCED_OBSERVATION_MEANINGS.get(c, '?')})"
                          for c in self.supported())
      raise ValueError(f"--reduced_observation={code} is not supported by {env_name}; "
                       f"allowed: {allowed}")
    return self.reduced[code]

  def policy_indices(self) -> tuple[int, ...]:
    """Observation indices the policy and critic see (hidden coordinates removed)."""
    return tuple(range(self.num_hidden, self.obs_dim))
