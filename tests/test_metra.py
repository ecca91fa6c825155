"""The METRA objective (objectives/metra.py): its reward, the centring of one-hot skills,
the constraint and its dual variable, relabelling, the registry and flags; then one
seed-fixed METRA run on point_mass: the reward rises, the constraint holds, zero-shot goal
reaching beats random skills, and a resumed run continues bit for bit."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.objectives import OBJECTIVES, ObjectiveContext
from unsupervised_skill_learning.objectives.base import GOAL_LATENT
from unsupervised_skill_learning.objectives.metra import METRA, METRAConfig
from lib.tb_scalars import read_scalars
from lib.video import read_mp4
from unsupervised_skill_learning.validation import ConfigError
from testkit import ROOT, assert_scalars_match_after, run_module, state_transitions


def _metra(kind="cont_sphere", dim=2, **settings):
  context = ObjectiveContext(prior=SkillPrior(kind, dim), reduced_indices=(0, 1),
                             dynamics_input_positions=(), hidden=(8, 8))
  return METRA(METRAConfig(**{"metra_hidden_size": 32, **settings}), context)


def _batch(rng, n, skill):
  obs = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
  next_obs = obs + 0.1 * jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
  return state_transitions(obs, jnp.asarray(skill, jnp.float32), next_obs)


def test_reward_is_the_step_of_phi_along_the_skill():
  obj = _metra()
  state = obj.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  skill = SkillPrior("cont_sphere", 2).sample(rng, 16)
  batch = _batch(rng, 16, skill)
  phi = lambda x: np.asarray(obj.latent(state, x))  # noqa: E731
  expected = np.sum((phi(batch.next_obs) - phi(batch.obs)) * skill, -1)
  reward, _ = obj.reward(state, batch, None)
  np.testing.assert_allclose(reward, expected, rtol=1e-5, atol=1e-6)
  # Relabelling scores a candidate by the reward it would have earned.
  candidates = jnp.stack([batch.skill, -batch.skill], 1)
  ll = np.asarray(obj.skill_log_likelihood(state, batch, candidates))
  np.testing.assert_allclose(ll[:, 0], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ll[:, 1], -expected, rtol=1e-5, atol=1e-6)


def test_one_hot_skills_are_centred_as_metra():
  obj = _metra("discrete_uniform", 4)
  directions = np.asarray(obj.skill_direction(jnp.eye(4)))
  expected = np.full((4, 4), -1 / 3) + np.eye(4) * (1 + 1 / 3)
  np.testing.assert_allclose(directions, expected, rtol=1e-6)
  np.testing.assert_allclose(directions.sum(0), 0, atol=1e-6)
  # Continuous skills are used as they are.
  z = jnp.asarray([[0.6, 0.8]])
  np.testing.assert_array_equal(_metra().skill_direction(z), z)


@pytest.mark.parametrize("constraint", ["mean", "sum"])
def test_dual_variable_rises_when_the_constraint_is_violated_and_falls_when_slack(constraint):
  rng = np.random.default_rng(1)
  skill = SkillPrior("cont_sphere", 2).sample(rng, 64)
  near = _batch(rng, 64, skill)
  far = near.replace(next_obs=near.obs + 100.0)  # a step no small phi can keep under 1
  obj = _metra(metra_constraint=constraint, metra_dual_lr=1e-2)
  state = obj.init(jax.random.key(1))
  # Scale phi up so that the far step violates the constraint whatever the init.
  state = state.replace(phi_params=jax.tree.map(lambda p: 3.0 * p, state.phi_params))
  lam0 = float(jnp.exp(state.log_lambda))
  assert lam0 == pytest.approx(30.0, rel=1e-6)
  violated, metrics = obj.update(state, far, jnp.ones(64), None)
  assert float(metrics["metra/penalty"]) < 0 and float(jnp.exp(violated.log_lambda)) > lam0
  # A tiny phi step: penalty at the slack eps (> 0), so lambda falls.
  small = state.replace(phi_params=jax.tree.map(lambda p: 1e-3 * p, state.phi_params))
  slack, metrics = obj.update(small, near, jnp.ones(64), None)
  assert float(metrics["metra/penalty"]) == pytest.approx(1e-3, rel=1e-4)
  assert float(jnp.exp(slack.log_lambda)) < lam0
  # The step size is the mean (METRA's code) or the sum of the squared coordinates.
  delta = jnp.asarray([[3.0, 4.0]])
  assert float(obj.step_size(delta)[0]) == (12.5 if constraint == "mean" else 25.0)


def test_registry_flags_and_validation():
  spec = OBJECTIVES["metra"]
  assert spec.config is METRAConfig and spec.capabilities == frozenset({GOAL_LATENT})
  assert not spec.has_skill_dynamics
  cfg = RunConfig.build(logdir="x", objective="metra", skill_type="cont_sphere", metra_lr=3e-4)
  defaults = cfg.objective_config
  assert (defaults.metra_lr, defaults.metra_dual_lr, defaults.metra_dual_lam,
          defaults.metra_dual_slack, defaults.metra_hidden_size, defaults.metra_num_layers,
          defaults.metra_constraint) == (3e-4, 1e-4, 30.0, 1e-3, 1024, 2, "mean")
  assert RunConfig.from_dict(cfg.to_dict()) == cfg
  for bad in (dict(metra_lr=0.0), dict(metra_dual_slack=-1.0), dict(metra_hidden_size=0),
              dict(metra_constraint="max")):
    with pytest.raises(ConfigError, match=f"--{next(iter(bad))}="):
      RunConfig.build(logdir="x", objective="metra", **bad)
  with pytest.raises(ConfigError, match="--skill_type=multivariate_bernoulli"):
    RunConfig.build(logdir="x", objective="metra", skill_type="multivariate_bernoulli")
  with pytest.raises(ConfigError, match="--skill_type=cont_sphere"):
    RunConfig.build(logdir="x", objective="diayn", skill_type="cont_sphere")


def test_the_constraint_binds_where_the_reward_alone_would_grow_phi_without_bound():
  """phi trained on transitions that move along their skill: the reward alone grows
  phi's steps without bound (lambda ~ 0); with METRA's lambda the step size settles at
  the bound, c(dphi) <= 1 (the mean of the squared coordinates)."""
  rng = np.random.default_rng(2)
  skill = SkillPrior("cont_sphere", 2).sample(rng, 256)
  obs = jnp.asarray(rng.uniform(-1, 1, (256, 2)), jnp.float32)
  batch = state_transitions(obs, jnp.asarray(skill), obs + 0.05 * jnp.asarray(skill))
  sizes = {}
  for lam in (30.0, 1e-6):
    obj = _metra(metra_lr=1e-2, metra_dual_lam=lam)
    update = jax.jit(obj.update)
    state = obj.init(jax.random.key(2))
    for _ in range(300):
      state, _ = update(state, batch, jnp.ones(256), None)
    sizes[lam] = float(jnp.mean(obj.step_size(obj.delta(state.phi_params, batch))))
  assert 0.8 < sizes[30.0] <= 1.0 + 0.05, sizes
  assert sizes[1e-6] > 3.0, sizes


# --- a METRA run on point_mass ------------------------------------------------------------
# configs/point_mass.txt, shortened (smaller networks, 50-step episodes, 40 epochs of 200
# steps) and sped up (phi's and SAC's learning rates, more updates per step): the smallest
# run found in which the skills separate reliably. Seed 0.
POINT_MASS = os.path.join(ROOT, "configs", "point_mass.txt")
RUN_FLAGS = (f"--flagfile={POINT_MASS}", "--objective=metra", "--skill_type=cont_sphere",
             "--max_env_steps=50", "--collect_steps=200", "--hidden_layer_size=64",
             "--metra_hidden_size=64", "--metra_lr=3e-3", "--agent_lr=1e-3",
             "--agent_train_steps=128", "--agent_batch_size=128", "--skill_dyn_train_steps=32",
             "--skill_dyn_batch_size=128", "--num_evals=0", "--record_freq=1000",
             "--save_freq=5", "--keep_checkpoints=10", "--seed=0")
EPOCHS, RESUMED_FROM = 40, 35
EVAL_FLAGS = ("--run_eval=1", "--record_eval_videos=0")


def _drive(logdir, *args):
  out = run_module("dads_off", f"--logdir={logdir}", *RUN_FLAGS, *args)
  assert out.returncode == 0, out.stderr[-3000:]
  return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """The run trained, then evaluated (--run_eval=1) in the same invocation."""
  logdir = tmp_path_factory.mktemp("metra_run")
  _drive(logdir, f"--num_epochs={EPOCHS}", *EVAL_FLAGS)
  return logdir


def _by_epoch(run_dir, tag):
  found = read_scalars(str(run_dir))
  epoch = {step: int(e) for step, e in found["epoch"].items()}
  return {epoch[step]: value for step, value in found[tag].items()}


def test_reward_rises_and_the_constraint_holds(trained):
  run_dir = trained / "point_mass"
  reward = _by_epoch(run_dir, "intrinsic_reward")
  assert sorted(reward) == list(range(1, EPOCHS + 1))
  first = np.mean([reward[e] for e in range(1, 6)])
  last = np.mean([reward[e] for e in range(EPOCHS - 4, EPOCHS + 1)])
  assert last > 0.3 and last > 5 * first, (first, last)
  # The constrained step c = mean over phi's 2 coordinates of (phi(s') - phi(s))^2, i.e.
  # |phi(s') - phi(s)|^2 / 2: at most 1 (tolerance 0.05) over the last epochs' batches.
  step = _by_epoch(run_dir, "metra/step_size")
  assert max(step[e] for e in range(EPOCHS - 4, EPOCHS + 1)) <= 1.0 + 0.05
  lam = _by_epoch(run_dir, "metra/lambda")
  assert all(np.isfinite(v) and v > 0 for v in lam.values())


def test_zero_shot_goal_reaching_ends_far_closer_than_random_skills(trained):
  eval_dir = trained / "point_mass" / "eval"
  summary = json.loads((eval_dir / "eval_summary.json").read_text())
  goals = summary["goal_reaching"]
  assert goals["controller"] == "zero_shot"
  planned, randomly = goals["planned"], goals["random"]
  assert len(planned["per_goal"]) == 6  # the environment's goals
  assert planned["mean_final_distance"] < 0.6 * randomly["mean_final_distance"], goals
  assert planned["mean_normalized_reward"] > randomly["mean_normalized_reward"] + 0.15
  # Chosen skills are directions.
  for goal in planned["per_goal"]:
    np.testing.assert_allclose(np.linalg.norm(goal["skills"], axis=1), 1.0, atol=1e-5)
  for name in ("eval_data.txt", "goal_plot.png", "goal_plot_random.png"):
    assert (eval_dir / "mpc_eval" / name).exists(), name
  # Headings of rolled-out skills are reported without skill dynamics too.
  assert summary["skills"]["headings"]["actual"]["num_skills"] == 49


def test_resumed_run_continues_bit_for_bit(trained, tmp_path):
  """The run's own epoch-35 checkpoint is what a run interrupted after epoch 35 leaves:
  resumed, it must end where the uninterrupted run ended (same machine: exact)."""
  resumed = tmp_path / "resumed"
  shutil.copytree(trained, resumed)
  models = resumed / "point_mass" / "models"
  for name in os.listdir(models):
    if name.startswith("ckpt-") and int(name.split("-")[1]) > RESUMED_FROM:
      shutil.rmtree(models / name)
  out = _drive(resumed, f"--num_epochs={EPOCHS}")
  assert f"ckpt-{RESUMED_FROM:06d}" in out.stderr and "resumed from" in out.stderr
  a, b = read_scalars(str(trained / "point_mass")), read_scalars(str(resumed / "point_mass"))
  assert assert_scalars_match_after(a, b, RESUMED_FROM) > 40
  last = f"ckpt-{EPOCHS:06d}/state.msgpack"
  assert (models / last).read_bytes() == (trained / "point_mass" / "models" / last).read_bytes()


def test_test_policy_runs_a_direction_and_films_it(trained, tmp_path):
  out = run_module("test_policy", f"--logdir={trained}", "--skill=0,-3", "--episodes=1",
                   "--max_env_steps=10", "--deterministic", f"--video={tmp_path}")
  assert out.returncode == 0, out.stderr[-3000:]
  # The direction given is normalised to unit length; 10 steps and the reset filmed.
  assert out.stdout.startswith("skill=0 z=0,-1 episode=0 "), out.stdout
  assert read_mp4(str(tmp_path / "skill_0_episode_0.mp4")).shape[0] == 11
