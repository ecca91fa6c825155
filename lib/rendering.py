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

import numpy as np

_PROBE = "import mujoco; c = mujoco.GLContext(8, 8); c.make_current(); c.free()"
_BACKENDS = ("egl", "osmesa")
# Set when no backend works: explains, in one line, which Debian package is missing.
_ERROR_VAR = "DADS_GL_ERROR"


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


class FrameRenderer:
  """Renders RGB frames of a MuJoCo model from a camera that tracks one body (or, with
  track_body=None, looks at the origin).

  A tracking camera keeps a walking robot in view however far its skill takes it.
  """

  def __init__(self, model, *, width: int = 320, height: int = 240, track_body: int | None = 1,
               distance: float | None = None, elevation: float = -45.0, azimuth: float = 90.0):
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
    if track_body is None:  # A fixed view of the origin, for small arenas.
      self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
      self._camera.lookat[:] = 0.0
    else:
      self._camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
      self._camera.trackbodyid = track_body
    self._camera.distance = distance if distance is not None else 3.0 * model.stat.extent
    self._camera.elevation = elevation
    self._camera.azimuth = azimuth

  def render(self, data) -> np.ndarray:
    """Returns uint8 [height, width, 3]."""
    self._renderer.update_scene(data, camera=self._camera)
    return self._renderer.render()

  def close(self) -> None:
    self._renderer.close()
