"""Headless OpenGL backend selection and off-screen frame rendering for MuJoCo.

MuJoCo binds its GL backend once, when `mujoco` is first imported, from the MUJOCO_GL
environment variable. `configure_gl_backend` must therefore run before that import; the
`envs` package calls it at its top. It keeps a user's MUJOCO_GL, and otherwise probes
EGL then OSMesa in a short-lived subprocess (a failed probe in-process would leave
PyOpenGL bound to the wrong platform for the rest of the run).
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np

_PROBE = "import mujoco; c = mujoco.GLContext(8, 8); c.make_current(); c.free()"
_BACKENDS = ("egl", "osmesa")
# Set when no backend works: explains, in one line, which Debian package is missing.
_ERROR_VAR = "DADS_GL_ERROR"
MARKER_RGBA = (1.0, 0.1, 0.1, 1.0)  # goal markers: opaque red, unlike any robot's colour


def _missing_package_hint() -> str:
  """Names the Debian package(s) whose absence most likely broke headless rendering."""
  if ctypes.util.find_library("EGL") is None:
    return "libegl1 (plus libegl-mesa0 and libgl1-mesa-dri)"
  vendor_dirs = ("/usr/share/glvnd/egl_vendor.d", "/etc/glvnd/egl_vendor.d")
  if not any(os.path.isdir(d) and os.listdir(d) for d in vendor_dirs):
    return "libegl-mesa0 (plus libgl1-mesa-dri)"
  if ctypes.util.find_library("OpenGL") is None:
    return "libopengl0"
  return "libgl1-mesa-dri (or libosmesa6 for MUJOCO_GL=osmesa)"


def _probe(backend: str) -> bool:
  env = dict(os.environ, MUJOCO_GL=backend)
  if backend == "osmesa":
    env["PYOPENGL_PLATFORM"] = "osmesa"
  try:
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                            timeout=60, check=False)
  except (OSError, subprocess.TimeoutExpired):
    return False
  return result.returncode == 0


def configure_gl_backend() -> str:
  """Chooses MUJOCO_GL (egl, then osmesa) unless already set; returns the choice.

  When neither works, MUJOCO_GL is set to 'disable' so that simulation still runs, and
  `require_rendering` later fails with a one-line message naming the missing package.
  """
  if "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ:
    return "unknown (mujoco was imported before the backend was chosen)"
  if os.environ.get("MUJOCO_GL"):
    return os.environ["MUJOCO_GL"]
  for backend in _BACKENDS:
    if _probe(backend):
      os.environ["MUJOCO_GL"] = backend
      if backend == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
      return backend
  os.environ["MUJOCO_GL"] = "disable"
  os.environ[_ERROR_VAR] = (
      "no headless OpenGL backend works (tried MUJOCO_GL=egl and osmesa); install the "
      f"Debian package {_missing_package_hint()}, e.g. `apt-get install -y libegl1 "
      "libegl-mesa0 libgl1-mesa-dri libopengl0`")
  return "disable"


def require_rendering() -> None:
  """Raises RuntimeError with a one-line fix when no GL backend is available."""
  if os.environ.get("MUJOCO_GL", "").lower() in ("disable", "disabled", "off", "false", "0"):
    raise RuntimeError(os.environ.get(_ERROR_VAR, "rendering is disabled by MUJOCO_GL"))


def framing_distance(span: float, fovy_degrees: float, fill: float = 0.8) -> float:
  """Camera distance at which a span (metres) fills `fill` of a frame whose vertical field
  of view is fovy_degrees; the frame is wider than tall, so the span fits across too."""
  return span / (2.0 * fill * np.tan(np.radians(fovy_degrees) / 2.0))


def robot_span(model) -> float:
  """The largest side (metres) of the box around every geom of the robot (the bodies other
  than the world) in its reference pose qpos0: the robot's size, where model.stat.extent
  measures the whole scene (floor included) and so films a small robot from far away."""
  import mujoco  # pylint: disable=import-outside-toplevel  (bound after configure_gl_backend)

  robot = model.geom_bodyid > 0
  if not robot.any():
    return float(model.stat.extent)
  data = mujoco.MjData(model)
  mujoco.mj_kinematics(model, data)
  centre, radius = data.geom_xpos[robot], model.geom_rbound[robot][:, None]
  return float(np.max((centre + radius).max(0) - (centre - radius).min(0)))


class FrameRenderer:
  """Renders RGB frames of a MuJoCo model from a camera that tracks one body (or, with
  track_body=None, looks at `lookat`, the origin by default).

  A tracking camera keeps a walking robot in view however far its skill takes it; without
  a `distance`, the camera stands where the robot (`robot_span`) fills 60% of the frame.
  `markers` [(x, y), ...] are drawn as discs of `marker_radius` on the ground (goals);
  they are not part of the model, so they never touch the simulation.
  """

  def __init__(self, model, *, width: int = 320, height: int = 240, track_body: int | None = 1,
               distance: float | None = None, elevation: float = -45.0, azimuth: float = 90.0,
               lookat: tuple[float, float, float] = (0.0, 0.0, 0.0),
               markers: Sequence[tuple[float, float]] = (), marker_radius: float = 0.5,
               marker_rgba: tuple[float, float, float, float] = MARKER_RGBA):
    require_rendering()
    import mujoco  # pylint: disable=import-outside-toplevel  (bound after configure_gl_backend)

    self._mujoco = mujoco
    width = min(width, model.vis.global_.offwidth)
    height = min(height, model.vis.global_.offheight)
    self._renderer = mujoco.Renderer(model, height=height, width=width)
    # Software GL (Mesa llvmpipe) renders 2.6x faster without shadows and reflections.
    self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
    self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    self._camera = mujoco.MjvCamera()
    if track_body is None:  # A fixed view, for small arenas and goal overviews.
      self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
      self._camera.lookat[:] = lookat
    else:
      self._camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
      self._camera.trackbodyid = track_body
    if distance is None:  # Frame the robot, with room for it to move within the frame.
      distance = framing_distance(robot_span(model), float(model.vis.global_.fovy), fill=0.6)
    self._camera.distance = distance
    self._camera.elevation = elevation
    self._camera.azimuth = azimuth
    # A flat disc (cylinder of half-height 1 cm) lying on the ground: it hides none of the
    # robot standing on it, and sits just above the floor plane so the two never flicker.
    self._markers = [(np.array([x, y, 0.01]), np.array([marker_radius, 0.01, 0.0]))
                     for x, y in markers]
    self._marker_rgba = np.asarray(marker_rgba, np.float32)

  @classmethod
  def framing(cls, model, points: Sequence[tuple[float, float]], *,
              margin: float | None = None, elevation: float = -90.0, **kwargs) -> FrameRenderer:
    """A fixed camera that keeps every ground point [(x, y), ...] in view (for a goal
    video: the start and the goal), centred on their bounding box and `margin` metres
    beyond it on every side (by default the robot's size plus the markers' radius).

    Straight down by default (elevation -90, x to the right, y up), so the video reads
    like the x-y plots of the same episode."""
    if margin is None:
      margin = robot_span(model) + kwargs.get("marker_radius", 0.0)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    low, high = pts.min(0), pts.max(0)
    centre = (low + high) / 2.0
    span = float(np.max(high - low)) + 2.0 * margin
    return cls(model, track_body=None, lookat=(centre[0], centre[1], 0.0),
               distance=framing_distance(span, float(model.vis.global_.fovy), fill=0.75),
               elevation=elevation, **kwargs)

  def capture(self, env) -> np.ndarray:
    """The frame of a MuJoCo environment's current state: uint8 [height, width, 3]."""
    return self.render(env.unwrapped.data)

  def render(self, data) -> np.ndarray:
    """Returns uint8 [height, width, 3]."""
    self._renderer.update_scene(data, camera=self._camera)
    scene = self._renderer.scene
    for pos, size in self._markers:
      if scene.ngeom >= scene.maxgeom:  # A full scene drops markers rather than failing.
        break
      self._mujoco.mjv_initGeom(scene.geoms[scene.ngeom], self._mujoco.mjtGeom.mjGEOM_CYLINDER,
                                size, pos, np.eye(3).ravel(), self._marker_rgba)
      scene.ngeom += 1
    return self._renderer.render()

  def close(self) -> None:
    self._renderer.close()


BOX2D_HINT = "pip install -e '.[box2d]' (or EXTRAS=box2d make setup)"


def require_env_frames() -> None:
  """Raises RuntimeError with a one-line fix when Gymnasium's own drawing (pygame) is
  missing: Box2D and classic-control envs cannot be filmed without it."""
  try:
    import pygame  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    raise RuntimeError(f"videos of this environment need pygame: {BOX2D_HINT}") from None


class EnvFrameRenderer:
  """Frames drawn by a Gymnasium environment itself (render_mode="rgb_array"): Box2D and
  classic-control envs, which have no MuJoCo model for `FrameRenderer` to film. The same
  `capture(env)` / `close()` as `FrameRenderer`."""

  def __init__(self, env):
    # pygame draws off-screen here: without these SDL probes a display and a sound server
    # and prints "XDG_RUNTIME_DIR is invalid" on a headless machine. Read at pygame.init().
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    require_env_frames()
    if getattr(env.unwrapped, "render_mode", None) != "rgb_array":
      raise ValueError(f"{type(env.unwrapped).__name__} was not made with "
                       "render_mode='rgb_array'; it cannot be filmed")

  def capture(self, env) -> np.ndarray:
    frame = env.unwrapped.render()
    return np.asarray(frame, np.uint8)[..., :3]

  def close(self) -> None:
    """The environment owns its drawing surface and frees it in env.close()."""
