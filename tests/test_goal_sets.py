"""The named goal sets of goal reaching (--goal_set)."""

import numpy as np

from envs.goal import random_goals


def test_random_goals_are_fixed_uniform_and_away_from_the_start():
  goals = random_goals(15.0)
  assert goals.shape == (30, 2)
  np.testing.assert_array_equal(goals, random_goals(15.0))  # the same set every time
  assert np.all(np.abs(goals) <= 15.0)
  assert np.all(np.linalg.norm(goals, axis=1) >= 5.0)
  # Spread over the square: every quadrant holds some of the 30 goals.
  quadrants = {(bool(x > 0), bool(y > 0)) for x, y in goals}
  assert len(quadrants) == 4


def test_random_goals_redraw_only_the_near_ones():
  many = random_goals(15.0, n=2000, seed=1)
  assert np.linalg.norm(many, axis=1).min() >= 5.0
  # Rejection keeps the rest uniform: the mean is near the centre of the square.
  assert np.all(np.abs(many.mean(axis=0)) < 0.6)


def test_goal_set_names_the_paper_goals_or_the_random_square():
  import envs
  from unsupervised_skill_learning.planning import goal_reaching
  ant = envs.lookup("Ant-v1").default_goals
  np.testing.assert_array_equal(goal_reaching.goal_set("paper", ant), np.asarray(ant))
  np.testing.assert_array_equal(goal_reaching.goal_set("random30", ant), random_goals(15.0))


def test_goal_set_flag_is_validated():
  import pytest
  from unsupervised_skill_learning.config import EvalConfig
  from unsupervised_skill_learning.validation import ConfigError
  assert EvalConfig(goal_set="random30").goal_set == "random30"
  with pytest.raises(ConfigError, match="goal_set"):
    EvalConfig(goal_set="random31")
  with pytest.raises(ConfigError, match="one of --goals and --goal_set"):
    EvalConfig(goal_set="random30", goals=((1.0, 2.0),))
