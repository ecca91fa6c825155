"""Skills with a model's initial (untrained) weights, built in-process in a second: for
tests of what uses skills (the API, downstream tasks), where training would only cost
time. Everything is the real model of those settings: components.build, the run's
initial learner state."""

import envs
from unsupervised_skill_learning import api, components
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.evaluation import model_io


def untrained_skills(logdir, **settings) -> api.Skills:
  """api.Skills over the initial state of a run with `settings` (RunConfig.build flags;
  hidden_layer_size 16 unless given)."""
  settings.setdefault("hidden_layer_size", 16)
  cfg = RunConfig.build(logdir=str(logdir), **settings)
  probe = envs.get_environment(cfg.env.environment)
  action_dim = probe.action_space.shape[0]
  probe.close()
  parts = components.build(cfg, action_dim)
  state = model_io.initial_state(parts, cfg.seed)
  return api.Skills(model_io.TrainedModel(cfg, parts, state, state, "untrained"))
