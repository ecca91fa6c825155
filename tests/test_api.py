"""The public API (unsupervised_skill_learning.api): docs/api.md's examples run verbatim
against the shipped Ant, and what a model lacks is one clear error."""

import os
import re

import jax
import numpy as np
import pytest

from skills_kit import untrained_skills
from testkit import ROOT
from unsupervised_skill_learning import api
from unsupervised_skill_learning.evaluation import model_io

DOCS = os.path.join(ROOT, "docs", "api.md")


def python_blocks(path: str) -> list[str]:
  """The ```python code blocks of a markdown file, in order."""
  with open(path, encoding="utf-8") as f:
    return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


@pytest.fixture(scope="module")
def example(monkeypatch_module):
  """The namespace docs/api.md's first example leaves, run from the project's root."""
  monkeypatch_module.chdir(ROOT)
  namespace = {}
  exec(compile(python_blocks(DOCS)[0], DOCS, "exec"), namespace)  # pylint: disable=exec-used
  return namespace


@pytest.fixture(scope="module")
def monkeypatch_module():
  with pytest.MonkeyPatch.context() as patch:
    yield patch


def test_docs_example_runs_on_the_shipped_ant(example):
  skills, obs = example["skills"], example["obs"]
  assert skills.environment == "Ant-v1" and skills.objective == "dads"
  assert skills.skill_dim == skills.num_skills == 2 and skills.config.env.max_env_steps == 200
  assert obs["observation"].shape == (29,)
  low, high = skills.action_bounds
  assert example["action"].shape == (8,)
  assert np.all(example["action"] >= low) and np.all(example["action"] <= high)
  # The skill dynamics' next x-y is one small step from the start.
  assert example["predicted"].shape == (2,)
  assert np.linalg.norm(example["predicted"] - obs["observation"][:2]) < 0.5
  z = example["z"]  # the planned skill
  assert z.shape == (2,) and np.all(np.abs(z) <= 1.0)
  # Held for a primitive, the planned skill is predicted to head toward (10, 10); the
  # same key gives the same skill.
  s = obs["observation"][:2]
  end = s + skills.primitive_horizon * (skills.predict(obs, z) - s)
  assert np.linalg.norm(end - (10.0, 10.0)) < np.linalg.norm(s - (10.0, 10.0)) - 0.5
  np.testing.assert_array_equal(skills.plan(obs, goal=(10.0, 10.0)), z)


def test_act_and_predict_are_the_policy_and_dynamics_batched(example):
  skills, obs = example["skills"], example["obs"]["observation"]
  zs = skills.prior.sample(np.random.default_rng(1), 3)
  batch = np.repeat(obs[None], 3, 0)
  actions = skills.act(batch, zs, deterministic=True)
  assert actions.shape == (3, 8)
  np.testing.assert_allclose(actions[1], skills.act(obs, zs[1]), rtol=1e-5, atol=1e-6)
  assert skills.predict(batch, zs).shape == (3, 2)
  # Sampled actions need a key, and the key decides them.
  with pytest.raises(ValueError, match="pass key"):
    skills.act(obs, zs[0], deterministic=False)
  a = skills.act(obs, zs[0], deterministic=False, key=jax.random.key(3))
  b = skills.act(obs, zs[0], deterministic=False, key=jax.random.key(3))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, skills.act(obs, zs[0], deterministic=False, key=jax.random.key(4)))


def test_docs_goal_episode_walks_toward_the_goal(example, monkeypatch_module, capsys):
  """docs/api.md's second block: a whole MPC episode with the goal controller."""
  del example  # loaded once by the fixture; the block loads its own copy
  namespace = {}
  exec(compile(python_blocks(DOCS)[1], DOCS, "exec"), namespace)  # pylint: disable=exec-used
  distance = float(capsys.readouterr().out.split()[-1])
  assert distance < 0.5 * np.linalg.norm((-10.0, 10.0))


def test_readme_example_is_the_docs_example():
  """If the README shows the API example, it is docs/api.md's, letter for letter."""
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    readme = f.read()
  shown = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "load_skills" in b]
  for block in shown:
    assert block == python_blocks(DOCS)[0]


def test_load_skills_paths(tmp_path):
  with pytest.raises(FileNotFoundError, match="no such folder"):
    api.load_skills(tmp_path / "missing")
  with pytest.raises(model_io.EvaluationError, match="no trained run"):
    api.load_skills(tmp_path)
  # The <logdir>/<environment> folder and its logdir locate the same run.
  for path in (os.path.join(ROOT, "pretrained", "ant_xy"),
               os.path.join(ROOT, "pretrained", "ant_xy", "Ant-v1")):
    cfg = api.run_config_for(path)
    assert cfg.run_dir == os.path.join(ROOT, "pretrained", "ant_xy", "Ant-v1")


def test_a_missing_capability_is_one_clear_error(tmp_path):
  """RND has no skill dynamics: predict and plan say so; acting works."""
  skills = untrained_skills(tmp_path, objective="rnd", environment="point_mass")
  obs = skills.make_env(seed=0).reset(seed=0)[0]
  z = skills.prior.sample(np.random.default_rng(0))
  assert skills.act(obs, z).shape == (2,)
  for call in (lambda: skills.predict(obs, z), lambda: skills.plan(obs, goal=(1.0, 1.0))):
    with pytest.raises(api.CapabilityError, match="needs skill dynamics; objective rnd has none"):
      call()


def test_metra_skills_plan_zero_shot_and_have_no_dynamics(tmp_path):
  """METRA offers goal reaching through its latent (planning/zero_shot.py), not skill
  dynamics: plan gives the latent direction to the goal, on the sphere; predict is the
  one clear error."""
  skills = untrained_skills(tmp_path, objective="metra", skill_type="cont_sphere",
                            environment="point_mass", reduced_observation=2)
  obs = skills.make_env(seed=0).reset(seed=0)[0]
  z = skills.plan(obs, goal=(1.0, 1.0))
  assert z.shape == (2,) and np.linalg.norm(z) == pytest.approx(1.0, abs=1e-5)
  np.testing.assert_array_equal(skills.goal_controller()(obs, (1.0, 1.0)), z)
  with pytest.raises(api.CapabilityError, match="predict needs skill dynamics; objective metra"):
    skills.predict(obs, z)
