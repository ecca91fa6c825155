"""Fault injection on tiny runs: divergence, damaged, partial and missing checkpoints, the
logdir lock, signals (in training, start-up and evaluation), changed settings on resume
and in config.json, damaged exported models, a full disk, and bad inputs. Every fault
ends in one line naming what is wrong and what was kept, never in a silent restart or a
silently wrong result. docs/reliability.md lists each fault and the test here."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from lib import checkpoint
from lib.tb_scalars import read_scalars
from unsupervised_skill_learning import dads_off
from unsupervised_skill_learning.config import EnvConfig, RunConfig
from unsupervised_skill_learning.evaluation import model_io
import testkit
from testkit import ROOT, TINY, module_command, run_module

QUIET = ("--num_evals=0",)
# A short evaluation of a tiny run (no videos, few planner candidates).
EVAL = ("--run_train=0", "--run_eval=1", "--record_eval_videos=0", "--num_candidate_sequences=8",
        "--refine_steps=2", "--primitive_horizon=5", "--goals=0.5,0.5;-0.5,0.2")


def run_flags(logdir, *args):
  return [f"--flagfile={TINY}", f"--logdir={logdir}", *QUIET, *args]


def cmd(logdir, *args):
  return module_command("dads_off", *run_flags(logdir, *args))


def drive(logdir, *args, check=True):
  out = run_module("dads_off", *run_flags(logdir, *args))
  if check:
    assert out.returncode == 0, out.stderr[-3000:]
  return out


def error_lines(stderr: str) -> list[str]:
  """The lines a user reads as errors: not absl's I/W log lines, no traceback."""
  assert "Traceback" not in stderr, stderr[-3000:]
  return [l for l in stderr.splitlines() if l.strip() and l[:1] not in "IW"]


def main_in_process(capsys, *args: str) -> tuple[int, list[str]]:
  """dads_off's own main with these flags, in this process: (its exit code, its error
  lines). For a refusal before any work, where a subprocess would only add its start-up
  (~4 s of CPU); start-up, signals, a lock's live holder and training stay subprocesses."""
  capsys.readouterr()  # what came before is not this call's
  code, err = testkit.main_in_process(dads_off.main, ["dads_off", *args], capsys)
  return code, error_lines(err)


def models(logdir):
  return logdir / "point_mass" / "models"


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
  """A tiny run with checkpoints after epochs 1 and 2 (copied by each test that damages it)."""
  logdir = tmp_path_factory.mktemp("base")
  drive(logdir, "--num_epochs=2", "--keep_checkpoints=5")
  return logdir


@pytest.fixture
def run_copy(two_checkpoints, tmp_path):
  dst = tmp_path / "run"
  shutil.copytree(two_checkpoints, dst)
  return dst


def test_divergence_stops_with_the_epoch_and_keeps_good_checkpoints(run_copy):
  before = sorted(os.listdir(models(run_copy)))
  out = drive(run_copy, "--num_epochs=8", "--skill_dynamics_lr=1e6",
              "--override_config=skill_dynamics_lr", check=False)
  assert out.returncode != 0
  (line,) = error_lines(out.stderr)
  assert "training diverged" in line and "epoch" in line and "ckpt-000002" in line
  assert sorted(os.listdir(models(run_copy))) == before  # nothing saved from that state
  checkpoint.verify(str(models(run_copy) / "ckpt-000002"))


def test_damaged_newest_checkpoint_falls_back_with_a_warning(run_copy):
  state = models(run_copy) / "ckpt-000002" / "state.msgpack"
  data = bytearray(state.read_bytes())
  data[len(data) // 2] ^= 0xFF  # one flipped byte in an Adam moment or a weight
  state.write_bytes(bytes(data))
  out = drive(run_copy, "--num_epochs=3")
  warned = [l for l in out.stderr.splitlines() if "ckpt-000002" in l and l.startswith("W")]
  assert warned, out.stderr[-2000:]
  assert "resumed from" in out.stderr and "ckpt-000001" in out.stderr
  assert (models(run_copy) / "ckpt-000002").exists()  # kept for inspection


def test_missing_meta_never_restarts_from_scratch(run_copy, capsys):
  (models(run_copy) / "ckpt-000002" / "meta.json").unlink()
  out = drive(run_copy, "--num_epochs=3")
  assert "resumed from" in out.stderr and "ckpt-000001" in out.stderr
  for name in ("ckpt-000001", "ckpt-000002"):
    meta = models(run_copy) / name / "meta.json"
    if meta.exists():
      meta.unlink()
  (models(run_copy) / "ckpt-000003" / "meta.json").unlink()
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=4"))
  assert code != 0
  (line,) = lines
  assert "no usable checkpoint" in line and "--train_from_scratch=1" in line
  assert len(os.listdir(models(run_copy))) == 3  # nothing deleted


def test_missing_models_folder_stops_unless_from_scratch(run_copy, capsys):
  """A run with logs but no models/ (deleted, moved, or a file in its place) stops with
  one line and touches nothing; models/ exists from a run's start, so an empty one (a run
  killed before its first checkpoint) starts over, hiding the killed run's TensorBoard
  points."""
  run = run_copy / "point_mass"
  progress = (run / "progress.csv").read_bytes()
  events = sorted(os.listdir(run / "train"))
  shutil.rmtree(models(run_copy))
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=3"))
  assert code == 2
  (line,) = lines
  assert f"{models(run_copy)}: missing" in line and "--train_from_scratch=1" in line
  models(run_copy).write_text("not a folder")
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=3",
                                                   "--train_from_scratch=1"))
  assert code == 2
  (line,) = lines
  assert f"{models(run_copy)}: is a file" in line
  assert (run / "progress.csv").read_bytes() == progress
  assert sorted(os.listdir(run / "train")) == events
  models(run_copy).unlink()
  models(run_copy).mkdir()  # what a run killed before its first checkpoint leaves
  drive(run_copy, "--num_epochs=1")
  # The killed run's epoch 2 (step 120) is hidden: each step has the new run's value.
  assert read_scalars(str(run))["epoch"] == {80: 1.0}
  assert [r.split(",")[0] for r in (run / "progress.csv").read_text().splitlines()] == [
      "epoch", "1"]


def test_newest_checkpoint_replaced_by_a_file_is_warned_about_and_cleaned(run_copy):
  newest = models(run_copy) / "ckpt-000002"
  shutil.rmtree(newest)
  newest.write_text("not a checkpoint")
  out = drive(run_copy, "--num_epochs=3")
  warned = [l for l in out.stderr.splitlines() if l.startswith("W") and str(newest) in l]
  assert len(warned) == 1 and "not a checkpoint folder" in warned[0], out.stderr[-2000:]
  assert "resumed from" in out.stderr and "ckpt-000001" in out.stderr
  assert sorted(os.listdir(models(run_copy))) == ["ckpt-000001", "ckpt-000002", "ckpt-000003"]
  checkpoint.verify(str(newest))  # written again whole; nothing .tmp left behind


def test_damaged_config_json_is_one_line_naming_it(run_copy, capsys):
  """Training reads config.json's record of overrides; evaluation checks config.json
  against the settings its checkpoint carries, and uses the checkpoint's."""
  config = run_copy / "point_mass" / "config.json"
  intact = json.loads(config.read_text())
  config.write_text(json.dumps({**intact, "overrides": 5}))
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=3"))
  assert code == 2
  (line,) = lines
  assert line.startswith(f"dads_off: error: {config}: \"overrides\" must be a list")
  edited = json.loads(json.dumps(intact))
  edited["env"]["max_env_steps"] = 7
  edited["skills"]["skill_type"] = "gaussian"
  config.write_text(json.dumps(edited))
  code, lines = main_in_process(capsys, f"--logdir={run_copy}", *EVAL)
  assert code == 2
  (line,) = lines
  assert f"{config}: differs from the settings" in line and "ckpt-000002" in line
  assert "--max_env_steps: 7 (config.json) vs 20 (checkpoint)" in line
  assert "--skill_type: 'gaussian' (config.json) vs 'cont_uniform'" in line
  edited = json.loads(json.dumps(intact))
  edited["skills"]["num_skills"] = 2.5
  config.write_text(json.dumps(edited))
  with pytest.raises(model_io.EvaluationError,
                     match=r"--num_skills: 2.5 \(config.json\) vs 2 \(checkpoint\)"):
    model_io.load(RunConfig(logdir=str(run_copy), env=EnvConfig(environment="point_mass")))
  assert not (run_copy / "point_mass" / "eval").exists()


@pytest.mark.parametrize("damage", ["truncated_arrays", "garbage_buffer", "meta_list",
                                    "meta_negative_epoch"])
def test_damaged_files_are_named(run_copy, capsys, damage):
  ckpt = models(run_copy) / "ckpt-000002"
  for name in os.listdir(models(run_copy)):
    if name != "ckpt-000002":
      shutil.rmtree(models(run_copy) / name)  # nothing to fall back to: the error shows
  if damage == "truncated_arrays":
    path = ckpt / "arrays.npz"
    path.write_bytes(path.read_bytes()[:100])
  elif damage == "garbage_buffer":
    path = ckpt / "buffer.npz"
    path.write_bytes(b"PK\x03\x04 garbage")
  else:
    path = ckpt / "meta.json"
    meta = json.loads(path.read_text())
    path.write_text("[]" if damage == "meta_list" else json.dumps({**meta, "epoch": -7}))
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=3"))
  assert code != 0
  (line,) = lines
  assert str(ckpt) in line


def test_changed_settings_on_resume_are_refused_unless_overridden(run_copy, capsys):
  code, lines = main_in_process(capsys, *run_flags(run_copy, "--num_epochs=3", "--seed=5",
                                                   "--hidden_layer_size=16"))
  assert code != 0
  (line,) = lines
  assert "--seed: 0 -> 5" in line and "--hidden_layer_size" in line
  drive(run_copy, "--num_epochs=3", "--agent_lr=0.001", "--override_config=agent_lr")
  cfg = json.loads((run_copy / "point_mass" / "config.json").read_text())
  assert cfg["agent"]["agent_lr"] == 0.001
  assert cfg["overrides"] == [{"epoch": 3, "setting": "agent_lr", "from": 0.0003, "to": 0.001}]
  # More epochs is not a change of the learning problem.
  drive(run_copy, "--num_epochs=4", "--agent_lr=0.001")


def _start(logdir, *args):
  return subprocess.Popen(cmd(logdir, "--num_epochs=100000", "--save_freq=1000000", *args),
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _last_epoch(progress) -> int:
  """The epoch of progress.csv's last whole row (0 before the first)."""
  try:
    rows = progress.read_text().splitlines()
    return int(rows[-1].split(",")[0]) if len(rows) >= 2 and rows[-1].count(",") else 0
  except (OSError, ValueError):
    return 0


def test_signal_finishes_the_epoch_saves_and_resumes(tmp_path):
  """SIGINT in a fresh run, then SIGTERM and SIGHUP each in a process that resumed the
  previous one's checkpoint (one run's start-up shared by the three signals)."""
  progress = tmp_path / "point_mass" / "progress.csv"
  epoch = 0
  for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    proc = _start(tmp_path)
    try:
      # A row past `epoch` means an epoch ended inside this process's loop, where the
      # handlers are.
      deadline = time.time() + 300
      while time.time() < deadline and _last_epoch(progress) <= epoch:
        time.sleep(0.2)
      time.sleep(1)  # tiny epochs take ~0.03 s once compiled: more epochs, none saved yet
      proc.send_signal(signum)
      _, err = proc.communicate(timeout=120)
    finally:
      proc.kill()
    assert proc.returncode == 128 + signum, err[-2000:]
    (line,) = error_lines(err)
    assert line.startswith("dads_off: stopped at epoch") and "rerun the same command" in line
    stopped = int(line.split("stopped at epoch ")[1].split()[0])
    assert stopped >= epoch + 1
    assert checkpoint.latest_checkpoint(str(models(tmp_path))).endswith(f"ckpt-{stopped:06d}")
    # Every epoch up to the checkpoint is in TensorBoard, each once.
    values = read_scalars(str(tmp_path / "point_mass"))
    assert sorted(values["epoch"].values()) == list(range(1, stopped + 1))
    epoch = stopped
  # Resuming writes no step twice.
  drive(tmp_path, f"--num_epochs={epoch + 2}")
  values = read_scalars(str(tmp_path / "point_mass"))
  assert sorted(values["epoch"].values()) == list(range(1, epoch + 3))


def _wait_for(path, proc, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline and not path.exists() and proc.poll() is None:
    time.sleep(0.05)
  assert path.exists(), proc.communicate(timeout=60)[1][-2000:]


def _wait_for_handler(proc: subprocess.Popen, signum: int, timeout: float = 120) -> None:
  """Waits until `proc` catches `signum` (Linux: the SigCgt mask of /proc/PID/status),
  so a signal sent then meets the program's handler, not Python's start-up."""
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None:
    with open(f"/proc/{proc.pid}/status") as f:
      caught = next(l for l in f if l.startswith("SigCgt:")).split()[1]
    if int(caught, 16) >> (signum - 1) & 1:
      return
    time.sleep(0.01)
  raise AssertionError(f"no handler for signal {signum} within {timeout} s")


def test_sigterm_during_start_up_prints_a_line_and_leaves_no_lock(tmp_path):
  """SIGTERM while the interpreter loads JAX, and while the run builds its networks (the
  lock is taken): one line, exit 143, nothing left behind."""
  early = subprocess.Popen(cmd(tmp_path / "early"), cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
  _wait_for_handler(early, signal.SIGTERM)  # installed before JAX loads, however slow
  early.send_signal(signal.SIGTERM)
  _, err = early.communicate(timeout=120)
  assert early.returncode == 143, err[-2000:]
  (line,) = error_lines(err)
  assert line.startswith("dads_off: SIGTERM: stopping")
  proc = _start(tmp_path)
  lock = tmp_path / "point_mass" / ".lock"
  _wait_for(lock, proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  (line,) = error_lines(err)
  assert line.startswith("dads_off: SIGTERM: stopping") and "rerun the same command" in line
  assert not lock.exists()


def test_interrupted_evaluation_leaves_eval_as_it_was(run_copy):
  """SIGTERM or kill -9 partway through an evaluation: eval/ is the previous evaluation,
  whole (never a mix of two), SIGTERM prints its line and removes what it had written."""
  run = run_copy / "point_mass"
  previous = run / "eval"
  previous.mkdir()
  (previous / "eval_summary.json").write_text('{"checkpoint": "an earlier one"}')

  def partway():
    proc = subprocess.Popen(module_command("dads_off", f"--logdir={run_copy}", *EVAL),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(
        run.glob(".tmp-*-eval/skills")):
      time.sleep(0.05)
    assert proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
    return proc

  proc = partway()
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  (line,) = error_lines(err)
  assert line.startswith("dads_off: SIGTERM: stopping")
  assert os.listdir(previous) == ["eval_summary.json"]
  assert not list(run.glob(".tmp*")) and not (run / ".lock").exists()
  proc = partway()
  proc.kill()
  proc.wait()
  assert os.listdir(previous) == ["eval_summary.json"]  # the unfinished one lies apart
  assert list(run.glob(".tmp-*-eval"))  # (removed by the next evaluation: test_checkpoint)


def test_second_process_on_a_live_run_is_refused(tmp_path, capsys):
  """The holder is a live process, stopped (SIGSTOP) once it holds the lock so that it
  does not train on meanwhile; the refused ones are this process."""
  proc = _start(tmp_path)
  try:
    lock = tmp_path / "point_mass" / ".lock"
    _wait_for(tmp_path / "point_mass" / "config.json", proc)  # a trained run to evaluate
    assert lock.exists()
    proc.send_signal(signal.SIGSTOP)
    results = [main_in_process(capsys, *run_flags(tmp_path, "--num_epochs=1"))]
    # Evaluation takes the lock too: it never reads checkpoints that training rotates.
    results.append(main_in_process(capsys, f"--logdir={tmp_path}", *EVAL))
    assert proc.poll() is None  # still alive, holding the lock
  finally:
    proc.kill()
    proc.wait()
  for code, lines in results:
    assert code != 0
    (line,) = lines
    assert f"in use by process {proc.pid}" in line
  # The killed process left its lock; the next run takes it over.
  assert lock.exists()
  out = drive(tmp_path, "--num_epochs=1", "--train_from_scratch=1")


def test_full_disk_is_one_line_and_keeps_the_checkpoint(two_checkpoints, tmp_path, capsys):
  mount = tmp_path / "small"
  mount.mkdir()
  made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                        capture_output=True, check=False)
  if made.returncode != 0:
    pytest.skip("cannot mount a small filesystem here: " + made.stderr.decode()[-200:])
  try:
    shutil.copytree(two_checkpoints, mount, dirs_exist_ok=True)  # trained to epoch 2
    free = shutil.disk_usage(mount).free
    (mount / "filler").write_bytes(b"\0" * (free - 8192))  # leave 8 KB
    out = drive(mount, "--num_epochs=4", check=False)
    assert out.returncode != 0
    (line,) = error_lines(out.stderr)
    assert "No space left on device" in line and "ckpt-000002" in line
    leftovers = [p for p in mount.rglob("*") if p.name.startswith(".tmp")]
    assert not leftovers, leftovers
    (mount / "filler").unlink()
    checkpoint.verify(str(models(mount) / "ckpt-000002"))
    drive(mount, "--num_epochs=3")  # resumes once there is room again
    # A full disk during evaluation names the file, and leaves no eval/ half written.
    free = shutil.disk_usage(mount).free
    (mount / "filler").write_bytes(b"\0" * (free - 8192))
    code, lines = main_in_process(capsys, f"--logdir={mount}", *EVAL)
    assert code == 2
    (line,) = lines
    eval_dir = mount / "point_mass" / "eval"
    assert line.startswith(f"dads_off: error: {eval_dir}/") and "No space left" in line
    assert not eval_dir.exists() and not [p for p in mount.rglob("*") if p.name.startswith(".tmp")]
  finally:
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("args,flag", [
    (["--seed=-1"], "--seed=-1"),
    (["--seed=99999999999"], "--seed=99999999999"),
    (["--agent_lr=inf"], "--agent_lr=inf"),
    (["--skill_dynamics_lr=nan"], "--skill_dynamics_lr=nan"),
    (["--mppi_gamma=nan"], "--mppi_gamma=nan"),
    (["--mppi_gamma=-10"], "--mppi_gamma=-10"),
    (["--goals=nan,nan"], "--goals=nan,nan"),
    (["--goals=0,0"], "--goals=0,0"),
    (["--replay_buffer_capacity=1000000000000"], "--replay_buffer_capacity=1000000000000"),
    (["--hidden_layer_size=1000000"], "--hidden_layer_size=1000000"),
    (["--override_config=nonsense"], "--override_config=nonsense"),
    (["--num_skills=1000000", "--skill_type=discrete_uniform"], "--num_skills=1000000"),
    (["--num_envs=100000"], "--num_envs=100000"),
    (["--num_envs=64", "--collect_steps=100", "--initial_collect_steps=128"],
     "--collect_steps=100: must be a multiple of --num_envs=64"),
    (["--num_envs=8", "--initial_collect_steps=100"], "--initial_collect_steps=100"),
    (["--replay_buffer_capacity=16"], "--agent_batch_size=32: larger than the replay buffer"),
    (["--clear_buffer_every_iter=1", "--skill_dyn_batch_size=64"],
     "--skill_dyn_batch_size=64: larger than the replay buffer can ever hold (40"),
    (["--primitive_horizon=21"], "--primitive_horizon=21: must be <= --max_env_steps=20"),
    (["--goals=;;"], "--goals=;;"),
    (["--goals=1,2;;3,4"], "--goals=1,2;;3,4"),
    (["--action_clipping=1e30"], "--action_clipping=1e+30"),
    (["--vid_name=../../../x"], "--vid_name=../../../x"),
    (["--vid_name=a/b"], "--vid_name=a/b"),
])
def test_bad_inputs_get_one_line_before_any_work(tmp_path, capsys, args, flag):
  """The driver's own main, in this process (the subprocess path is tested in
  test_driver.py): one line naming the flag, exit 2, and no run folder."""
  logdir = tmp_path / "run"
  code, lines = main_in_process(capsys, f"--flagfile={TINY}", f"--logdir={logdir}", *args)
  assert code == 2
  (line,) = lines
  assert flag in line
  assert not logdir.exists()  # nothing started


def test_logdir_that_is_a_file_or_cannot_be_made(tmp_path, capsys):
  afile = tmp_path / "afile"
  afile.write_text("x")
  for logdir, words in ((afile, "is a file"), (afile / "sub", "cannot create")):
    code, lines = main_in_process(capsys, *run_flags(logdir))
    assert code != 0
    (line,) = lines
    assert f"--logdir={logdir}" in line and words in line


def test_damaged_exported_model_is_named(tmp_path, capsys):
  """Every file the loader reads is covered by checksums.json and verified before it is
  read; each error names the file that changed."""
  model = tmp_path / "model"
  shutil.copytree(os.path.join(ROOT, "pretrained", "ant_xy"), model)
  run = model / "Ant-v1"
  eval_flags = (f"--logdir={model}", "--run_train=0", "--run_eval=1")
  code, lines = main_in_process(capsys, *eval_flags, "--hidden_layer_size=64")
  assert code != 0  # a flag contradicting the trained run is never ignored
  (line,) = lines
  assert "--hidden_layer_size=64 (trained with 512)" in line
  listing, config = run / "checksums.json", run / "config.json"
  weights = run / "models" / "eval_model.msgpack"
  intact = {p: p.read_bytes() for p in (listing, config, weights)}

  def load_error():
    with pytest.raises((checkpoint.CheckpointError, model_io.EvaluationError)) as info:
      model_io.load(RunConfig(logdir=str(model), env=EnvConfig(environment="Ant-v1")))
    for p, data in intact.items():
      p.write_bytes(data)
    return str(info.value)

  # A damaged hash in checksums.json is named, not the intact model file.
  listed = json.loads(intact[listing])
  listed["files"]["models/eval_model.msgpack"] = "0" * 64
  listing.write_text(json.dumps(listed))
  assert load_error().startswith(f"{listing}: damaged checksum list")
  # A model file whose entry was removed is not trusted: the list's own checksum shows
  # the removal, and without it (an older list) the unlisted file is refused.
  listed = json.loads(intact[listing])
  del listed["files"]["models/eval_model.msgpack"]
  for own_checksum in (True, False):
    if not own_checksum:
      del listed["listing_sha256"]
    listing.write_text(json.dumps(listed))
    weights.write_bytes(intact[weights][:-1] + bytes([intact[weights][-1] ^ 1]))
    assert load_error().startswith(f"{listing}: damaged checksum list" if own_checksum
                                   else f"{weights}: not listed in {listing}")
  # Another environment in config.json: its checksum names it.
  config.write_text(intact[config].decode().replace('"Ant-v1"', '"HalfCheetah-v1"'))
  assert load_error().startswith(f"{config}: damaged model file")
  for text, words in (("{ not json", "Expecting"),
                      (json.dumps({"skills": {"skill_type": "beta"}}), "--skill_type=beta"),
                      (json.dumps({"skills": {"num_skills": 2.5}}),
                       "--num_skills=2.5: must be an integer")):
    config.write_text(text)
    checkpoint.write_checksums(str(run), model_io.EXPORTED_FILES)  # a consistent edit
    message = load_error()
    assert message.startswith(f"{config}: not a readable run configuration"), message
    assert words in message, message
  data = bytearray(intact[weights])
  data[len(data) // 3] ^= 0x40
  weights.write_bytes(bytes(data))
  code, lines = main_in_process(capsys, *eval_flags)
  assert code == 2
  (line,) = lines
  assert str(weights) in line and "damaged" in line


def test_export_model_errors_are_one_line(two_checkpoints, tmp_path):
  afile = tmp_path / "afile"
  afile.write_text("x")
  for args, words in (([f"--logdir={two_checkpoints}", f"--out={afile}",
                        "--environment=point_mass"], f"--out={afile}: is a file"),
                      ([f"--logdir={tmp_path / 'none'}", f"--out={tmp_path / 'o'}"],
                       "no trained run to evaluate"),
                      ([f"--logdir={two_checkpoints}"], "--logdir and --out are required")):
    out = run_module("export_model", *args, timeout=120)
    assert out.returncode == 2, out.stderr
    (line,) = error_lines(out.stderr)
    assert line.startswith("export_model: error: ") and words in line, line
    assert "Unable to initialize backend" not in out.stderr


def test_resumed_logs_purge_what_a_killed_process_wrote_after_its_checkpoint(tmp_path):
  """What a killed process logged after its checkpoint (steps 40, 50) is hidden once the
  resumed process (purge step 40) writes its own: each step keeps one value."""
  from lib.logger import Logger  # pylint: disable=import-outside-toplevel
  train = tmp_path / "train"
  killed = Logger(str(train))
  for step in (10, 20, 30, 40, 50):
    killed.scalars({"x": step}, step)
  killed.close()
  time.sleep(1.1)  # event file names carry the second they were made
  resumed = Logger(str(train), purge_step=40)
  resumed.scalars({"x": -40}, 40)
  resumed.close()
  assert read_scalars(str(tmp_path))["x"] == {10: 10.0, 20: 20.0, 30: 30.0, 40: -40.0}
