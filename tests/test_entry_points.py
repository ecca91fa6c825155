"""The driver starts in each documented way, with no sys.path manipulation."""

import os
import subprocess
import sys

import pytest

from lib.video import read_mp4

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize("cmd", [
    [sys.executable, "unsupervised_skill_learning/dads_off.py", "--help"],
    [sys.executable, "-m", "unsupervised_skill_learning.dads_off", "-h"],
    [os.path.join(BIN, "dads-off"), "--help"],
])
def test_driver_help(cmd):
  """Each way of starting the driver describes the program and lists its flags (not the
  launcher's), exit 0."""
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
  assert out.returncode == 0, out.stderr
  assert out.stdout.startswith("Trains skills without reward")
  assert "--logdir" in out.stdout and "--num_epochs" in out.stdout and not out.stderr


# Every command-line entry point: its module, and a flag of its own that --help lists.
ENTRY_POINTS = {"export_model": "--out", "export_curves": "--run_dir", "plot_runs": "--smooth",
                "random_skills": "--num_skills_to_show", "test_policy": "--episodes",
                "sweep": "--grid"}


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_every_entry_point_has_help(module):
  """--help exits 0 with a paragraph describing the program, then its flags."""
  out = subprocess.run([sys.executable, "-m", f"unsupervised_skill_learning.{module}", "--help"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
  assert out.returncode == 0, out.stderr
  description = out.stdout.split("\n\n", 1)[0]
  assert len(description.split()) >= 8 and not description.startswith("flags"), out.stdout
  assert ENTRY_POINTS[module] in out.stdout and "Traceback" not in out.stderr


def test_random_skill_demo_writes_playable_videos_and_plot(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "unsupervised_skill_learning.random_skills",
       "--environment=point_mass", "--num_skills_to_show=2", "--max_env_steps=30",
       f"--out={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert out.returncode == 0, out.stderr
  for i in range(2):
    frames = read_mp4(str(tmp_path / f"skill_{i}.mp4"))
    assert frames.shape == (31, 240, 320, 3)
    assert frames.std() > 5  # a real picture, not a blank buffer
  png = (tmp_path / "traj_plot.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_a_stop_inside_an_extensions_import_is_the_stop():
  """A SIGTERM that lands while jaxlib's C extension initialises reaches Python as
  "ImportError: Encountered an error while initializing the extension", caused by the
  handler's SystemExit: it stops with the signal's status, no traceback. Any other
  ImportError is left as it is."""
  from unsupervised_skill_learning import cli  # pylint: disable=import-outside-toplevel
  with pytest.raises(SystemExit) as stopped:
    with cli.stops_survive_imports():
      try:
        raise SystemExit(143)
      except SystemExit as stop:
        raise ImportError("Encountered an error while initializing the extension.") from stop
  assert stopped.value.code == 143 and stopped.value.__cause__ is None
  with pytest.raises(ImportError, match="no module named nope"):
    with cli.stops_survive_imports():
      raise ImportError("no module named nope")


def test_stop_handlers_are_installed_once():
  """dads_off installs them before its heavy imports and cli.run again: the second call
  keeps the first handler, so a stop under way is not forgotten (its SIGALRM repeat
  would otherwise meet a fresh handler and exit as 'SIGALRM', status 142)."""
  import signal  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning import cli  # pylint: disable=import-outside-toplevel
  saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)}
  hook = sys.unraisablehook
  try:
    cli.stop_on_signals("prog")
    first = signal.getsignal(signal.SIGTERM)
    cli.stop_on_signals("prog")
    assert signal.getsignal(signal.SIGTERM) is first
    assert signal.getsignal(signal.SIGALRM) is first
  finally:
    for signum, handler in saved.items():
      signal.signal(signum, handler)
    sys.unraisablehook = hook
