"""The environment-backend seam: where transitions come from.

The trainer knows only this protocol. `host` steps Gymnasium/MuJoCo environments on the
CPU with a NumPy copy of the policy; a device backend (MJX, the whole collection in one
jitted scan) implements the same four verbs.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import numpy as np

from lib.transition import Transition


class EnvBackend(Protocol):
  num_envs: int
  obs_dim: int
  action_dim: int

  def reset(self, key: jax.Array | None = None) -> None:
    """Starts a fresh episode in every environment."""

  def collect(self, actor_params: Any, num_steps: int,
              key: jax.Array | None = None) -> Transition:
    """At least num_steps transitions [N] (a multiple of num_envs) under the policy with
    `actor_params`. A backend that keeps its own random stream (restored with its
    state) may ignore `key`."""

  def finished_episodes(self) -> tuple[list[float], list[int]] | None:
    """(returns, lengths) of each episode finished since the last episode_stats call, or
    None where the backend keeps only their sums (progress.csv then leaves the
    per-episode columns empty)."""

  def episode_stats(self) -> dict[str, float]:
    """Means over the episodes finished since the last call (empty if none)."""

  def state(self) -> tuple[dict, dict[str, np.ndarray]]:
    """Everything that decides the next transitions: (JSON-able meta, arrays)."""

  def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Puts back what `state` returned (ValueError when it does not fit)."""

  def close(self) -> None:
    ...
