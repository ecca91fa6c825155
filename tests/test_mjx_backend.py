"""--backend=mjx on the CPU: the whole epoch as one jitted call trains point_mass (the DADS
reward rises), resumes exactly from its device state, and films its skills on CPU MuJoCo
with the same physics options.

MJX on this 2-core CPU has hung with 2 XLA threads at large batch: these tests use tiny
batches, and the suite's conftest sets one XLA CPU thread (--xla_cpu_multi_thread_eigen=
false intra_op_parallelism_threads=1) before JAX starts.
"""


import jax
import numpy as np
import pytest

from unsupervised_skill_learning.backends.mjx import MJXBackend
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.training.trainer import Trainer

SETTINGS = dict(backend="mjx", environment="point_mass", num_envs=8, max_env_steps=50,
                reduced_observation=2, num_skills=2, random_skills=16, hidden_layer_size=64,
                num_components=2, replay_buffer_capacity=20000, initial_collect_steps=400,
                collect_steps=200, skill_dyn_train_steps=16, skill_dyn_batch_size=128,
                agent_train_steps=32, agent_batch_size=128, is_clip_eps=10.0, num_epochs=200,
                num_evals=2, keep_checkpoints=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """point_mass trained 200 epochs on the MJX backend (~1 minute on CPU, mostly compiling)."""
  logdir = tmp_path_factory.mktemp("mjx")
  trainer = Trainer(RunConfig.build(logdir=str(logdir), **SETTINGS))
  trainer.collect(trainer.cfg.train.initial_collect_steps)
  rewards = [trainer.epoch()["intrinsic_reward"] for _ in range(SETTINGS["num_epochs"])]
  return trainer, rewards


def test_dads_reward_rises_on_the_mjx_backend(trained):
  trainer, rewards = trained
  assert isinstance(trainer.backend, MJXBackend)  # the device path, not the host's
  assert trainer.counters.env_steps == 400 + 200 * 200
  first, last = np.mean(rewards[:10]), np.mean(rewards[-10:])
  assert last > first + 0.2, (first, last)


def test_mjx_run_resumes_exactly_from_its_checkpoint(trained):
  trainer, _ = trained
  path = trainer.save()
  after = trainer.epoch()
  state_after = jax.device_get(trainer.state)
  trainer.restore(path)  # device buffer, env states, accumulators and keys come back
  again = trainer.epoch()
  for name, value in after.items():
    if not name.startswith("perf/"):
      assert again[name] == value, name
  for a, b in zip(jax.tree.leaves(state_after), jax.tree.leaves(jax.device_get(trainer.state))):
    np.testing.assert_array_equal(a, b)


def test_mjx_run_films_its_skills_with_the_same_physics(trained, tmp_path):
  trainer, _ = trained
  assert trainer.cfg.env.physics == "mjx"
  trainer.record(str(tmp_path))
  assert (tmp_path / "traj_plot.png").exists()
  assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["skill_0.mp4", "skill_1.mp4"]
