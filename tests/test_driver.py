"""End-to-end runs of the driver on configs/tiny.txt (seconds per epoch on CPU)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from absl import flags

from lib.video import read_mp4
from lib.tb_scalars import read_scalars
from unsupervised_skill_learning import dads_off
from testkit import ROOT, TINY, assert_scalars_match_after, main_in_process, run_module

EXPECTED_SCALARS = ("episode_size", "episode_return", "intrinsic_reward", "dads/logp",
                    "dads/logp_altz", "dynamics_loss", "critic_loss", "actor_loss",
                    "alpha_loss", "alpha", "perf/env_steps_per_sec", "perf/updates_per_sec")


def drive(logdir, *args, check=True):
  out = run_module("dads_off", f"--flagfile={TINY}", f"--logdir={logdir}", *args)
  if check:
    assert out.returncode == 0, out.stderr[-3000:]
  return out


def scalars(run_dir):
  """{tag: {env_step: value}} from every event file of run_dir/train."""
  return read_scalars(run_dir)


def test_tiny_run_leaves_logs_checkpoints_videos_and_config(tmp_path):
  out = drive(tmp_path)
  assert "Unable to initialize backend" not in out.stderr  # JAX's TPU probe is not news
  run_dir = tmp_path / "point_mass"
  found = scalars(str(run_dir))
  for tag in EXPECTED_SCALARS:
    assert tag in found and len(found[tag]) >= 2, tag
  assert sorted(found["epoch"].values()) == [1, 2, 3]
  # Heading coverage of the skill dynamics, logged with each video round (epoch 2).
  assert set(found["headings/largest_gap_deg"]) == {120}
  assert 0 <= found["headings/empty_bins"][120] <= 18
  assert sorted(found["epoch"]) == [80, 120, 160]  # keyed by env steps (40 initial + 40/epoch)
  ckpts = sorted(os.listdir(run_dir / "models"))
  assert ckpts == ["ckpt-000001", "ckpt-000002", "ckpt-000003"]
  assert {"state.msgpack", "buffer.npz", "meta.json", "arrays.npz", "checksums.json"} <= set(
      os.listdir(run_dir / "models" / "ckpt-000003"))
  videos = run_dir / "videos" / "2"
  for i in range(2):
    frames = read_mp4(str(videos / f"skill_{i}.mp4"))
    assert frames.shape[0] == 21 and frames.shape[-1] == 3
  assert (videos / "traj_plot.png").stat().st_size > 5000
  cfg = json.loads((run_dir / "config.json").read_text())
  assert cfg["env"]["environment"] == "point_mass" and cfg["train"]["num_epochs"] == 3


# Cross-machine comparison with tests/data/golden_tiny_scalars.json (recorded on a 2-core
# AMD EPYC without AVX-512). XLA's CPU code differs between CPU models (vector width,
# fused multiply-adds) in the last bits of float32 results: an AVX-512 machine gave
# alpha_loss -0.011772296391 where the file has -0.011772297323, one float32 ulp. Training
# carries such differences forward continuously (point_mass has no terminations, the
# random draws do not depend on floats), so they stay near their size: changing
# --agent_lr by 1 to 6 ulps (1e-7 to 7e-7 relative) moves every scalar of these 3 epochs
# by at most 1.7e-6 of its tag's scale. So each scalar must be within
#   atol = SCALE_RTOL * (its tag's largest |value| in the file)
# (a scale, not the value itself: intrinsic_reward and q_mean are differences of larger
# numbers and pass near zero, where last-bit errors are large relative to the value).
# 1e-4 leaves about 60x room for differences in many operations at once, and still
# rejects a 0.1% change of the learning rate (2e-3 of q_mean's scale; see
# test_golden_tolerance_rejects_a_changed_learning_rate). Counters computed without
# floating point (epochs, episodes, their lengths) must match exactly.
SCALE_RTOL = 1e-4
EXACT_TAGS = frozenset({"epoch", "episodes", "episode_size"})


def golden_mismatches(found, golden_scalars):
  """[(tag, step, golden value, found value)] of the scalars outside the tolerance."""
  bad = []
  for tag, by_step in golden_scalars.items():
    scale = max(abs(v) for v in by_step.values())
    atol = 0.0 if tag in EXACT_TAGS else SCALE_RTOL * scale
    for step, value in by_step.items():
      got = found[tag][int(step)]
      if not abs(got - value) <= atol:
        bad.append((tag, step, value, got))
  return bad


def golden(name="golden_tiny_scalars.json"):
  return json.loads((Path(ROOT) / "tests" / "data" / name).read_text())


@pytest.mark.parametrize("objective", ["dads", "diayn"])
def test_training_scalars_match_the_golden_file(tmp_path, objective):
  """The same flags and seed give the training scalars of the code before the
  architecture refactor, within the cross-machine tolerance above (bit-for-bit identity
  on one machine is test_resumed_run_continues_exactly's)."""
  want = golden()[objective]
  drive(tmp_path, *want["flags"])
  found = scalars(str(tmp_path / "point_mass"))
  assert sum(len(v) for v in want["scalars"].values()) > 40
  assert golden_mismatches(found, want["scalars"]) == []


def test_golden_tolerance_rejects_a_changed_learning_rate():
  """The tolerance can fail: the scalars of the same run with --agent_lr 0.1% higher
  (recorded in tests/data) are outside it, by far more than last-bit noise."""
  want = golden()["dads"]
  changed = golden("tiny_scalars_agent_lr_plus_0.1pct.json")["dads"]
  assert changed["flags"] == [*want["flags"], "--agent_lr=0.0003003"]
  found = {tag: {int(s): v for s, v in by_step.items()}
           for tag, by_step in changed["scalars"].items()}
  bad = {tag for tag, *_ in golden_mismatches(found, want["scalars"])}
  assert {"q_mean", "critic_loss", "intrinsic_reward"} <= bad


def test_resumed_run_continues_exactly(tmp_path):
  """The same-machine pin: a run stopped at epoch 2 and resumed ends with the scalars and
  parameters of an uninterrupted run, bit for bit (both computed here, so exact equality
  holds on any CPU)."""
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  common = ("--num_epochs=4", "--num_evals=0", "--keep_checkpoints=10")
  drive(straight, *common)
  drive(resumed, "--num_epochs=2", "--num_evals=0", "--keep_checkpoints=10")
  # The same command again (with more epochs) resumes from the epoch-2 checkpoint.
  out = drive(resumed, *common)
  assert "resumed from" in out.stderr
  a, b = scalars(str(straight / "point_mass")), scalars(str(resumed / "point_mass"))
  assert assert_scalars_match_after(a, b, 2) > 20
  # Parameters of the last checkpoint are identical too.
  sa = (straight / "point_mass/models/ckpt-000004/state.msgpack").read_bytes()
  sb = (resumed / "point_mass/models/ckpt-000004/state.msgpack").read_bytes()
  assert sa == sb


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
  """One tiny epoch, checkpointed, given two flags of robots this project does not ship
  (ignored: they are no settings, so resuming without them is the same run):
  (logdir, the finished process). Tests that change the run work on a copy (copy_of)."""
  logdir = tmp_path_factory.mktemp("one_epoch")
  out = drive(logdir, "--num_epochs=1", "--num_evals=0", "--expose_upright=0",
              "--randomize_hfield=0.02")
  return logdir, out


def copy_of(one_epoch, tmp_path):
  """A copy of the one_epoch run's logdir in tmp_path (its own folder to change)."""
  shutil.copytree(one_epoch[0], tmp_path, dirs_exist_ok=True)
  return tmp_path


def test_corrupt_checkpoint_is_an_error_naming_the_file(one_epoch, tmp_path, capsys):
  copy_of(one_epoch, tmp_path)  # a 1-epoch run: ckpt-000001 is its only checkpoint
  state = tmp_path / "point_mass/models/ckpt-000001/state.msgpack"
  state.write_bytes(b"not a checkpoint")
  out = drive(tmp_path, "--num_epochs=2", "--num_evals=0", check=False)
  assert out.returncode != 0
  assert str(state) in out.stderr and "Traceback" not in out.stderr
  # An incompatible one (other network sizes) likewise; an explicit restart works. (Refused
  # before any training starts: dads_off.main in this process saves a process start.)
  code, err = main_in_process(dads_off.main, [
      "dads_off", f"--flagfile={TINY}", f"--logdir={tmp_path}", "--num_epochs=2",
      "--num_evals=0", "--hidden_layer_size=16"], capsys)
  assert code != 0 and "checkpoint" in err
  drive(tmp_path, "--num_epochs=1", "--num_evals=0", "--train_from_scratch=1")


def test_interrupted_checkpoint_write_leaves_previous_usable(one_epoch, tmp_path):
  copy_of(one_epoch, tmp_path)
  models = tmp_path / "point_mass" / "models"
  dead = subprocess.Popen(["true"])
  dead.wait()  # a writer that no longer runs
  half = models / f".tmp-ckpt-000002-{dead.pid}"  # what a kill during a write leaves behind
  half.mkdir()
  (half / "state.msgpack").write_bytes(b"partial")
  out = drive(tmp_path, "--num_epochs=2", "--num_evals=0")
  assert "resumed from" in out.stderr and "ckpt-000001" in out.stderr
  assert sorted(os.listdir(models)) == ["ckpt-000001", "ckpt-000002"]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "configs"))))
def test_every_config_parses_and_validates(name):
  flag_values = flags.FLAGS
  try:
    flag_values(["dads_off", f"--flagfile={os.path.join(ROOT, 'configs', name)}",
                 "--logdir=/tmp/unused"])
    cfg = dads_off.config_from_flags()
  finally:
    flag_values.unparse_flags()
  assert cfg.train.num_epochs > 0 and cfg.env.max_env_steps > 0


def error_lines(stderr):
  """stderr's lines, less absl's INFO and WARNING lines."""
  return [l for l in stderr.splitlines() if l.strip() and not l[:1] in "IW"]


@pytest.mark.parametrize("args,flag", [
    (["--environment=Foo-v0"], "--environment=Foo-v0"),
    (["--skill_type=beta"], "--skill_type=beta"),
    (["--environment=HalfCheetah-v1", "--reduced_observation=2"], "--reduced_observation=2"),
    (["--agent_batch_size=0"], "--agent_batch_size=0"),
    (["--num_skills=-1"], "--num_skills=-1"),
])
def test_invalid_values_give_one_line_errors(tmp_path, capsys, args, flag):
  """dads_off.main in this process, as `python -m` calls it (a real process's exit and
  stderr are test_missing_flagfile_is_one_line_from_a_real_process's)."""
  code, err = main_in_process(dads_off.main, ["dads_off", f"--logdir={tmp_path}", *args], capsys)
  assert code == 2
  lines = error_lines(err)
  assert len(lines) == 1, err
  assert lines[0].startswith("dads_off: error: ") and flag in lines[0]
  assert not os.listdir(tmp_path)  # nothing started


def test_missing_flagfile_is_one_line_from_a_real_process(tmp_path):
  flag = "--flagfile=configs/missing.txt"
  out = run_module("dads_off", f"--logdir={tmp_path}", flag, timeout=120)
  assert out.returncode != 0
  lines = error_lines(out.stderr)
  assert len(lines) == 1, out.stderr
  assert flag in lines[0]
  assert not os.listdir(tmp_path)  # nothing started


def test_unshipped_robot_flags_are_ignored_with_one_warning(one_epoch):
  out = one_epoch[1]  # trained with --expose_upright=0 --randomize_hfield=0.02
  assert out.returncode == 0
  warnings = [l for l in out.stderr.splitlines() if "robots this project does not ship" in l]
  assert len(warnings) == 1 and "expose_upright" in warnings[0]
