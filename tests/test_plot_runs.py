"""plot_runs over a folder of seeds, config grouping, aligning runs, and export_curves'
single-run rule."""

import csv
import json
import os
import subprocess

import numpy as np
import pytest

from lib import plots
from lib.logger import Logger
from unsupervised_skill_learning import export_curves
from unsupervised_skill_learning import plot_runs as pr
from testkit import ROOT, TINY, module_command, run_module


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
  """Two tiny driver runs, seeds 0 and 1, in one parent folder (trained side by side)."""
  parent = tmp_path_factory.mktemp("seeds")
  procs = [subprocess.Popen(
      module_command("dads_off", f"--flagfile={TINY}",
       f"--logdir={parent / f'seed{s}'}", f"--seed={s}", "--num_epochs=2", "--num_evals=0"),
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for s in (0, 1)]
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
  return parent


def fake_run(logdir, points, **settings):
  """A run folder with TensorBoard scalars {tag: {step: value}} and a config.json whose
  sections hold `settings`."""
  run = logdir / "point_mass"
  logger = Logger(str(run / "train"))
  for tag, by_step in points.items():
    for step, value in by_step.items():
      logger.scalars({tag: value}, step)
  logger.close()
  config = {"logdir": str(logdir), "seed": settings.pop("seed", 0), "objective": "dads",
            "agent": {"agent_lr": 3e-4}, "train": {"num_epochs": 10}}
  for key, value in settings.items():
    section = "train" if key == "num_epochs" else "agent"
    config[section][key] = value
  (run / "config.json").write_text(json.dumps(config))
  return run


def test_two_seeds_are_one_group_in_png_and_svg(seeds, tmp_path):
  out = run_module("plot_runs", str(seeds), "--tags=intrinsic_reward,episode_return",
             f"--out={tmp_path / 'plot.png'}", "--smooth=2")
  assert out.returncode == 0, out.stderr[-3000:]
  groups = [line for line in out.stdout.splitlines() if not line.startswith("wrote ")]
  assert len(groups) == 1 and groups[0].startswith(f"{seeds.name} (2 seeds): ")
  png = (tmp_path / "plot.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
  path, groups = pr.plot_runs([str(seeds)], ["intrinsic_reward"], str(tmp_path / "plot"),
                              fmt="svg")
  svg = (tmp_path / "plot.svg").read_text()
  assert path.endswith("plot.svg") and "<svg" in svg and len(svg) > 10000
  assert [len(g.runs) for g in groups] == [2]


def test_band_is_the_mean_and_std_of_the_seeds(seeds):
  runs = pr.find_runs([str(seeds)])
  assert [os.path.relpath(r, seeds) for r in runs] == ["seed0/point_mass", "seed1/point_mass"]
  values = [pr.read_scalars(r)["intrinsic_reward"] for r in runs]
  assert values[0] != values[1]  # different seeds learn differently
  steps, mean, std, count = plots.mean_std_curve(
      [(np.array(sorted(v)), np.array([v[s] for s in sorted(v)])) for v in values])
  common = sorted(values[0])
  assert list(steps) == common and list(count) == [2] * len(common)  # same steps per seed
  for i, s in enumerate(common):
    pair = [values[0][s], values[1][s]]
    assert mean[i] == pytest.approx(np.mean(pair)) and std[i] == pytest.approx(np.std(pair))


def test_runs_at_different_steps_are_interpolated_not_extrapolated():
  steps, mean, std, count = plots.mean_std_curve([
      (np.array([0, 10, 20]), np.array([0.0, 1.0, 2.0])),
      (np.array([5, 15]), np.array([10.0, 30.0]))])
  np.testing.assert_array_equal(steps, [0, 5, 10, 15, 20])
  np.testing.assert_array_equal(count, [1, 2, 2, 2, 1])
  np.testing.assert_allclose(mean, [0.0, 5.25, 10.5, 15.75, 2.0])
  assert std[0] == 0 and std[2] == pytest.approx(9.5)
  np.testing.assert_allclose(plots.smooth(np.array([0.0, 3.0, 6.0, 9.0]), 3), [1.5, 3, 6, 7.5])


def test_groups_follow_the_configs(tmp_path):
  points = {"intrinsic_reward": {10: 1.0, 20: 2.0}}
  for name, settings in {"a0": dict(agent_lr=1e-3, seed=0),
                         "a1": dict(agent_lr=1e-3, seed=1, num_epochs=99),  # longer: same group
                         "b0": dict(agent_lr=3e-4, seed=0)}.items():
    fake_run(tmp_path / "sweep" / name, points, **settings)
  runs = [pr.Run(r, pr.read_settings(r)) for r in pr.find_runs([str(tmp_path / "sweep")])]
  labels = sorted(g.label for g in pr.group_runs(runs, "auto"))
  assert labels == ["agent_lr=0.0003 (1 seed)", "agent_lr=0.001 (2 seeds)"]
  assert sorted(g.label for g in pr.group_runs(runs, "none")) == [
      "a0 (1 seed)", "a1 (1 seed)", "b0 (1 seed)"]
  assert sorted(g.label for g in pr.group_runs(runs, "seed")) == [
      "seed=0 (2 seeds)", "seed=1 (1 seed)"]
  dads = {"objective": "dads", "agent_lr": 3e-4, "num_components": 4}
  diayn = {"objective": "diayn", "agent_lr": 3e-4, "diayn_lr": 1e-3}
  assert [g.label for g in pr.group_runs([pr.Run("x/a/e", dads), pr.Run("x/b/e", diayn)],
                                         "auto")] == ["objective=dads (1 seed)",
                                                      "objective=diayn (1 seed)"]
  with pytest.raises(pr.PlotError, match=r"^--group_by=lr: no run has the setting 'lr'"):
    pr.group_runs(runs, "lr")
  path, groups = pr.plot_runs([str(tmp_path / "sweep")], ["intrinsic_reward"],
                              str(tmp_path / "sweep.png"))
  assert len(groups) == 2 and os.path.getsize(path) > 10000


def test_runs_shorter_than_the_smoothing_window_plot(tmp_path, monkeypatch):
  """--smooth=5 over runs of 2 and 3 points (the README's example on short runs) used to
  crash in mean_std_curve ('fp and xp are not of the same length')."""
  fake_run(tmp_path / "short" / "s0", {"intrinsic_reward": {10: 1.0, 20: 3.0}})
  fake_run(tmp_path / "short" / "s1", {"intrinsic_reward": {10: 2.0, 20: 2.0, 30: 5.0}},
           seed=1)
  drawn = {}
  monkeypatch.setattr(plots, "plot_bands",
                      lambda path, panels, title="", notes=None: drawn.update(panels) or path)
  _, groups = pr.plot_runs([str(tmp_path / "short")], ["intrinsic_reward"],
                           str(tmp_path / "p.png"), smooth=5)
  band, = drawn["intrinsic_reward"]
  assert [len(g.runs) for g in groups] == [2]
  np.testing.assert_array_equal(band.steps, [10, 20, 30])
  # Each run is its own mean (window > run): 2 and 3, then the longer run alone.
  np.testing.assert_allclose(band.mean, [2.5, 2.5, 3.0])


def test_legend_names_the_setting_that_differs_and_the_figure_says_what_bands_are(tmp_path,
                                                                                   monkeypatch):
  """A run without config.json among the runs used to make every shared setting the
  groups' names (and hide the objective)."""
  dads = {"objective": "dads", "agent_lr": 3e-4, "num_components": 4, "num_envs": 4}
  diayn = {"objective": "diayn", "agent_lr": 3e-4, "diayn_lr": 1e-3, "num_envs": 4}
  runs = [pr.Run("x/a/e", dads), pr.Run("x/b/e", diayn), pr.Run("x/c/e", None)]
  assert [g.label for g in pr.group_runs(runs, "auto")] == [
      "objective=dads (1 seed)", "objective=diayn (1 seed)", "c (1 seed)"]
  points = {"intrinsic_reward": {10: 1.0, 20: 2.0}, "episode_return": {10: 0.0, 20: 0.0}}
  fake_run(tmp_path / "runs" / "a", points)
  fake_run(tmp_path / "runs" / "b", points, agent_lr=1e-3)
  drawn = {}

  def keep(path, panels, title="", notes=None):
    drawn.update(title=title, notes=notes, labels=[b.label for b in panels["intrinsic_reward"]])
    return path

  monkeypatch.setattr(plots, "plot_bands", keep)
  pr.plot_runs([str(tmp_path / "runs")], ["intrinsic_reward", "episode_return"],
               str(tmp_path / "p.png"), smooth=3)
  assert drawn["labels"] == ["agent_lr=0.0003 (1 seed)", "agent_lr=0.001 (1 seed)"]
  assert drawn["title"] == "mean ± 1 std across seeds, each run smoothed over 3 logged points"
  assert drawn["notes"] == {"episode_return": plots.NO_REWARD}


def test_bad_input_is_one_line_naming_the_flag(seeds, tmp_path):
  out = run_module("plot_runs", str(seeds), "--tags=intrinsic_reward,nope", f"--out={tmp_path / 'p'}")
  assert out.returncode == 2 and "Traceback" not in out.stderr
  line, = out.stderr.strip().splitlines()[-1:]
  assert line.startswith("plot_runs: error: --tags=intrinsic_reward,nope: no run logged 'nope'")
  assert "intrinsic_reward" in line.split("tags found:")[1]
  for paths, kwargs, start in (
      ([str(tmp_path / "missing")], {}, f"{tmp_path / 'missing'}: no such folder"),
      ([str(tmp_path)], {}, f"{tmp_path}: no runs found"),
      ([], {}, "no run folders given"),
      ([str(seeds)], {"smooth": 0}, "--smooth=0: must be >= 1"),
      ([str(seeds)], {"fmt": "jpg"}, "--format=jpg: allowed: png, svg")):
    with pytest.raises(pr.PlotError) as err:
      pr.plot_runs(paths, ["intrinsic_reward"], str(tmp_path / "p.png"), **kwargs)
    assert str(err.value).startswith(start)


def test_export_curves_takes_one_run(seeds, tmp_path):
  out = run_module("export_curves", f"--run_dir={seeds}", f"--out={tmp_path / 'x'}")
  assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
  assert "holds 2 runs" in out.stderr and "plot_runs" in out.stderr
  # A logdir holding one run is that run.
  out = run_module("export_curves", f"--run_dir={seeds / 'seed0'}", f"--out={tmp_path / 'x'}")
  assert out.returncode == 0, out.stderr[-3000:]
  with open(tmp_path / "x_curves.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  steps = sorted(pr.read_scalars(str(seeds / "seed0" / "point_mass"))["intrinsic_reward"])
  assert [int(r["env_steps"]) for r in rows if r["intrinsic_reward"]] == steps
  assert (tmp_path / "x_curves.png").stat().st_size > 10000


def test_export_curves_plots_diayn_terms(tmp_path, monkeypatch):
  run = fake_run(tmp_path / "diayn", {"intrinsic_reward": {10: -1.0, 20: -0.5},
                                      "diayn/logq": {10: -1.7, 20: -1.2},
                                      "discriminator_loss": {10: 1.7, 20: 1.2}})
  drawn = {}
  monkeypatch.setattr(plots, "plot_curves",
                      lambda path, curves, title="", notes=None: drawn.update(curves))
  csv_path, _ = export_curves.export(str(run), str(tmp_path / "out"))
  assert {"intrinsic_reward", "diayn/logq", "discriminator_loss"} <= set(drawn)
  np.testing.assert_allclose(drawn["diayn/logq"], [[10, -1.7], [20, -1.2]], rtol=1e-6)
  with open(csv_path, newline="", encoding="utf-8") as f:
    header = next(csv.reader(f))
  assert header[0] == "env_steps" and "diayn/logq" in header
