"""--run_eval=1 on robots that fall: episodes of different lengths are padded and reported
with their lengths (Hopper-v5 through Gymnasium, Humanoid-v1 with its termination)."""

import json
import os

import numpy as np

from unsupervised_skill_learning.evaluation import skills as skill_eval
from testkit import ROOT, TINY, run_module

HUMANOID = os.path.join(ROOT, "configs", "humanoid_offpolicy.txt")
MAX_STEPS = 50


def drive(flagfile, *args):
  return run_module("dads_off", f"--flagfile={flagfile}", *args)


def check_lengths_reported(eval_dir, num_skills):
  """skills.json and the summary give each episode's steps; some robot fell early."""
  meta = json.loads((eval_dir / "skills" / "skills.json").read_text())
  steps = [m["steps"] for m in meta]
  assert len(steps) == num_skills and all(0 < s <= MAX_STEPS for s in steps)
  # An untrained robot falls within ~20-60 steps: its episode ends before the time limit.
  assert min(steps) < MAX_STEPS, steps
  summary = json.loads((eval_dir / "eval_summary.json").read_text())
  assert summary["skills"]["episode_lengths"] == steps
  return summary


def test_eval_on_hopper_that_falls(tmp_path):
  """A Gymnasium pass-through robot (no position), discrete DIAYN skills."""
  out = drive(TINY, f"--logdir={tmp_path}", "--environment=Hopper-v5",
              "--reduced_observation=0", "--objective=diayn", "--num_skills=3",
              "--skill_type=discrete_uniform", f"--max_env_steps={MAX_STEPS}", "--num_epochs=1",
              "--num_evals=2", "--record_eval_videos=0", "--run_eval=1")
  assert out.returncode == 0, out.stderr[-3000:]
  summary = check_lengths_reported(tmp_path / "Hopper-v5" / "eval", num_skills=2)
  # Discrete skills are shown in order, none twice before each was shown once.
  assert summary["skills"]["skills"] == [[1, 0, 0], [0, 1, 0]]


def test_eval_on_humanoid_config_that_falls(tmp_path):
  """The shipped Humanoid config (DADS, with skill-dynamics predictions and coverage)."""
  out = drive(HUMANOID, f"--logdir={tmp_path}", "--hidden_layer_size=16",
              "--replay_buffer_capacity=2000", "--initial_collect_steps=40",
              "--collect_steps=40", "--num_epochs=1", "--agent_train_steps=2",
              "--agent_batch_size=16", "--skill_dyn_train_steps=2", "--skill_dyn_batch_size=16",
              f"--max_env_steps={MAX_STEPS}", "--num_evals=2", "--record_eval_videos=0",
              "--random_skills=4", "--num_candidate_sequences=4", "--top_primitives=2",
              "--refine_steps=1", "--run_eval=1")
  assert out.returncode == 0, out.stderr[-3000:]
  eval_dir = tmp_path / "Humanoid-v1" / "eval"
  summary = check_lengths_reported(eval_dir, num_skills=2)
  for name in ("coverage_trained", "coverage_untrained"):
    assert 0 < summary["skills"][name]["mean_episode_length"] < MAX_STEPS
  assert (eval_dir / "skills" / "traj_plot.png").stat().st_size > 1000


def test_pad_episodes_repeats_the_last_observation():
  short, long = np.arange(6.0).reshape(3, 2), np.arange(10.0).reshape(5, 2) + 100
  padded, steps = skill_eval.pad_episodes([short, long])
  assert padded.shape == (2, 5, 2) and steps.tolist() == [2, 4]
  np.testing.assert_array_equal(padded[0, :3], short)
  np.testing.assert_array_equal(padded[0, 3:], [short[-1], short[-1]])
  np.testing.assert_array_equal(padded[1], long)


def test_plot_label_gives_the_steps():
  assert skill_eval.steps_label(np.array([0.5, -1.0]), 37) == "z=[ 0.5,-1. ] (37 steps)"
