"""Named random streams. Every stochastic piece of a run draws from a stream derived
from --seed, and each stream has a name here instead of a magic number at its user, so
adding a stream can never silently shift another one."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

# Children of SeedSequence(seed).spawn(...) for training, in spawn order.
BUFFER, VIDEO, COLLECTOR, FIRST_ENV = 0, 1, 2, 3
# Evaluation streams: SeedSequence(seed, spawn_key=(stream,)). They sit above the
# training children (spawn keys FIRST_ENV + num_envs grow from 3), which no run with
# fewer than 4 envs reaches; kept as they were so that evaluations reproduce.
EVAL_SKILLS, COVERAGE = 7, 8
# JAX key streams: jax.random.fold_in(jax.random.key(seed), stream). The run's own key
# is jax.random.key(seed) itself (learner init, then one key per update phase).
MJX_ENVS = 1


@dataclasses.dataclass
class TrainingStreams:
  buffer: np.random.Generator            # replay sampling
  video: np.random.SeedSequence          # parent of each recording's stream
  collector: np.random.Generator         # actions and noise while collecting
  envs: list[np.random.SeedSequence]     # one per environment


def training_streams(seed: int, num_envs: int) -> TrainingStreams:
  seqs = np.random.SeedSequence(seed).spawn(FIRST_ENV + num_envs)
  return TrainingStreams(np.random.default_rng(seqs[BUFFER]), seqs[VIDEO],
                         np.random.default_rng(seqs[COLLECTOR]), seqs[FIRST_ENV:])


def child(parent: np.random.SeedSequence, index: int) -> np.random.Generator:
  """A generator nested under `parent` (e.g. one per recorded epoch), never equal to the
  run's other streams."""
  return np.random.default_rng(np.random.SeedSequence(
      parent.entropy, spawn_key=(*parent.spawn_key, index)))


def jax_stream(seed: int, stream: int) -> jax.Array:
  return jax.random.fold_in(jax.random.key(seed), stream)


def eval_stream(seed: int, stream: int) -> np.random.SeedSequence:
  return np.random.SeedSequence(seed, spawn_key=(stream,))
