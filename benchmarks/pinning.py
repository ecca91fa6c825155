"""Two campaign runs side by side: each pinned to a core of its own, or both free to use both.

  python -m benchmarks.pinning --runs=dyn32:0,baseline:1 --epochs_per_phase=25 --phases=4

Trains the two runs of scripts/campaign.sh (ARM:SEED, in $CAMPAIGN_DIR or ../campaign)
in alternating phases: pinned (`taskset -c 0` and `-c 1`) then unpinned (`taskset -c 0,1`
for both), --epochs_per_phase epochs each, --phases phases in all. Both modes keep one XLA
thread per run, so the only difference is the CPU affinity. Every phase resumes the runs
exactly where the last one stopped, so the measurement is real campaign progress, not
thrown-away work. The runs' train.log files say how each phase went.

Prints, per mode, the median of the runs' per-epoch seconds (progress.csv's
perf/epoch_seconds, the first epoch of every phase left out: it holds start-up and
compilation) and the phase wall time, and the combined throughput (epochs per hour, both
runs together) from each.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {"pinned": ("0", "1"), "unpinned": ("0,1", "0,1")}


def progress_path(campaign: str, arm: str, seed: int) -> str:
  return os.path.join(campaign, arm, f"s{seed}", "Ant-v1", "progress.csv")


def read_epoch_seconds(path: str) -> dict[int, float]:
  """{epoch: perf/epoch_seconds} of a run's progress.csv ({} before its first epoch)."""
  if not os.path.exists(path):
    return {}
  with open(path, newline="") as f:
    return {int(r["epoch"]): float(r["perf/epoch_seconds"]) for r in csv.DictReader(f)}


def run_phase(runs: list[tuple[str, int]], cores: tuple[str, str],
              targets: list[int]) -> float:
  """Trains both runs at once, each to its epoch in `targets`, on `cores`; returns the
  wall seconds."""
  start = time.monotonic()
  procs = [subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "campaign.sh"), arm,
                             str(seed), str(target), core])
           for (arm, seed), core, target in zip(runs, cores, targets)]
  codes = [p.wait() for p in procs]
  if any(codes):
    raise SystemExit(f"pinning: a campaign run exited with {codes}; see its train.log")
  return time.monotonic() - start


def main(argv):
  del argv
  campaign = os.environ.get("CAMPAIGN_DIR", os.path.join(ROOT, "..", "campaign"))
  runs = []
  for item in _RUNS.value:
    arm, _, seed = item.partition(":")
    if not seed.isdigit():
      raise app.UsageError(f"--runs: '{item}' is not ARM:SEED (e.g. baseline:1)")
    runs.append((arm, int(seed)))
  if len(runs) != 2:
    raise app.UsageError("--runs: give exactly two runs, ARM:SEED,ARM:SEED")
  done = [max(read_epoch_seconds(progress_path(campaign, *r)), default=0) for r in runs]
  per_epoch = {mode: [] for mode in MODES}
  per_phase = {mode: [] for mode in MODES}
  for phase in range(_PHASES.value):
    mode = list(MODES)[phase % 2]
    targets = [d + _EPOCHS.value for d in done]
    wall = run_phase(runs, MODES[mode], targets)
    for (arm, seed), start, target in zip(runs, done, targets):
      seconds = read_epoch_seconds(progress_path(campaign, arm, seed))
      # start + 1 is the phase's first epoch: start-up and compilation, left out.
      per_epoch[mode] += [s for e, s in seconds.items() if start + 1 < e <= target]
    rate = 2 * _EPOCHS.value / wall * 3600
    per_phase[mode].append(rate)
    print(f"phase {phase} {mode}: epochs {done} -> {targets}, {wall:.0f} s wall, "
          f"{rate:.0f} epochs/h together", flush=True)
    done = targets
  print("\n| mode | median s/epoch per run (n) | combined epochs/h from it | "
        "median phase epochs/h (phases) |\n| --- | --- | --- | --- |")
  for mode in MODES:
    med = statistics.median(per_epoch[mode])
    print(f"| {mode} | {med:.2f} ({len(per_epoch[mode])}) | {2 * 3600 / med:.0f} | "
          f"{statistics.median(per_phase[mode]):.0f} ({len(per_phase[mode])}) |")


_RUNS = flags.DEFINE_list("runs", None, "Two campaign runs, ARM:SEED,ARM:SEED.")
_EPOCHS = flags.DEFINE_integer("epochs_per_phase", 25, "Epochs each run trains per phase.")
_PHASES = flags.DEFINE_integer("phases", 4, "Phases in all, alternating pinned/unpinned.")

if __name__ == "__main__":
  flags.mark_flag_as_required("runs")
  app.run(main)
