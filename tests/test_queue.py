"""scripts/queue.sh: long runs one after another; a failure moves on, a stop stops."""

import os
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUEUE = os.path.join(ROOT, "scripts", "queue.sh")


def _lines(path):
  with open(path) as f:
    return f.read().split()


def test_jobs_run_in_order_and_a_failed_one_does_not_stop_the_rest(tmp_path):
  out, log = tmp_path / "out", tmp_path / "queue.log"
  jobs = [f"echo a >> {out}", f"echo b >> {out}; exit 3", f"echo c >> {out}"]
  assert subprocess.run(["bash", QUEUE, str(log), *jobs], timeout=30).returncode == 0
  assert _lines(out) == ["a", "b", "c"]
  text = log.read_text()
  assert "exit 3: echo b" in text and text.rstrip().endswith("queue: done")


def test_a_stop_reaches_the_running_job_and_ends_the_queue(tmp_path):
  out, log = tmp_path / "out", tmp_path / "queue.log"
  # A job that, like a training run, saves on SIGTERM and exits 143.
  job = (f"bash -c 'trap \"echo saved >> {out}; exit 143\" TERM; echo started >> {out}; "
         "while true; do sleep 0.1; done'")
  queue = subprocess.Popen(["bash", QUEUE, str(log), job, f"echo next >> {out}"])
  deadline = time.monotonic() + 20
  while not (out.exists() and "started" in _lines(out)):
    assert time.monotonic() < deadline, "the first job never started"
    time.sleep(0.1)
  queue.send_signal(signal.SIGTERM)
  assert queue.wait(timeout=20) == 143
  assert _lines(out) == ["started", "saved"]  # saved, and the next job never ran
  assert "queue: stopping" in log.read_text()


def test_a_job_stopped_by_a_signal_stops_the_queue(tmp_path):
  out, log = tmp_path / "out", tmp_path / "queue.log"
  jobs = [f"echo a >> {out}; exit 143", f"echo b >> {out}"]
  assert subprocess.run(["bash", QUEUE, str(log), *jobs], timeout=30).returncode == 143
  assert _lines(out) == ["a"]
  assert "rerun the queue to resume" in log.read_text()


def test_usage_is_one_line():
  run = subprocess.run(["bash", QUEUE, "only-a-log"], capture_output=True, text=True,
                       timeout=30)
  assert run.returncode == 2
  assert run.stderr.strip().splitlines() == [
      "usage: bash scripts/queue.sh LOG 'COMMAND' ['COMMAND' ...]"]
