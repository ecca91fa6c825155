"""The Ray Tune sweep: grids expand and validate before anything runs, every trial is an
ordinary run directory, an interrupted trial resumes exactly, and a 2x2 grid runs on a
local Ray instance with a results table of mean ± std per group."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from absl import flags

from lib.progress import read_progress
from lib.run_lock import RunLock
from unsupervised_skill_learning import dads_off, sweep
from testkit import ROOT, TINY, run_module


def run_sweep(*args, timeout=600):
  return run_module("sweep", f"--flagfile={TINY}", *args, timeout=timeout)


def test_grid_parsing_and_errors(tmp_path):
  assert sweep.parse_grid(["seed=0,1", "--agent_lr=1e-3, 3e-4"]) == {
      "seed": ["0", "1"], "agent_lr": ["1e-3", "3e-4"]}
  for bad in (["seed"], ["seed="], ["=1,2"]):
    with pytest.raises(sweep.SweepError, match="expected NAME=V1,V2"):
      sweep.parse_grid(bad)
  with pytest.raises(sweep.SweepError, match="already varied"):
    sweep.parse_grid(["seed=0", "seed=1"])
  grid_file = tmp_path / "grid.yaml"
  grid_file.write_text("seed: [0, 1]\nfix_variance: true\nagent_lr: [0.001]\n")
  assert sweep.read_grid_file(str(grid_file)) == ({
      "seed": ["0", "1"], "fix_variance": ["1"], "agent_lr": ["0.001"]}, {})
  (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
  with pytest.raises(sweep.SweepError, match="expected a mapping"):
    sweep.read_grid_file(str(tmp_path / "list.yaml"))


def _leaves(tree, key=None):
  """(key, value) of every leaf of a nested dict."""
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _leaves(v, k)
  else:
    yield key, tree


def test_a_value_given_twice_and_unsweepable_settings_are_refused(tmp_path):
  with pytest.raises(sweep.SweepError, match="a value is given twice"):
    sweep.parse_grid(["seed=0,0"])
  for name in ("train_from_scratch", "override_config"):
    with pytest.raises(sweep.SweepError, match=f"--{name}: not a sweep setting"):
      sweep.expand({name: ["1"]}, str(tmp_path), lambda s, l: l)


def test_values_equal_once_parsed_are_refused():
  """seed=0,00 or agent_lr=1e-3,0.001 would run the same trial twice."""
  for grid, message in (({"seed": ["0", "00"]}, "0 and 00 are the same value"),
                        ({"agent_lr": ["1e-3", "0.001"]}, "1e-3 and 0.001 are the same value"),
                        ({"fix_variance": ["1", "true"]}, "1 and true are the same value")):
    with pytest.raises(sweep.SweepError, match=message):
      sweep.check_distinct(grid, {}, dads_off.parse_setting)
  with pytest.raises(sweep.SweepError, match="arms a and b set the same values"):
    sweep.check_distinct({}, {"a": {"agent_lr": "1e-3"}, "b": {"agent_lr": "0.001"}},
                         dads_off.parse_setting)
  sweep.check_distinct({"seed": ["0", "1"]}, {"a": {}, "b": {"agent_lr": "1e-3"}},
                       dads_off.parse_setting)


# sweep.main's checks of its flags, every case in one process (a process start costs more
# than all of them): each case's flags parsed into absl's FLAGS, then sweep.main as
# `python -m unsupervised_skill_learning.sweep` calls it; [exit code, stderr] per case. The
# sweep's flags are defined only in a process that runs it (they clash with other entry
# points'), hence a process of its own rather than this one. The real command's start-up
# is the 2x2 sweep's and test_without_ray_the_sweep_says_how_to_install_it's.
MAIN_CASES = """
import contextlib, io, json, sys
from absl import flags
from unsupervised_skill_learning import sweep
sweep.define_flags()
results = []
for argv in json.loads(sys.argv[1]):
  err = io.StringIO()
  try:
    flags.FLAGS(argv)
    with contextlib.redirect_stderr(err):
      sweep.main(argv[:1])
    code = 0
  except SystemExit as stop:
    code = stop.code
  finally:
    flags.FLAGS.unparse_flags()
  results.append([code, err.getvalue()])
print(json.dumps(results))
"""

BAD_SWEEP_FLAGS = (("grid_file_is_a_folder", "--grid_file={tmp}", "--grid_file={tmp}: is a folder"),
                   ("out_is_a_file", "--out={afile} --grid=seed=0,1", "--out={afile}: is a file"),
                   ("nan_cpus", "--cpus_per_trial=nan --grid=seed=0,1", "--cpus_per_trial=nan"),
                   ("same_values", "--grid=seed=0,00", "are the same value"))
BAD_GRIDS = (("agent_lr=0.1,abc", "--agent_lr=abc"),
             ("no_such_setting=1", "--no_such_setting: not a setting"),
             ("objective=dads,nope", "objective"),
             ("seed", "--grid=seed: expected NAME=V1,V2"))


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
  """BAD_SWEEP_FLAGS (by name) and BAD_GRIDS (by grid) run through sweep.main, each case
  with an --out of its own: (the cases' folder, {case: (exit code, stderr, its --out)})."""
  tmp = tmp_path_factory.mktemp("bad_flags")
  afile = tmp / "afile"
  afile.write_text("x")
  cases = {}
  for name, args, _ in BAD_SWEEP_FLAGS:
    args = args.format(tmp=tmp, afile=afile).split()
    out_args = [] if any(a.startswith("--out") for a in args) else [f"--out={tmp / name}"]
    cases[name] = [*args, *out_args]
  for i, (grid, _) in enumerate(BAD_GRIDS):
    cases[grid] = [f"--grid={grid}", f"--out={tmp / f'grid{i}'}"]
  argvs = [["sweep", f"--flagfile={TINY}", *args] for args in cases.values()]
  out = subprocess.run([sys.executable, "-c", MAIN_CASES, json.dumps(argvs)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  results = json.loads(out.stdout.strip().splitlines()[-1])
  outs = {name: next(a for a in args if a.startswith("--out=")).split("=", 1)[1]
          for name, args in cases.items()}
  return tmp, {name: (code, err, outs[name]) for name, (code, err) in zip(cases, results)}


def test_bad_sweep_flags_and_paths_fail_in_one_line(bad_flag_runs):
  tmp, runs = bad_flag_runs
  for name, _, message in BAD_SWEEP_FLAGS:
    code, err, _ = runs[name]
    message = message.format(tmp=tmp, afile=tmp / "afile")
    assert code == 2, (name, err)
    lines = [line for line in err.splitlines() if line.strip() and line[:1] not in "IW"]
    assert len(lines) == 1 and lines[0].startswith("sweep: error:") and message in lines[0], \
        (name, err)
    assert not (tmp / name).exists()


def test_expand_is_the_product_in_grid_order(tmp_path):
  seen = []
  trials = sweep.expand({"seed": ["0", "1"], "objective": ["dads", "diayn"]}, str(tmp_path),
                        lambda settings, logdir: seen.append(settings) or logdir + "/env")
  assert [t.name for t in trials] == ["seed=0,objective=dads", "seed=0,objective=diayn",
                                      "seed=1,objective=dads", "seed=1,objective=diayn"]
  assert [t.group for t in trials] == ["objective=dads", "objective=diayn"] * 2
  assert seen[1] == {"seed": "0", "objective": "diayn"}
  assert all(os.path.isabs(t.logdir) and t.run_dir == t.logdir + "/env" for t in trials)


def test_arms_are_named_sets_of_settings_crossed_with_the_grid(tmp_path):
  """An ablation: each arm changes its own settings; seeds repeat every arm."""
  grid_file = tmp_path / "ablation.yaml"
  grid_file.write_text("seed: [0, 1]\narms:\n  baseline: {}\n  original:\n"
                       "    target_entropy_scale: 0.5\n    agent_init: tf_agents\n")
  grid, arms = sweep.read_grid_file(str(grid_file))
  assert arms == {"baseline": {}, "original": {"target_entropy_scale": "0.5",
                                               "agent_init": "tf_agents"}}
  trials = sweep.expand(grid, str(tmp_path), lambda settings, logdir: logdir, arms)
  assert [t.name for t in trials] == ["seed=0,arm=baseline", "seed=0,arm=original",
                                      "seed=1,arm=baseline", "seed=1,arm=original"]
  assert trials[3].settings == (("seed", "1"), ("target_entropy_scale", "0.5"),
                                ("agent_init", "tf_agents"))
  assert [t.group for t in trials] == ["arm=baseline", "arm=original"] * 2
  assert sweep.trial_argv(trials[3], [])[-3:-1] == ["--target_entropy_scale=0.5",
                                                   "--agent_init=tf_agents"]
  with pytest.raises(sweep.SweepError, match="arm original: seed is also varied"):
    sweep.expand(grid, str(tmp_path), lambda s, l: l, {"original": {"seed": "3"}})


def test_bad_grid_values_fail_in_one_line_before_any_trial(bad_flag_runs):
  _, runs = bad_flag_runs
  for grid, message in BAD_GRIDS:
    code, err, out = runs[grid]
    assert code == 2, (grid, err)
    lines = [line for line in err.splitlines() if line.startswith("sweep: error:")]
    assert len(lines) == 1 and message in lines[0], (grid, err)
    assert not os.path.exists(out), "nothing may start before the grid is valid"


def test_summary_is_mean_and_std_per_group():
  rows = [{"trial": "a", "group": "g1", "status": "done", "metrics": {"r": 1.0, "c": 4.0}},
          {"trial": "b", "group": "g1", "status": "done", "metrics": {"r": 3.0}},
          {"trial": "c", "group": "g2", "status": "done", "metrics": {"r": 5.0}},
          {"trial": "d", "group": "g2", "status": "unfinished", "metrics": {}}]
  summary = sweep.summarize(rows)
  assert [(g["group"], g["n"]) for g in summary] == [("g1", 2), ("g2", 1)]
  assert summary[0]["stats"]["r"] == (2.0, 1.0, 2)
  assert summary[0]["stats"]["c"] == (4.0, 0.0, 1)
  table = sweep.format_summary(summary)
  assert "g1 (n=2)" in table and "2 ± 1" in table


def test_base_arguments_drop_the_sweeps_own_flags(tmp_path):
  args = sweep.base_arguments(["--flagfile=configs/tiny.txt", "--grid", "seed=0,1",
                               "--grid=agent_lr=1", "--out=x", "--num_epochs=2",
                               "--poll_s=1", "--run_eval=1"])
  assert args == [f"--flagfile={os.path.abspath('configs/tiny.txt')}", "--num_epochs=2",
                  "--run_eval=1"]
  # A shared flag's value given as the next argument is kept, whatever it spells.
  assert sweep.base_arguments(["--environment", "out", "--flagfile", "configs/ant.txt",
                               "--noinclude_x"]) == [
      "--environment", "out", "--flagfile", os.path.abspath("configs/ant.txt"), "--noinclude_x"]


def test_an_interrupted_trial_resumes_exactly(tmp_path):
  """A trial is an ordinary run: its newest checkpoint lost (the sweep stopped before it
  was written) and rerun, it continues from the one before and ends where it ended."""
  logdir = str(tmp_path / "seed=0")
  trial = sweep.Trial("seed=0", (("seed", "0"),), logdir, os.path.join(logdir, "point_mass"))
  argv = sweep.trial_argv(trial, [f"--flagfile={TINY}"])
  reports = []
  first = sweep.run_trial(trial, argv, cwd=ROOT, report=reports.append, poll_s=0.5)
  assert sweep.is_finished(trial, argv)
  assert reports and reports[-1]["epoch"] == first["epoch"] == 3
  _, rows_before = read_progress(os.path.join(trial.run_dir, "progress.csv"))
  # Interrupted before epoch 3 was saved: its checkpoint and the finished mark never written.
  shutil.rmtree(os.path.join(trial.run_dir, "models", "ckpt-000003"))
  os.remove(os.path.join(logdir, sweep.TRIAL_FILE))
  assert not sweep.is_finished(trial, argv)
  again = sweep.run_trial(trial, argv, cwd=ROOT, poll_s=0.5)
  _, rows_after = read_progress(os.path.join(trial.run_dir, "progress.csv"))
  assert [r["epoch"] for r in rows_after] == ["1", "2", "3"]
  for column in ("intrinsic_reward", "critic_loss", "dynamics_loss"):
    assert rows_after[-1][column] == rows_before[-1][column], column
  assert again["intrinsic_reward"] == first["intrinsic_reward"]
  assert "resum" in open(os.path.join(logdir, sweep.TRIAL_LOG), encoding="utf-8").read()


def test_a_failing_trial_names_its_log(tmp_path):
  logdir = str(tmp_path / "bad")
  trial = sweep.Trial("bad", (), logdir, os.path.join(logdir, "point_mass"))
  argv = sweep.trial_argv(trial, [f"--flagfile={TINY}", "--agent_lr=-1"])
  with pytest.raises(sweep.TrialError, match="trial.log"):
    sweep.run_trial(trial, argv, cwd=ROOT, poll_s=0.5)
  assert not sweep.is_finished(trial, argv)


def test_two_by_two_sweep_on_local_ray(tmp_path):
  out = tmp_path / "sweep"
  # resample_prob changes what is collected, not the compiled programs: the four trials
  # share one compilation (the tests' persistent cache); no videos, to keep it short.
  grid = ("--grid", "seed=0,1", "--grid=resample_prob=0,0.5", "--min_steps_before_resample=5",
          "--num_epochs=2", "--record_freq=1000", f"--out={out}")
  # Ray and four trials: minutes of wall time on a loaded 2-core machine, hence the time
  # limit beyond the default (a quiet machine needs a fraction of it).
  result = run_sweep(*grid, "--poll_s=1", "--cpus_per_trial=1", timeout=1200)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
  assert names == ["curves.png", "results.csv", "seed=0,resample_prob=0", "seed=0,resample_prob=0.5",
                   "seed=1,resample_prob=0", "seed=1,resample_prob=0.5", "summary.csv"]
  # Every trial is an ordinary run directory with its own settings.
  for trial in ("seed=1,resample_prob=0.5", "seed=0,resample_prob=0"):
    text = json.dumps(json.loads((out / trial / "point_mass" / "config.json").read_text()))
    assert ('"seed": 1' in text) == trial.startswith("seed=1")
    assert ('"resample_prob": 0.5' in text) == trial.endswith("0.5")
  with open(out / "results.csv", encoding="utf-8") as f:
    results = list(csv.DictReader(f))
  assert [r["status"] for r in results] == ["done"] * 4
  assert {r["epoch"] for r in results} == {"2"}
  # Different seeds learn differently; the table's std is over them.
  with open(out / "summary.csv", encoding="utf-8") as f:
    summary = [r for r in csv.DictReader(f) if r["metric"] == "intrinsic_reward"]
  assert sorted(r["group"] for r in summary) == ["resample_prob=0", "resample_prob=0.5"]
  for row in summary:
    rewards = [float(r["intrinsic_reward"]) for r in results
               if row["group"] == f"resample_prob={r['resample_prob']}"]
    assert row["trials"] == "2" and float(row["std"]) > 0
    assert float(row["mean"]) == pytest.approx(sum(rewards) / 2, rel=1e-6)
  assert "resample_prob=0.5 (n=2)" in result.stdout
  # TensorBoard is pointed at the runs, not at Ray's temporary folder.
  assert f"tensorboard --logdir {out}" in result.stdout
  assert not [line for line in (result.stdout + result.stderr).splitlines()
              if "tensorboard --logdir" in line and f"--logdir {out}" not in line]
  # Run again: every trial finished, so nothing runs (and Ray is not even started).
  again = run_sweep(*grid)
  assert again.returncode == 0, again.stderr[-2000:]
  assert again.stderr.count("finished before: skipped") == 4
  assert "Started a local Ray instance" not in again.stderr


def test_a_trial_whose_worker_is_killed_saves_before_it_stops(tmp_path):
  """The Ray worker running a trial is killed (a stopped sweep, a lost node): its dads_off
  gets SIGTERM from the kernel, finishes the epoch and saves, instead of running on as
  an orphan or losing the epochs since its last checkpoint."""
  logdir = tmp_path / "seed=0"
  run_dir = logdir / "point_mass"
  code = ("import sys\n"
          "from unsupervised_skill_learning import sweep\n"
          f"t = sweep.Trial('seed=0', (), {str(logdir)!r}, {str(run_dir)!r})\n"
          f"argv = sweep.trial_argv(t, ['--flagfile={TINY}', '--num_epochs=100000', "
          "'--save_freq=100000', '--record_freq=100000'])\n"
          f"sweep.run_trial(t, argv, cwd={ROOT!r}, poll_s=0.2)\n")
  worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
  progress = run_dir / "progress.csv"
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and (
      not progress.exists() or len(progress.read_text().splitlines()) < 4):
    time.sleep(0.2)
  assert progress.exists(), "the trial never started"
  worker.kill()
  worker.wait()
  lock = RunLock(str(run_dir))
  while lock.live_holder() is not None and time.monotonic() < deadline:
    time.sleep(0.2)
  assert lock.live_holder() is None, "dads_off outlived its worker"
  log = (logdir / sweep.TRIAL_LOG).read_text()
  assert "(saved); rerun the same command to resume" in log, log[-2000:]
  saved = sorted(p.name for p in (run_dir / "models").iterdir())
  _, rows = read_progress(str(progress))
  assert saved == [f"ckpt-{int(rows[-1]['epoch']):06d}"]


def test_trials_share_a_gpu_only_where_there_is_one(monkeypatch):
  monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.75")  # a trial's share wins
  monkeypatch.delenv("JAX_PLATFORMS", raising=False)
  assert sweep.gpu_share_for(-1, cluster_gpus=0) == 0.0
  assert sweep.gpu_share_for(-1, cluster_gpus=2) == sweep.DEFAULT_GPU_SHARE
  assert sweep.gpu_share_for(0.5, cluster_gpus=1) == 0.5
  with pytest.raises(sweep.SweepError, match="--gpus_per_trial=0.5: the Ray cluster has 0 GPUs"):
    sweep.gpu_share_for(0.5, cluster_gpus=0)
  assert sweep.child_env(0.0)["JAX_PLATFORMS"] == "cpu"
  shared = sweep.child_env(0.25)
  assert "JAX_PLATFORMS" not in shared
  assert 0 < float(shared["XLA_PYTHON_CLIENT_MEM_FRACTION"]) < 0.25


def test_ray_wrapped_trial_errors_keep_our_message():
  wrapped = RuntimeError("ray::ImplicitFunc.train() (pid=1, ip=x)\n  File ...\n"
                         '    raise TrialError(f"trial {trial.name}: dads_off exited with")\n'
                         "unsupervised_skill_learning.sweep.TrialError: trial seed=0: dads_off "
                         "exited with 2; last lines of /x/trial.log:\ndads_off: error: --agent_lr=-1")
  message = sweep._trial_error(wrapped)  # pylint: disable=protected-access
  assert message.startswith("unsupervised_skill_learning.sweep.TrialError: trial seed=0")
  assert message.endswith("dads_off: error: --agent_lr=-1")


def test_the_shipped_ablation_grid_names_real_settings():
  """docs/experiments/ant_ablation.yaml (the blind-spot ablation, run on an accelerator):
  every arm's settings are dads_off settings with valid values."""
  grid, arms = sweep.read_grid_file(os.path.join(ROOT, "docs", "experiments",
                                                 "ant_ablation.yaml"))
  assert grid == {"seed": ["0", "1", "2"]} and "baseline" in arms and len(arms) >= 8
  flag_values = flags.FLAGS
  try:
    flag_values(["dads_off", f"--flagfile={os.path.join(ROOT, 'configs', 'ant.txt')}"])
    for settings in arms.values():
      values = {name: dads_off.parse_setting(name, text) for name, text in settings.items()}
      cfg = dads_off.config_from_flags(values, logdir="/tmp/unused")  # raises naming the flag
      for name, value in values.items():
        assert [v for k, v in _leaves(cfg.to_dict()) if k == name] == [value], name
  finally:
    flag_values.unparse_flags()
  assert sweep.dimensions(grid, arms)[-1][0] == "arm"


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path):
  code = ("import sys; sys.modules['ray'] = None\n"
          "from absl import app\n"
          "from unsupervised_skill_learning import sweep\n"
          "sweep.define_flags()\n"
          f"sys.argv = ['sweep', '--flagfile={TINY}', '--grid=seed=0,1', '--out={tmp_path / 'o'}']\n"
          "app.run(sweep.main)\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, check=False)
  assert out.returncode == 2, out.stderr[-2000:]
  assert out.stderr.strip().splitlines()[-1] == (
      "sweep: error: sweeps run on Ray Tune, which is not installed: "
      "pip install -e '.[sweep]' (or EXTRAS=sweep make setup)")
  assert not (tmp_path / "o").exists()
