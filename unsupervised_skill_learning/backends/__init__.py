"""Environment backends (see base.EnvBackend): `host` (host.py) and `mjx` (mjx.py); the
run chooses with --backend (config.EnvConfig.backend), and `make` builds it."""

from __future__ import annotations

import numpy as np

from unsupervised_skill_learning import components, seeding
from unsupervised_skill_learning.backends.base import EnvBackend, KeySource
from unsupervised_skill_learning.backends.host import HostBackend, make_skill_envs
from unsupervised_skill_learning.config import RunConfig


def make(cfg: RunConfig, parts: components.Components, streams: seeding.TrainingStreams
         ) -> EnvBackend:
  """The backend of run `cfg`, bound to `parts.learner`: its environments and its replay
  buffer, seeded from the run's streams (host) or its MJX key stream."""
  if cfg.env.backend == "mjx":
    # pylint: disable=import-outside-toplevel  (MJX loads only for runs that use it)
    from envs.mjx_envs import make_mjx_env
    from unsupervised_skill_learning.backends.mjx import MJXBackend
    backend = MJXBackend(make_mjx_env(cfg.env.environment), parts.prior, parts.learner.policy,
                         cfg.env, cfg.agent, cfg.train,
                         seeding.jax_stream(cfg.seed, seeding.MJX_ENVS))
  else:
    env_rngs = [np.random.default_rng(s) for s in streams.envs]
    backend = HostBackend(make_skill_envs(cfg.env, parts.prior, env_rngs), parts.learner.policy,
                          streams.collector, cfg.agent, train=cfg.train,
                          buffer_rng=streams.buffer)
  backend.bind(parts.learner)
  return backend


__all__ = ["EnvBackend", "KeySource", "make"]
