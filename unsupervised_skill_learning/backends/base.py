"""The environment-backend seam: where transitions come from, and where they are kept.

The trainer knows only this protocol. A backend owns its environments AND its replay
buffer: `host` steps Gymnasium/MuJoCo environments on the CPU with a NumPy copy of the
policy and keeps a NumPy buffer; `mjx` steps MJX environments and keeps a device buffer,
collection and learning fused into one jitted call. Either way the trainer calls
`prefill` once, then `train_epoch` per epoch, and saves what `state` / `save_files` give.

Randomness: `prefill` and `train_epoch` take `next_key`, the run's JAX key stream (each
call returns the next key of the stream saved in checkpoints). A backend draws a fixed
number of keys per call (host: none to prefill, one per update phase of an epoch; MJX:
one per call), so a run is a function of --seed and resumes exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from lib.transition import Transition

KeySource = Callable[[], jax.Array]  # returns the next key of the run's stream


class EnvBackend(Protocol):
  num_envs: int
  obs_dim: int
  action_dim: int
  steps_per_epoch: int  # transitions each train_epoch collects (a multiple of num_envs)

  # --- training (what the trainer calls) ---------------------------------------------------
  def bind(self, learner: Any) -> None:
    """Uses `learner` (training.learner.Learner) for train_epoch's updates."""

  def prefill(self, actor_params: Any, num_steps: int, next_key: KeySource) -> int:
    """Collects at least num_steps transitions into the backend's replay buffer under the
    policy with `actor_params`; returns how many (a multiple of num_envs)."""

  def train_epoch(self, state: Any, next_key: KeySource
                  ) -> tuple[Any, dict[str, float], dict[str, float]]:
    """One epoch from learner state `state`: collect steps_per_epoch transitions into the
    buffer, sample the batches, run the learner's objective then agent updates.
    Returns (new state, learning metrics, perf/* timings)."""

  def finished_episodes(self) -> tuple[list[float], list[int]] | None:
    """(returns, lengths) of each episode finished since the last episode_stats call, or
    None where the backend keeps only their sums (progress.csv then leaves the
    per-episode columns empty)."""

  def episode_stats(self) -> dict[str, float]:
    """Means over the episodes finished since the last call (empty if none)."""

  # --- checkpoints ------------------------------------------------------------------------
  def state(self) -> tuple[dict, dict[str, np.ndarray]]:
    """Everything that decides the next transitions and batches: (JSON-able entries of
    the checkpoint's meta.json, arrays). The meta holds "collector" and whatever else
    the backend owns (the host's "buffer_rng")."""

  def save_files(self, folder: str) -> None:
    """Writes what does not belong in arrays.npz into checkpoint `folder` (the host's
    replay buffer, buffer.npz; nothing for MJX, whose buffer is among its arrays)."""

  def load_files(self, folder: str) -> None:
    """Reads back what save_files wrote (ValueError / OSError when it does not fit)."""

  def restore(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Puts back what `state` returned; `meta` is the checkpoint's whole meta.json
    (ValueError / KeyError when it does not fit)."""

  # --- collection alone -------------------------------------------------------------------
  def reset(self, key: jax.Array | None = None) -> None:
    """Starts a fresh episode in every environment."""

  def collect(self, actor_params: Any, num_steps: int,
              key: jax.Array | None = None) -> Transition:
    """At least num_steps transitions [N] (a multiple of num_envs) under the policy with
    `actor_params`, not stored. A backend that keeps its own random stream (restored
    with its state) may ignore `key`."""

  def close(self) -> None:
    ...
