"""The campaign report (benchmarks/campaign.py): the reward-rise step, the per-goal-set
summary, and the evaluation of a checkpoint over seeds and goal sets."""

import dataclasses
import os

import numpy as np

from benchmarks import campaign


def test_reward_rise_is_the_first_window_mean_above_the_threshold(tmp_path):
  path = tmp_path / "progress.csv"
  rewards = [0.0] * 20 + [1.0] * 20
  lines = ["epoch,env_steps,intrinsic_reward"] + [
      f"{i + 1},{2000 + 500 * (i + 1)},{r}" for i, r in enumerate(rewards)]
  path.write_text("\n".join(lines) + "\n")
  # The 10-epoch mean passes 0.2 once 3 of its 10 epochs are 1.0: epoch 23.
  assert campaign.reward_rise(str(path), 0.2) == 2000 + 500 * 23
  assert campaign.reward_rise(str(path), 1.5) is None


def test_run_summary_gives_mean_and_standard_error_over_goals_and_seeds():
  rows = [{"epoch": 10, "goal_set": "paper", "eval_seed": s, "normalized_reward": r,
           "final_distance": d, "initial_distance": 10.0}
          for s, r, d in ((0, -0.2, 1.0), (0, -0.6, 5.0), (1, -0.4, 2.0), (1, -0.8, 9.0))]
  out = campaign.run_summary(rows, {10: 5000})["10"]
  assert out["env_steps"] == 5000
  paper = out["paper"]
  assert np.isclose(paper["mean"], -0.5)
  assert np.isclose(paper["se"], np.std([-0.2, -0.6, -0.4, -0.8], ddof=1) / 2)
  assert paper["below_0.3_per_seed"] == [1, 1]
  assert np.allclose(paper["seed_means"], [-0.4, -0.6])


def test_goal_rows_read_back_typed_so_evaluated_episodes_are_skipped(tmp_path):
  """goals.csv round-trips into the typed rows main() compares with (epoch, goal set,
  evaluation seed), so a rerun evaluates only what is missing."""
  from lib.atomic import atomic_write_csv  # pylint: disable=import-outside-toplevel
  row = {"epoch": 1000, "env_steps": 502000, "goal_set": "paper", "eval_seed": 3,
         "goal_x": -15.0, "goal_y": 15.0, "normalized_reward": -0.25, "final_distance": 5.5,
         "initial_distance": 21.2, "controller": "mpc"}
  path = str(tmp_path / "goals.csv")
  atomic_write_csv(path, [row])
  assert campaign.read_goal_rows(path) == [row]
  assert campaign.read_goal_rows(str(tmp_path / "none.csv")) == []


def _summary(paper, close, cells, gap, rise, epoch=1000):
  goal = {"mean": paper, "se": 0.01, "below_0.3_per_seed": close}
  return {"goal_reaching": {str(epoch): {"env_steps": 502000, "paper": goal,
                                         "random30": dict(goal, mean=paper - 0.1)}},
          "skills": {str(epoch): {"coverage": {"cells_visited": cells},
                                  "headings": {"actual": {"largest_gap_deg": gap}}}},
          "reward_rise_env_steps": rise}


def test_table_rows_have_as_many_cells_as_the_header(tmp_path):
  results = {("sphere", 0): _summary(-0.5, [4, 3], 272, 105.2, 280500),
             ("sphere", 1): _summary(-0.3, [5, 6], 300, 15.0, None)}
  campaign.write_table(str(tmp_path), "stage9", results, ["sphere"], [0, 1], 1000,
                       ["paper", "random30"])
  lines = (tmp_path / "stage9_table.md").read_text().splitlines()
  runs, arms = lines[:lines.index("")], lines[lines.index("") + 3:]
  for table in (runs, arms):
    assert len({line.count("|") for line in table}) == 1, table
  assert runs[2] == ("| sphere | 0 | 502,000 | -0.500 ± 0.010 | -0.600 ± 0.010 | 4/3 | 272 | "
                     "105° | 280,500 |")
  assert runs[3].endswith("| 5/6 | 300 | 15° | not yet |")
  # Per arm: mean ± std over the two seeds; only seed 1 meets all three targets.
  assert arms[2] == ("| sphere | 2 | -0.400 ± 0.100 | -0.500 ± 0.100 | 4.5 ± 1.0 | 286 ± 14 | "
                     "60 ± 45 | 280,500 (1 not yet) | 1/2 |")


def test_a_seed_meets_the_targets_only_when_all_three_hold():
  meets = lambda s: campaign.run_metrics(s, 1000)["meets_targets"]  # noqa: E731
  assert meets(_summary(-0.35, [5, 5, 5, 5, 5], 300, 20.0, 1))
  assert not meets(_summary(-0.36, [6] * 5, 300, 10.0, 1))  # the paper-goal mean
  assert not meets(_summary(-0.2, [5, 5, 5, 5, 4], 300, 10.0, 1))  # 4.8 goals on average
  assert not meets(_summary(-0.2, [6] * 5, 300, 21.0, 1))  # the heading gap


def test_summaries_written_before_keep_their_skills_report():
  old = {"skills_epoch": 1000, "coverage": {"cells_visited": 371},
         "headings": {"actual": {"largest_gap_deg": 56.0}}}
  assert campaign.skills_by_epoch(old) == {"1000": {"coverage": {"cells_visited": 371},
                                                     "headings": old["headings"]}}
  new = _summary(-0.5, [1], 10, 30.0, None, epoch=2000)
  assert list(campaign.skills_by_epoch(new)) == ["2000"]


def test_a_cached_skills_report_loads_no_model_and_copies_no_histogram(tmp_path):
  np.save(tmp_path / "coverage_paths_1000.npy", np.zeros((2, 3, 2)))
  (tmp_path / "headings.png").write_bytes(b"the histogram of some later epoch")
  old = _summary(-0.5, [1], 10, 30.0, None)
  out = tmp_path / "headings_1000.png"

  def load():
    raise AssertionError("a cached report loaded the model")

  skills, pos = campaign.cached_skills_report(old, 1000, str(tmp_path), load, str(out))
  assert skills == old["skills"]["1000"] and pos.shape == (2, 3, 2)
  assert not out.exists()


def test_a_checkpoint_is_evaluated_with_one_controller_for_every_seed(tmp_path, monkeypatch):
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo only for this test)
  from unsupervised_skill_learning.planning import goal_reaching
  from unsupervised_skill_learning.test_policy import load_model
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  model = load_model(os.path.join(root, "pretrained", "ant_xy"))
  # One 10-step primitive per episode keeps it quick.
  env_cfg = dataclasses.replace(model.cfg.env, max_env_steps=10)
  model = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, env=env_cfg))
  built = []
  make_controller = goal_reaching.make_controller
  monkeypatch.setattr(goal_reaching, "make_controller",
                      lambda m: built.append(m) or make_controller(m))
  rows = campaign.evaluate_checkpoint(model, str(tmp_path / "a"), [0, 1], ["paper"])
  assert len(built) == 1
  assert [(r["eval_seed"], r["controller"]) for r in rows] == [(0, "mpc")] * 6 + [(1, "mpc")] * 6
  # The shared controller gives what a controller of the seed's own gives.
  alone = goal_reaching.evaluate_goals(campaign.with_eval(model, 1, campaign.goal_set("paper")),
                                       str(tmp_path / "b"), 1)
  assert [r["normalized_reward"] for r in rows[6:]] == [
      g["normalized_reward"] for g in alone["planned"]["per_goal"]]
  assert len(built) == 2
