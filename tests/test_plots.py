"""What every figure says: titles, axis labels with units, and legends that explain lines,
bands and markers, checked on the matplotlib objects (not pixels); the entry points'
skill trajectories with observation names and compact skill labels."""

import numpy as np
import pytest

import envs
from lib import plots
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.evaluation import headings
from unsupervised_skill_learning.evaluation import skills as skill_eval


@pytest.fixture
def figures(monkeypatch):
  """The figures the plot functions make, kept open instead of written (one list)."""
  kept = []

  def keep(fig, path, **kwargs):
    del kwargs
    kept.append(fig)
    return path

  monkeypatch.setattr(plots, "_save", keep)
  return kept


def legend_texts(legend) -> list[str]:
  return [t.get_text() for t in legend.get_texts()]


def _paths(n, steps=30, seed=0):
  rng = np.random.default_rng(seed)
  return [np.cumsum(rng.normal(0.0, 0.1, (steps, 2)), 0) for _ in range(n)]


def test_trajectories_name_solid_dashed_start_end_and_units(figures):
  paths = _paths(3)
  plots.plot_trajectories("t.png", paths, labels=["a", "b", "c"], predicted=paths,
                          title="Ant-v1: skill trajectories", axes=("x (m)", "y (m)"))
  ax = figures[0].axes[0]
  assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (
      "Ant-v1: skill trajectories", "x (m)", "y (m)")
  assert legend_texts(ax.get_legend()) == [
      "a", "b", "c", "actual path (solid)", "skill-dynamics prediction (dashed)", "start", "end"]
  # Without predictions nothing is dashed, so the legend does not explain dashes.
  plots.plot_trajectories("t.png", paths, labels=["a", "b", "c"])
  assert legend_texts(figures[1].axes[0].get_legend()) == ["a", "b", "c", "start", "end"]


def test_many_trajectories_put_the_legend_beside_the_axes(figures):
  plots.plot_trajectories("t.png", _paths(10), labels=[f"skill {i}" for i in range(10)],
                          axes=("position", "velocity"), planar=False)
  legend = figures[0].axes[0].get_legend()
  assert legend_texts(legend)[:2] == ["skill 0", "skill 1"]
  x, _ = legend.get_bbox_to_anchor().transformed(figures[0].axes[0].transAxes.inverted()).p0
  assert x > 1.0  # to the right of the axes, not over the paths


def test_goal_plot_numbers_goals_in_their_paths_colour_with_radius_and_scores(figures):
  goals = np.array([[1.0, 1.0], [-1.0, 0.5]])
  plots.plot_goal_paths("g.png", _paths(2), goals, radius=0.25, scores=[-0.5, -0.25],
                        steps=[40, 12], policy="random skills", title="point_mass: random skills")
  ax = figures[0].axes[0]
  texts = legend_texts(ax.get_legend())
  assert texts[:2] == ["random skills toward goal 0: score -0.50, 40 steps",
                       "random skills toward goal 1: score -0.25, 12 steps"]
  assert "'reached' radius: 0.25 m" in texts and "goal i (star, numbered)" in texts
  assert "normalized reward" in ax.get_legend().get_title().get_text()
  assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "y (m)")
  circles = [p for p in ax.patches if hasattr(p, "get_radius")]
  assert [c.get_radius() for c in circles] == [0.25, 0.25]
  np.testing.assert_allclose([c.center for c in circles], goals)
  numbers = [t for t in ax.texts if t.get_text() in ("0", "1")]
  lines = [line for line in ax.get_lines() if line.get_label().startswith("random skills")]
  for number, line, circle in zip(numbers, lines, circles):
    assert number.get_color() is not None
    np.testing.assert_allclose(number.get_color(), line.get_color())
    np.testing.assert_allclose(circle.get_edgecolor(), line.get_color())
  stars = [c for c in ax.collections if c.get_paths() and len(c.get_offsets()) == 1
           and tuple(c.get_offsets()[0]) in {tuple(g) for g in goals}]
  assert len({tuple(np.round(s.get_facecolor()[0], 3)) for s in stars}) == 2  # told apart


def test_heading_histogram_labels_its_radius_and_keeps_ticks_off_the_bars(figures):
  predicted = np.concatenate([np.full(50, 30.0), np.full(10, 200.0)])  # nothing near 300
  headings.plot_heading_histogram("h.png", predicted, np.full(5, 90.0), title="x: headings")
  ax = figures[0].axes[0]
  assert "radius: fraction of skills per 20-degree bin" in ax.get_xlabel()
  assert legend_texts(ax.get_legend()) == ["predicted by the skill dynamics: 60 skills",
                                           "actual (rollouts): 5 skills"]
  angle = ax.get_rlabel_position()  # the radial tick labels run along an empty bin
  bin_of = int(angle // 20)
  assert not np.any((predicted // 20 == bin_of)) and bin_of != 90 // 20


def test_curves_label_y_explain_raw_and_smoothed_and_write_no_exponent(figures):
  steps = np.arange(1, 101) * 20000.0
  curves = {"intrinsic_reward": np.stack([steps, np.linspace(0, 1, 100)], 1),
            "critic_loss": np.stack([steps, np.linspace(1e6, 3e6, 100)], 1),
            "episode_return": np.stack([steps, np.zeros(100)], 1)}
  notes = plots.no_reward_notes({t: c[:, 1] for t, c in curves.items()})
  assert notes == {"episode_return": plots.NO_REWARD}
  plots.plot_curves("c.png", curves, title="Ant-v1 learning curves", notes=notes)
  fig = figures[0]
  fig.canvas.draw()
  panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
  assert panels["intrinsic_reward"].get_ylabel() == "intrinsic reward (per step)"
  assert panels["critic_loss"].get_ylabel() == plots.SCALAR_LABELS["critic_loss"]
  for ax in panels.values():
    assert ax.get_xlabel() == "env steps"
    assert ax.xaxis.get_offset_text().get_text() == ""  # no '1e6' offset or multiplier
    assert ax.yaxis.get_offset_text().get_text() == ""
  assert "1.2M" in [t.get_text() for t in panels["critic_loss"].get_xticklabels()]
  assert [t.get_text() for t in panels["episode_return"].texts] == [plots.NO_REWARD]
  explained = ["every logged value (faint)", "moving average over 5%\nof the points (solid)"]
  assert [legend_texts(legend) for legend in fig.legends] == [explained]  # below the panels
  plots.plot_curves("c.png", {t: curves[t] for t in ("intrinsic_reward", "critic_loss")} | {
      "alpha": curves["intrinsic_reward"], "entropy": curves["intrinsic_reward"]})
  spare = figures[1].axes[4]  # 4 panels in 2 rows of 3: the legend in the first empty place
  assert not spare.get_title() and legend_texts(spare.get_legend()) == explained


def test_bands_legend_says_mean_and_one_std_across_seeds(figures):
  steps = np.arange(10.0)
  band = plots.Band("objective=dads (3 seeds)", steps, steps, np.ones(10))
  plots.plot_bands("b.png", {"intrinsic_reward": [band]}, title="mean ± 1 std across seeds")
  fig = figures[0]
  assert legend_texts(fig.legends[0]) == ["objective=dads (3 seeds)", "line: mean over the seeds",
                                          "band: ± 1 std across the seeds"]
  assert fig.axes[0].get_ylabel() == "intrinsic reward (per step)"
  assert fig.axes[0].lines[0].get_marker() in ("None", None, "")
  plots.plot_bands("m.png", {"intrinsic_reward": [band]}, markers="dot: an evaluated checkpoint")
  fig = figures[1]
  assert fig.axes[0].lines[0].get_marker() == "o"
  assert legend_texts(fig.legends[0])[-1] == "dot: an evaluated checkpoint"


def test_skill_returns_say_when_there_is_no_environment_reward(figures):
  plots.plot_skill_returns("r.png", [np.zeros(3), np.zeros(3)], ["0", "1"], title="t")
  ax = figures[0].axes[0]
  assert [t.get_text() for t in ax.texts] == [plots.NO_REWARD] and ax.get_legend() is None
  plots.plot_skill_returns("r.png", [np.ones(3), np.arange(3.0)], ["0", "1"], title="t")
  ax = figures[1].axes[0]
  assert not ax.texts and "one episode (a dot each)" in legend_texts(ax.get_legend())


def test_smooth_keeps_the_length_of_runs_shorter_than_the_window():
  np.testing.assert_allclose(plots.smooth(np.array([1.0, 3.0]), 5), [2.0, 2.0])
  values = np.random.default_rng(0).normal(size=12)
  for window in range(1, 8):  # the same as numpy's "same" wherever that has N points
    same = (np.convolve(values, np.ones(window), "same")
            / np.convolve(np.ones(12), np.ones(window), "same"))
    np.testing.assert_allclose(plots.smooth(values, window), same)


def test_plot_axes_use_metres_and_observation_names():
  assert skill_eval.plot_axes(envs.lookup("Ant-v1")) == ("x (m)", "y (m)")
  assert skill_eval.plot_axes(envs.lookup("HalfCheetah-v1"))[0] == "x (m)"
  assert skill_eval.plot_axes(envs.lookup("MountainCarContinuous-v0")) == ("position", "velocity")
  assert skill_eval.plot_axes(envs.lookup("Hopper-v5")) == ("obs[0]", "obs[1]")  # none declared


def test_discrete_skills_are_labelled_by_index():
  prior = SkillPrior("discrete_uniform", 10)
  assert skill_eval.steps_label(np.eye(10)[3], 999, prior) == "skill 3 (999 steps)"
  continuous = SkillPrior("cont_uniform", 2)
  assert skill_eval.steps_label(np.array([0.5, -1.0]), 37, continuous) == "z=[ 0.5,-1. ] (37 steps)"


def test_recorded_skills_plot_names_its_policy_skills_and_units(figures, tmp_path):
  prior = SkillPrior("discrete_uniform", 3)
  env = envs.make_skill_env("point_mass", prior, np.random.default_rng(0), max_env_steps=5)
  try:
    skill_eval.record_skills(env, "point_mass", lambda obs, skill: np.zeros(2, np.float32),
                             prior.enumerate(), str(tmp_path), render=False,
                             title="untrained baseline, uniform random actions")
  finally:
    env.close()
  ax = figures[0].axes[0]
  assert ax.get_title() == "point_mass: untrained baseline, uniform random actions"
  assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "y (m)")
  assert legend_texts(ax.get_legend())[:3] == [f"skill {i} (5 steps)" for i in range(3)]
