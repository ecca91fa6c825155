"""Grids of runs on Ray Tune: every combination of the --grid values, each an ordinary run.

  python -m unsupervised_skill_learning.sweep --flagfile=configs/ant.txt \\
      --grid seed=0,1,2 --grid agent_entropy=0.1,0.05 --out=runs/sweep [--run_eval=1]

Every dads_off flag sets what the trials share (here, configs/ant.txt); each --grid
NAME=V1,V2,... (or --grid_file=grid.yaml, a mapping of names to lists) varies one
setting. For an ablation, the grid file's `arms:` maps arm names to the settings each
arm changes (`baseline: {}`, `half_entropy: {target_entropy_scale: 0.5}`); every arm
runs with every combination of the rest of the grid (the seeds). Each trial is `dads_off ... --NAME=V ... --logdir=OUT/NAME=V,...`, run as a
subprocess of a Ray Tune trial: an ordinary run directory, which `dads_off` resumes,
evaluates and exports like any other. Every trial's settings are validated before any
trial starts.

By default Ray is started here, on this machine (--address=ray://host:10001 or `auto`
joins a cluster whose machines have this project installed at the same path and share
the filesystem of --out; there, stopping a trial saves it only where the cluster was
started with RAY_kill_child_processes_on_worker_exit=false). A trial takes
--cpus_per_trial CPUs and, where the cluster has GPUs, a fraction of one
(--gpus_per_trial; by default 1/4, as four Ant runs share an H100 well); its JAX is
told to take only that fraction of the GPU's memory.

Resuming: a trial that finished leaves OUT/<trial>/trial.json and is skipped when the
same sweep runs again; an interrupted one resumes from its newest checkpoint. When every
trial has ended, OUT/results.csv holds each trial's final metrics (the last row of its
progress.csv, and its eval_summary.json's numbers with --run_eval=1), OUT/summary.csv
their mean and std over each group of trials that differ only in seed (printed as a
table), and OUT/curves.png the plot_runs figure of --plot_tags. `--grid seed=0,1,2
--run_eval=1` is the multi-seed experiment: K seeds, each evaluated, mean ± std of every
metric.

Ray is the optional extra `sweep`: pip install -e '.[sweep]' (or EXTRAS=sweep make setup).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import dataclasses
import io
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from absl import flags, logging

from lib.atomic import atomic_write, atomic_write_json
from lib.progress import read_progress
from lib.run_lock import RunLock
from unsupervised_skill_learning import cli, dads_off

SWEEP_HINT = "pip install -e '.[sweep]' (or EXTRAS=sweep make setup)"
TRIAL_FILE = "trial.json"  # written when a trial has ended well: its final metrics
TRIAL_LOG = "trial.log"    # the trial's dads_off output, appended across resumes
# Settings a sweep leaves to each trial: they would defeat resuming.
NOT_SWEPT = ("train_from_scratch", "override_config")
DEFAULT_GPU_SHARE = 0.25


class SweepError(ValueError):
  """Bad sweep input: one line naming the flag or file."""


class TrialError(RuntimeError):
  """A trial's dads_off ended with an error; names its log."""


def define_flags() -> None:
  flags.DEFINE_multi_string("grid", [], "NAME=V1,V2,...: a setting to vary (repeatable).")
  flags.DEFINE_string("grid_file", "", "A YAML mapping of setting names to lists of values "
                      "(with or instead of --grid), and optionally 'arms': named sets of "
                      "settings, each one arm of an ablation.")
  flags.DEFINE_string("out", None, "The sweep's folder: one run directory per trial, the "
                      "results tables and the curves (required).")
  flags.DEFINE_string("address", "", "Ray cluster to join (ray://host:10001 or auto); empty: "
                      "start Ray on this machine.")
  flags.DEFINE_float("cpus_per_trial", 1.0, "CPUs each trial reserves.")
  flags.DEFINE_float("gpus_per_trial", -1.0, "GPU share of each trial; -1: 1/4 of a GPU where "
                     "the cluster has GPUs, else 0.")
  flags.DEFINE_integer("max_concurrent", 0, "Trials running at once; 0: as many as the "
                       "resources allow.")
  flags.DEFINE_string("plot_tags", "intrinsic_reward", "TensorBoard tags of curves.png.")
  flags.DEFINE_float("poll_s", 5.0, "Seconds between reports of a running trial's progress.")


# --- the grid ------------------------------------------------------------------------------

def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
  """['seed=0,1', 'agent_lr=1e-3,3e-4'] -> {'seed': ['0', '1'], 'agent_lr': [...]}."""
  grid: dict[str, list[str]] = {}
  for spec in specs:
    name, sep, values = spec.partition("=")
    name = name.strip().lstrip("-")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
      raise SweepError(f"--grid={spec}: expected NAME=V1,V2,... (e.g. --grid seed=0,1,2)")
    if name in grid:
      raise SweepError(f"--grid={spec}: {name} is already varied by another --grid")
    if len(set(items)) < len(items):
      raise SweepError(f"--grid={spec}: a value is given twice")
    grid[name] = items
  return grid


def read_grid_file(path: str) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
  """A YAML mapping {name: [values] or value, ..., optionally arms: {arm: {name: value}}}
  -> (the grid {name: [value texts]}, the arms {arm: {name: value text}})."""
  import yaml  # pylint: disable=import-outside-toplevel  (PyYAML comes with Ray)
  try:
    with open(path, encoding="utf-8") as f:
      data = yaml.safe_load(f)
  except FileNotFoundError:
    raise SweepError(f"--grid_file={path}: no such file") from None
  except IsADirectoryError:
    raise SweepError(f"--grid_file={path}: is a folder; give a YAML file") from None
  except (OSError, UnicodeDecodeError) as err:
    raise SweepError(f"--grid_file={path}: cannot be read "
                     f"({getattr(err, 'strerror', None) or err})") from None
  except yaml.YAMLError as err:
    raise SweepError(f"--grid_file={path}: not YAML ({str(err).splitlines()[0]})") from None
  if not isinstance(data, dict) or not data:
    raise SweepError(f"--grid_file={path}: expected a mapping of setting names to lists of "
                     "values, e.g. 'seed: [0, 1, 2]'")
  arms = data.pop("arms", None) or {}
  if not isinstance(arms, dict) or not all(isinstance(a, dict) or a is None
                                           for a in arms.values()):
    raise SweepError(f"--grid_file={path}: arms must map arm names to settings, e.g. "
                     "'arms: {baseline: {}, half_entropy: {target_entropy_scale: 0.5}}'")
  grid = {}
  for name, values in data.items():
    values = values if isinstance(values, list) else [values]
    if not values:
      raise SweepError(f"--grid_file={path}: {name} has no values")
    grid[str(name)] = [_text(v) for v in values]
    if len(set(grid[str(name)])) < len(values):
      raise SweepError(f"--grid_file={path}: {name} gives a value twice")
  return grid, {str(a): {str(k): _text(v) for k, v in (settings or {}).items()}
                for a, settings in arms.items()}


def _text(value) -> str:
  """A YAML value as its flag text (True -> 1, 0.1 -> 0.1)."""
  if isinstance(value, bool):
    return str(int(value))
  return str(value)


@dataclasses.dataclass(frozen=True)
class Trial:
  """One combination of the grid: its folder name, settings and where its run lives."""
  name: str                            # 'seed=0,agent_entropy=0.1': the folder under --out
  settings: tuple[tuple[str, str], ...]  # (flag, value text): what the trial sets
  logdir: str                          # absolute --logdir of its dads_off
  run_dir: str                         # <logdir>/<environment>: the run directory
  # (grid dimension, value): the settings of the grid, and ('arm', its name) for an arm
  labels: tuple[tuple[str, str], ...] = ()

  @property
  def group(self) -> str:
    """The trial's labels other than its seed: trials that differ only in seed share it."""
    return ",".join(f"{k}={v}" for k, v in self.labels if k != "seed") or "all"


def check_distinct(grid: dict[str, list[str]], arms: dict[str, dict[str, str]],
                   parse: Callable[[str, str], object]) -> None:
  """SweepError when two values of one grid setting are the same value once parsed
  (seed=0,00; agent_lr=1e-3,0.001), or two arms set the same values: those trials would
  run the same run twice. parse(name, text) -> the value, ValueError naming the flag."""
  for name, texts in grid.items():
    seen: dict[object, str] = {}
    for text in texts:
      value = parse(name, text)
      if value in seen:
        raise SweepError(f"--grid {name}={','.join(texts)}: {seen[value]} and {text} are the "
                         "same value (each trial would run twice)")
      seen[value] = text
  seen_arms: dict[tuple, str] = {}
  for arm, settings in (arms or {}).items():
    key = tuple(sorted((name, parse(name, text)) for name, text in settings.items()))
    if key in seen_arms:
      raise SweepError(f"arms {seen_arms[key]} and {arm} set the same values (each trial "
                       "would run twice)")
    seen_arms[key] = arm


def dimensions(grid: dict[str, list[str]], arms: dict[str, dict[str, str]] | None = None
               ) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
  """The grid's dimensions [(name, [(label, settings)])]: one per varied setting, and
  'arm' for the arms (each a named set of settings), last."""
  for name in (*grid, *(k for settings in (arms or {}).values() for k in settings)):
    if name in NOT_SWEPT:
      raise SweepError(f"--{name}: not a sweep setting (trials resume; delete OUT/<trial> "
                       "to start one over)")
  dims = [(name, [(v, {name: v}) for v in values]) for name, values in grid.items()]
  if arms:
    for arm, settings in arms.items():
      clash = sorted(set(settings) & set(grid))
      if clash:
        raise SweepError(f"arm {arm}: {clash[0]} is also varied by the grid")
    dims.append(("arm", list(arms.items())))
  return dims


def expand(grid: dict[str, list[str]], out: str, check: Callable[[dict, str], str],
           arms: dict[str, dict[str, str]] | None = None) -> list[Trial]:
  """Every combination of the grid's values (and arms), in --grid order (the last varies
  fastest; arms last of all).

  check(overrides {name: value}, logdir) -> the run directory, raising ValueError naming
  the flag when that trial's settings are not valid."""
  trials = []
  dims = dimensions(grid, arms)
  for combo in itertools.product(*(entries for _, entries in dims)):
    labels = tuple((dim, label) for (dim, _), (label, _) in zip(dims, combo))
    settings = tuple((k, v) for _, overrides in combo for k, v in overrides.items())
    name = ",".join(f"{k}={v}" for k, v in labels) or "base"
    if "/" in name or name.startswith("."):
      raise SweepError(f"--grid: value {name!r} cannot name a folder")
    logdir = os.path.abspath(os.path.join(out, name))
    trials.append(Trial(name, settings, logdir, check(dict(settings), logdir), labels))
  return trials


# --- one trial -----------------------------------------------------------------------------

def trial_argv(trial: Trial, base_args: Sequence[str]) -> list[str]:
  """The trial's dads_off command line: the shared flags, its settings, its --logdir."""
  return [sys.executable, "-m", "unsupervised_skill_learning.dads_off", *base_args,
          *(f"--{k}={v}" for k, v in trial.settings), f"--logdir={trial.logdir}"]


def is_finished(trial: Trial, argv: Sequence[str]) -> bool:
  """The trial ended well before, with this same command line."""
  try:
    with open(os.path.join(trial.logdir, TRIAL_FILE), encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError):
    return False
  return isinstance(record, dict) and record.get("argv") == list(argv[1:])


def _flatten(prefix: str, value, out: dict[str, float]) -> None:
  """The numbers of a JSON tree as {'a/b/c': x}; lists (per-skill, per-goal) are left out."""
  if isinstance(value, dict):
    for k, v in value.items():
      _flatten(f"{prefix}/{k}" if prefix else str(k), v, out)
  elif isinstance(value, (int, float)) and not isinstance(value, bool):
    out[prefix] = float(value)


def row_numbers(row: dict[str, str]) -> dict[str, float]:
  """The cells of a progress.csv row that are numbers (an empty cell is left out)."""
  numbers = {}
  for k, v in row.items():
    try:
      numbers[k] = float(v)
    except ValueError:
      pass
  return numbers


def final_metrics(run_dir: str) -> dict[str, float]:
  """The numbers of the last progress.csv row, and of eval/eval_summary.json when the run
  was evaluated (prefixed eval/)."""
  _, rows = read_progress(os.path.join(run_dir, "progress.csv"))
  metrics = row_numbers(rows[-1]) if rows else {}
  try:
    with open(os.path.join(run_dir, "eval", "eval_summary.json"), encoding="utf-8") as f:
      _flatten("eval", json.load(f), metrics)
  except (OSError, ValueError):
    pass
  return metrics


def die_with_parent_hook() -> Callable[[], None]:
  """A preexec_fn: the child gets SIGTERM when the process that starts it (the trial's Ray
  worker) dies, so the run saves and exits rather than training on as an orphan (Linux's
  prctl(PR_SET_PDEATHSIG)); a child whose parent is already gone exits at once. libc is
  loaded here, before the fork: the child only calls into it."""
  try:
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
  except OSError:
    return lambda: None
  parent = os.getpid()

  def hook() -> None:
    prctl(1, signal.SIGTERM)
    if os.getppid() != parent:
      os._exit(1)  # pylint: disable=protected-access  (no Python clean-up after a fork)

  return hook


def child_env(gpu_share: float) -> dict[str, str]:
  """The trial's environment: JAX on the CPU without a GPU share; with one, JAX takes
  only that share of the GPU's memory (its default, 75% each, would not fit two)."""
  env = dict(os.environ)
  if gpu_share <= 0:
    env["JAX_PLATFORMS"] = "cpu"
  else:
    env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 * min(gpu_share, 1.0):.2f}"
  return env


def run_trial(trial: Trial, argv: Sequence[str], *, cwd: str, gpu_share: float = 0.0,
              report: Callable[[dict], None] = lambda metrics: None,
              poll_s: float = 5.0) -> dict[str, float]:
  """Runs (or resumes) one trial's dads_off to its end; returns its final metrics and
  records them in <logdir>/trial.json. report(metrics) gets each new progress.csv row
  while it runs. TrialError naming the log when dads_off fails."""
  os.makedirs(trial.logdir, exist_ok=True)
  # What a finished earlier run recorded no longer holds while this one runs.
  with contextlib.suppress(FileNotFoundError):
    os.remove(os.path.join(trial.logdir, TRIAL_FILE))
  log_path = os.path.join(trial.logdir, TRIAL_LOG)
  progress = os.path.join(trial.run_dir, "progress.csv")
  reported = -1
  with open(log_path, "ab") as log:
    # A session of its own: Ray's shutdown kills its workers' process groups, which would
    # cut the run short in the middle of saving; it stops on SIGTERM instead.
    proc = subprocess.Popen(list(argv), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            env=child_env(gpu_share), preexec_fn=die_with_parent_hook(),
                            start_new_session=True)
    try:
      while True:
        try:
          code = proc.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
          code = None
        _, rows = read_progress(progress)
        if len(rows) - 1 > reported:
          reported = len(rows) - 1
          report(row_numbers(rows[-1]))
        if code is not None:
          break
    except BaseException:
      # The sweep is stopping (Ctrl-C, Ray cancels the trial): the run saves and exits.
      proc.terminate()
      proc.wait()
      raise
  if code != 0:
    raise TrialError(f"trial {trial.name}: dads_off exited with {code}; last lines of "
                     f"{log_path}:\n{_tail(log_path)}")
  metrics = final_metrics(trial.run_dir)
  atomic_write_json(os.path.join(trial.logdir, TRIAL_FILE),
                    {"name": trial.name, "settings": dict(trial.settings),
                     "argv": list(argv[1:]), "metrics": metrics}, indent=1)
  return metrics


def _tail(path: str, lines: int = 5) -> str:
  with open(path, encoding="utf-8", errors="replace") as f:
    return "".join(f.readlines()[-lines:]).rstrip()


# --- results -------------------------------------------------------------------------------

def collect(trials: Sequence[Trial], base_args: Sequence[str]) -> list[dict]:
  """One row per trial: its name, group, settings and final metrics ({} unless it
  finished with this sweep's command line)."""
  rows = []
  for t in trials:
    metrics, status = {}, "unfinished"
    if is_finished(t, trial_argv(t, base_args)):
      with open(os.path.join(t.logdir, TRIAL_FILE), encoding="utf-8") as f:
        metrics, status = json.load(f).get("metrics", {}), "done"
    rows.append({"trial": t.name, "group": t.group, "status": status, **dict(t.labels),
                 "metrics": metrics})
  return rows


def summarize(rows: Sequence[dict]) -> list[dict]:
  """Per group (in first-seen order): n and {metric: (mean, std)} over its finished trials
  (std over trials, ddof=0; nan for a metric a trial lacks is skipped)."""
  groups: dict[str, list[dict]] = {}
  for row in rows:
    if row["status"] == "done":
      groups.setdefault(row["group"], []).append(row["metrics"])
  summary = []
  for group, members in groups.items():
    names = sorted(set().union(*members))
    stats = {}
    for name in names:
      values = [m[name] for m in members if name in m and not math.isnan(m[name])]
      if values:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        stats[name] = (mean, std, len(values))
    summary.append({"group": group, "n": len(members), "stats": stats})
  return summary


def _csv(header: Sequence[str], rows: Sequence[Sequence]) -> str:
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  return buf.getvalue()


def write_tables(out: str, rows: Sequence[dict], summary: Sequence[dict],
                 grid_names: Sequence[str]) -> tuple[str, str]:
  """OUT/results.csv (a row per trial) and OUT/summary.csv (a row per group and metric)."""
  metrics = sorted(set().union(*(r["metrics"] for r in rows)))
  results = atomic_write(os.path.join(out, "results.csv"), _csv(
      ["trial", "status", *grid_names, *metrics],
      [[r["trial"], r["status"], *(r[n] for n in grid_names),
        *(format(r["metrics"][m], ".8g") if m in r["metrics"] else "" for m in metrics)]
       for r in rows]))
  summary_path = atomic_write(os.path.join(out, "summary.csv"), _csv(
      ["group", "trials", "metric", "mean", "std", "n"],
      [[g["group"], g["n"], m, format(mean, ".8g"), format(std, ".8g"), n]
       for g in summary for m, (mean, std, n) in g["stats"].items()]))
  return results, summary_path


def format_summary(summary: Sequence[dict], metrics: Sequence[str] | None = None) -> str:
  """A text table: a row per metric, a column per group, cells 'mean ± std'."""
  if not summary:
    return "(no finished trials)"
  names = list(metrics) if metrics else sorted(set().union(*(g["stats"] for g in summary)))
  header = ["metric"] + [f"{g['group']} (n={g['n']})" for g in summary]
  body = [[m] + [(f"{g['stats'][m][0]:.4g} ± {g['stats'][m][1]:.2g}" if m in g["stats"]
                  else "") for g in summary] for m in names]
  widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                   for r in [header, *body])


# --- Ray -----------------------------------------------------------------------------------

def gpu_share_for(requested: float, cluster_gpus: float) -> float:
  """-1 (auto): DEFAULT_GPU_SHARE of a GPU where the cluster has GPUs, else none.
  SweepError for a share the cluster cannot give (Ray would wait for it forever)."""
  if requested > 0 and requested > cluster_gpus:
    raise SweepError(f"--gpus_per_trial={requested:g}: the Ray cluster has "
                     f"{cluster_gpus:g} GPUs")
  if requested >= 0:
    return requested
  return DEFAULT_GPU_SHARE if cluster_gpus > 0 else 0.0


def run_on_ray(trials: Sequence[Trial], base_args: Sequence[str], *, out: str, address: str,
               cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int,
               poll_s: float) -> list[str]:
  """Runs the unfinished trials as Ray Tune trials; returns the errors of those that failed."""
  # pylint: disable=import-outside-toplevel  (Ray is an optional extra)
  import logging as std_logging

  import ray
  from ray import tune

  # Tune's own resume advice (Tuner.restore) does not apply: rerunning the command resumes.
  std_logging.getLogger("ray.tune").setLevel(std_logging.ERROR)

  cwd = os.getcwd()
  todo = [t for t in trials if not is_finished(t, trial_argv(t, base_args))]
  for t in trials:
    if t not in todo:
      logging.info("trial %s finished before: skipped", t.name)
  if not todo:
    return []
  # Tune's own loggers would write its copy of the metrics to Ray's temporary folder and
  # point TensorBoard there; the runs' own TensorBoard logs are under --out.
  os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
  if address:
    ray.init(address=address, log_to_driver=False)
  else:
    # Ray SIGKILLs a stopped trial's child processes by default; ours instead get SIGTERM
    # from the kernel when their worker dies (_die_with_parent), and save before exiting.
    os.environ.setdefault("RAY_kill_child_processes_on_worker_exit", "false")
    ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
  try:
    gpu_share = gpu_share_for(gpus_per_trial, ray.cluster_resources().get("GPU", 0.0))
    by_name = {t.name: t for t in todo}

    def trainable(config: dict) -> None:
      trial = by_name[config["trial"]]
      metrics = run_trial(trial, trial_argv(trial, base_args), cwd=cwd, gpu_share=gpu_share,
                          report=lambda m: tune.report(_numbers(m)), poll_s=poll_s)
      tune.report(_numbers(metrics))

    resources = {"cpu": cpus_per_trial, "gpu": gpu_share}
    logging.info("sweep: %d trials on Ray (%s), each %s", len(todo),
                 address or "local", resources)
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"trial": tune.grid_search([t.name for t in todo])},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent or None),
        run_config=tune.RunConfig(name="tune", storage_path=os.path.join(os.path.abspath(out),
                                                                          ".tune"),
                                  verbose=0))
    results = tuner.fit()
    return [_trial_error(r.error) for r in results if r.error is not None]
  finally:
    ray.shutdown()
    wait_for_runs(todo)


def _trial_error(error: BaseException) -> str:
  """Ray wraps a trial's exception in lines of its own: keep ours (TrialError's line and
  the log lines after it) when it is there."""
  lines = str(error).strip().splitlines()
  ours = [i for i, line in enumerate(lines) if "TrialError: " in line]
  if ours:
    return "\n".join(lines[ours[-1]:])
  return lines[-1] if lines else type(error).__name__


def wait_for_runs(trials: Sequence[Trial], timeout_s: float = 300.0) -> None:
  """Waits while a trial's dads_off still holds its run (a stopped sweep's trials finish
  their epoch and save), so that rerunning the sweep right away finds them free."""
  deadline = time.monotonic() + timeout_s
  here = socket.gethostname()
  for trial in trials:
    lock = RunLock(trial.run_dir)
    holder = lock.live_holder()
    if holder is None or holder["host"] not in (None, here):
      continue  # another machine's process: its own node stops it
    logging.info("waiting for trial %s to save and exit", trial.name)
    while lock.live_holder() is not None and time.monotonic() < deadline:
      time.sleep(0.5)


def _numbers(metrics: dict[str, float]) -> dict[str, float]:
  """Tune's metric names may not contain '/'."""
  return {k.replace("/", "."): v for k, v in metrics.items()}


# --- the command ---------------------------------------------------------------------------

def base_arguments(argv: Sequence[str]) -> list[str]:
  """The dads_off flags the trials share: the command line minus the sweep's own flags,
  flag files made absolute (trials may run in another folder)."""
  own = ("grid", "grid_file", "out", "address", "cpus_per_trial", "gpus_per_trial",
         "max_concurrent", "plot_tags", "poll_s", "logdir")
  args, skip_next, flagfile_next = [], False, False
  for arg in argv:
    if skip_next:
      skip_next = False
      continue
    if flagfile_next:
      args.append(os.path.abspath(os.path.expanduser(arg)))
      flagfile_next = False
      continue
    if not arg.startswith("-"):  # the value of a shared flag given as `--flag value`
      args.append(arg)
      continue
    name, eq, value = arg.lstrip("-").partition("=")
    if name in own:
      skip_next = not eq  # `--grid seed=0,1`: the value is the next argument
      continue
    if name == "flagfile":
      if eq:
        arg = "--flagfile=" + os.path.abspath(os.path.expanduser(value))
      else:
        flagfile_next = True
    args.append(arg)
  return args


def _check(overrides: dict, logdir: str) -> str:
  """A trial's settings -> its run directory, or ValueError naming the flag."""
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning import components
  values = {name: dads_off.parse_setting(name, text) for name, text in overrides.items()}
  cfg = dads_off.config_from_flags(values, logdir=logdir)
  components.check(cfg)
  return cfg.run_dir


def _fail(message: str) -> None:
  cli.fail("sweep", message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  f = flags.FLAGS
  if not f.out:
    _fail("--out is required: the folder of the sweep's runs and tables")
  if os.path.lexists(f.out) and not os.path.isdir(f.out):
    _fail(f"--out={f.out}: is a file; give a folder (it is made if needed)")
  if f.logdir:
    _fail("--logdir: a sweep puts each trial in --out/<trial>; give --out instead")
  if not (math.isfinite(f.cpus_per_trial) and f.cpus_per_trial > 0):
    _fail(f"--cpus_per_trial={f.cpus_per_trial}: must be a number > 0")
  if not (f.gpus_per_trial == -1 or (math.isfinite(f.gpus_per_trial) and f.gpus_per_trial >= 0)):
    _fail(f"--gpus_per_trial={f.gpus_per_trial}: must be -1 (automatic) or a number >= 0")
  if not (math.isfinite(f.poll_s) and f.poll_s > 0):
    _fail(f"--poll_s={f.poll_s}: must be a number > 0")
  if f.max_concurrent < 0:
    _fail(f"--max_concurrent={f.max_concurrent}: must be >= 0 (0: as many as fit)")
  try:
    grid, arms = read_grid_file(f.grid_file) if f.grid_file else ({}, {})
    for name, values in parse_grid(f.grid).items():
      if name in grid:
        raise SweepError(f"--grid {name}=...: {name} is also in --grid_file={f.grid_file}")
      grid[name] = values
    check_distinct(grid, arms, dads_off.parse_setting)
    trials = expand(grid, f.out, _check, arms)
  except ValueError as err:
    _fail(str(err))
  if f.train_from_scratch:
    _fail("--train_from_scratch: not a sweep setting (trials resume; delete OUT/<trial> to "
          "start one over)")
  try:
    import ray  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    _fail(f"sweeps run on Ray Tune, which is not installed: {SWEEP_HINT}")
  base_args = base_arguments(sys.argv[1:])
  try:
    os.makedirs(f.out, exist_ok=True)
  except OSError as err:
    _fail(f"--out={f.out}: cannot create it ({err.strerror or err})")
  print(f"sweep: {len(trials)} trials in {f.out}; to follow them: tensorboard --logdir {f.out}",
        flush=True)
  try:
    errors = run_on_ray(trials, base_args, out=f.out, address=f.address,
                        cpus_per_trial=f.cpus_per_trial, gpus_per_trial=f.gpus_per_trial,
                        max_concurrent=f.max_concurrent, poll_s=f.poll_s)
  except SweepError as err:
    _fail(str(err))
  rows = collect(trials, base_args)
  summary = summarize(rows)
  results, summary_path = write_tables(f.out, rows, summary,
                                       [name for name, _ in dimensions(grid, arms)])
  print(format_summary(summary))
  print(f"wrote {results} and {summary_path}")
  tags = [t for t in f.plot_tags.split(",") if t.strip()]
  if tags and any(r["status"] == "done" for r in rows):
    # pylint: disable=import-outside-toplevel
    from unsupervised_skill_learning import plot_runs
    try:
      path, _ = plot_runs.plot_runs([f.out], tags, os.path.join(f.out, "curves.png"))
      print(f"wrote {path}")
    except plot_runs.PlotError as err:
      logging.warning("curves not drawn: %s", err)
  for error in errors:
    print(f"sweep: {error}", file=sys.stderr)
  unfinished = [r["trial"] for r in rows if r["status"] != "done"]
  if unfinished:
    print(f"sweep: {len(unfinished)} trial(s) did not finish ({', '.join(unfinished)}); rerun "
          "the same command to resume them", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  define_flags()
  cli.run(main, "sweep", __doc__)
