"""What the videos show: goal markers and the goal camera, pass-through robots filmed
close; and a HalfCheetah made without MuJoCo's deprecation warning flooding the log."""

import mujoco
import numpy as np
import pytest

import envs
from lib import rendering
from lib.skill_prior import SkillPrior
from unsupervised_skill_learning.evaluation import skills as skill_eval
from unsupervised_skill_learning.planning import goal_reaching

try:
  rendering.require_rendering()
except RuntimeError as e:  # pragma: no cover  (a machine without headless GL)
  pytest.skip(str(e), allow_module_level=True)

W, H = 96, 72


def red_pixels(frame: np.ndarray) -> np.ndarray:
  """[H, W, 3] uint8 -> bool [H, W]: the goal marker's colour (robots and floors have none)."""
  r, g, b = (frame[..., i].astype(int) for i in range(3))
  return (r > 180) & (r - g > 100) & (r - b > 100)  # lit red is about (255, 100, 100)


def test_marker_is_drawn_where_the_goal_is():
  env = envs.get_environment("Ant-v1_goal")
  env.reset(seed=0)
  model, data = env.unwrapped.model, env.unwrapped.data
  points = [(0.0, 0.0), (3.0, 0.0)]
  frames = []
  for markers in ((), [(3.0, 0.0)]):
    renderer = rendering.FrameRenderer.framing(model, points, markers=markers,
                                               marker_radius=1.0, width=W, height=H)
    frames.append(renderer.render(data))
    renderer.close()
  env.close()
  without, with_marker = frames
  assert not red_pixels(without).any()
  red = red_pixels(with_marker)
  assert red.sum() > 20
  # Seen from above with x to the right, the goal (x=3) is right of the Ant (x=0); the
  # left half, where the Ant stands, is untouched.
  assert np.nonzero(red)[1].mean() > W / 2
  np.testing.assert_array_equal(with_marker[:, : W // 3], without[:, : W // 3])


def test_goal_renderer_frames_start_and_goal():
  env = envs.get_environment("Ant-v1_goal")
  env.reset(seed=0)
  renderer = goal_reaching.goal_renderer(env.unwrapped.model, np.zeros(2), np.array([10.0, 10.0]),
                                         tolerance=1.5)
  frame = renderer.render(env.unwrapped.data)
  renderer.close()
  env.close()
  red = np.argwhere(red_pixels(frame))
  assert len(red)
  h, w = frame.shape[:2]
  # The goal at (10, 10) lies up and to the right of the start, and wholly in the frame.
  assert red[:, 0].mean() < h / 2 and red[:, 1].mean() > w / 2
  assert red[:, 0].min() > 0 and red[:, 1].max() < w - 1


def robot_height_fraction(frame: np.ndarray) -> float:
  """The fraction of the frame's height that the robot's (orange-brown) pixels span."""
  r, b = frame[..., 0].astype(int), frame[..., 2].astype(int)
  rows = np.nonzero(((r - b) > 60).any(axis=1))[0]
  return (rows.max() - rows.min() + 1) / frame.shape[0] if len(rows) else 0.0


def test_pass_through_robot_fills_the_frame():
  """Hopper's scene is 4 m across (floor included); framed by that it was a sliver."""
  env = skill_eval.make_eval_env("Hopper-v5", SkillPrior("discrete_uniform", 2),
                                 np.random.default_rng(0), 10)
  env.reset()
  renderer = skill_eval.renderer_for("Hopper-v5", env)
  frame = renderer.render(env.unwrapped.data)
  renderer.close()
  env.close()
  assert 0.4 < robot_height_fraction(frame) < 0.95


def test_half_cheetah_is_made_without_the_settotalmass_warning(capfd, monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)  # MuJoCo's C warnings also append to ./MUJOCO_LOG.TXT
  env = envs.get_environment("HalfCheetah-v1")
  env.close()
  ours = capfd.readouterr()
  assert "settotalmass" not in ours.err + ours.out
  # The capture sees MuJoCo's C-level warning: Gymnasium's model compiled as is prints it.
  cheetah = envs.get_environment("HalfCheetah-v1").unwrapped
  reference = mujoco.MjModel.from_xml_path(cheetah.fullpath)
  theirs = capfd.readouterr()
  assert "settotalmass" in theirs.err + theirs.out
  # ... and ours is the same model: the masses scaled alike, every constant recomputed.
  model = cheetah.model
  for name in ("body_mass", "body_inertia", "body_subtreemass", "dof_invweight0",
               "actuator_acc0"):
    np.testing.assert_array_equal(getattr(model, name), getattr(reference, name), err_msg=name)
