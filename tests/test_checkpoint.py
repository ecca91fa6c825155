"""Checkpoints, atomic writes and the logdir lock on tiny pytrees (no training)."""

import errno
import json
import os
import shutil
import socket
import subprocess

import numpy as np
import pytest

from lib import checkpoint
from lib.atomic import atomic_write, atomic_write_json, atomic_write_with, folder_written_whole
from lib.checkpoint import CheckpointError
from lib.run_lock import LockError, RunLock, process_start_time

FROM_SCRATCH = "rerun with --train_from_scratch=1 to start over"


def tiny_state(scale=1.0):
  return {"actor": {"w": np.arange(6, dtype=np.float32).reshape(2, 3) * scale,
                    "b": np.full(3, scale, np.float32)},
          "step": np.asarray(7, np.int32)}


def write_buffer(folder):
  np.savez(os.path.join(folder, "buffer.npz"), obs=np.ones((4, 2), np.float32))


def save(directory, step, keep=3, extra=write_buffer):
  return checkpoint.save(str(directory), step, tiny_state(step),
                         {"epoch": step, "env_steps": 10 * step, "key": [1, 2]},
                         {"physics": np.arange(step + 1, dtype=np.float64)},
                         extra=extra, keep=keep)


def dead_pid():
  proc = subprocess.Popen(["true"])
  proc.wait()
  return proc.pid


def flip_byte(file, offset=None):
  data = bytearray(open(file, "rb").read())
  i = len(data) // 2 if offset is None else offset
  data[i] ^= 0xFF
  open(file, "wb").write(bytes(data))


def error_of(fn, *args):
  with pytest.raises(CheckpointError) as info:
    fn(*args)
  message = str(info.value)
  assert "\n" not in message, message
  return message


def tmp_leftovers(directory):
  return [n for _, dirs, files in os.walk(directory) for n in dirs + files
          if n.startswith(".tmp")]


# --- round trip ------------------------------------------------------------------------------
def test_round_trip_with_format_version_and_checksums(tmp_path):
  path = save(tmp_path, 5)
  assert path == str(tmp_path / "ckpt-000005")
  template = tiny_state(0.0)
  restored = checkpoint.restore_state(path, template)
  want = tiny_state(5)
  for key in ("w", "b"):
    np.testing.assert_array_equal(restored["actor"][key], want["actor"][key])
  assert restored["step"] == 7 and restored["actor"]["w"].dtype == np.float32
  meta, arrays = checkpoint.restore_meta(path)
  assert (meta["epoch"], meta["env_steps"], meta["key"]) == (5, 50, [1, 2])
  np.testing.assert_array_equal(arrays["physics"], np.arange(6))
  on_disk = json.load(open(os.path.join(path, "meta.json")))
  assert on_disk["format_version"] == checkpoint.FORMAT_VERSION == 2
  listed = json.load(open(os.path.join(path, "checksums.json")))["files"]
  assert sorted(listed) == ["arrays.npz", "buffer.npz", "meta.json", "state.msgpack"]
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(5, path)]
  assert checkpoint.latest_valid_checkpoint(str(tmp_path)) == path
  assert not tmp_leftovers(tmp_path)


def test_state_that_does_not_fit_the_template_names_the_leaf(tmp_path):
  path = save(tmp_path, 1)
  template = tiny_state()
  template["actor"]["w"] = np.zeros((3, 3), np.float32)
  message = error_of(checkpoint.restore_state, path, template)
  assert message.startswith(os.path.join(path, "state.msgpack")) and "'w'" in message


def test_no_checkpoint_folder_is_none(tmp_path):
  assert checkpoint.latest_valid_checkpoint(str(tmp_path / "absent")) is None
  (tmp_path / ".tmp-ckpt-000001-1").mkdir()  # a temporary is no checkpoint
  assert checkpoint.latest_valid_checkpoint(str(tmp_path)) is None


# --- damage ----------------------------------------------------------------------------------
def test_old_format_checkpoint_gives_one_line(tmp_path):
  # What the code before format version 2 wrote: no checksums.json, no format_version.
  path = save(tmp_path, 3)
  os.remove(os.path.join(path, "checksums.json"))
  json.dump({"epoch": 3, "env_steps": 30}, open(os.path.join(path, "meta.json"), "w"))
  want = f"{path}: checkpoint from an older format (before version 2); {FROM_SCRATCH}"
  assert error_of(checkpoint.restore_meta, path) == want
  assert error_of(checkpoint.restore_state, path, tiny_state()) == want
  assert error_of(checkpoint.latest_valid_checkpoint, str(tmp_path)) == want


@pytest.mark.parametrize("name", ["state.msgpack", "arrays.npz", "buffer.npz", "meta.json"])
def test_flipped_byte_is_named(tmp_path, name):
  save(tmp_path, 1)
  path = save(tmp_path, 2)
  flip_byte(os.path.join(path, name))
  for message in (error_of(checkpoint.restore_meta, path),
                  error_of(checkpoint.restore_state, path, tiny_state())):
    assert message.startswith(f"{os.path.join(path, name)}: damaged checkpoint file"), message
  # Not silently used: the previous one is, with the damaged one kept for inspection.
  assert checkpoint.latest_valid_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-000001")
  assert os.path.isdir(path)


def test_truncated_arrays_is_named_by_checksum_and_by_reader(tmp_path):
  path = save(tmp_path, 1)
  file = os.path.join(path, "arrays.npz")
  data = open(file, "rb").read()
  open(file, "wb").write(data[:len(data) // 2])
  assert error_of(checkpoint.restore_meta, path).startswith(f"{file}: damaged")
  # With checksums that agree (damage before hashing), the reader's error is still one line.
  checkpoint.write_checksums(path)
  message = error_of(checkpoint.restore_meta, path)
  assert message.startswith(f"{file}: unreadable checkpoint file"), message


def test_garbage_state_with_matching_checksums_is_one_line(tmp_path):
  path = save(tmp_path, 1)
  file = os.path.join(path, "state.msgpack")
  for garbage in (b"not a checkpoint", b"\xc1", b"", b"\x93\x01\x02\x03"):
    open(file, "wb").write(garbage)
    checkpoint.write_checksums(path)
    message = error_of(checkpoint.restore_state, path, tiny_state())
    assert message.startswith(f"{file}: "), message


@pytest.mark.parametrize("meta,why", [
    ([], "a JSON list"),
    ({"format_version": 2, "env_steps": 3}, '"epoch" must be an integer >= 0; missing'),
    ({"format_version": 2, "epoch": -7, "env_steps": 3}, "got -7"),
    ({"format_version": 2, "epoch": 1, "env_steps": "3"}, '"env_steps" must be an integer'),
    ({"format_version": 2, "epoch": True, "env_steps": 3}, "got true"),
])
def test_meta_contents_are_checked(tmp_path, meta, why):
  path = save(tmp_path, 1)
  file = os.path.join(path, "meta.json")
  json.dump(meta, open(file, "w"))
  checkpoint.write_checksums(path)  # the contents, not the checksum, are what is wrong
  message = error_of(checkpoint.restore_meta, path)
  assert message.startswith(f"{file}: damaged checkpoint meta") and why in message, message


def test_meta_not_json_is_named(tmp_path):
  path = save(tmp_path, 1)
  file = os.path.join(path, "meta.json")
  open(file, "wb").write(b"\xff\xfe{")
  checkpoint.write_checksums(path)
  assert error_of(checkpoint.restore_meta, path).startswith(f"{file}: unreadable")


def test_missing_meta_falls_back_with_a_warning(tmp_path, caplog):
  older = save(tmp_path, 1)
  newest = save(tmp_path, 2)
  os.remove(os.path.join(newest, "meta.json"))
  # Still seen: a deleted meta.json is damage, never "no checkpoint, start over".
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(1, older), (2, newest)]
  assert checkpoint.latest_checkpoint(str(tmp_path)) == newest
  assert error_of(checkpoint.restore_meta, newest).startswith(
      os.path.join(newest, "meta.json"))
  caplog.clear()
  with caplog.at_level("WARNING"):
    assert checkpoint.latest_valid_checkpoint(str(tmp_path)) == older
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warnings) == 1 and newest in warnings[0] and "meta.json" in warnings[0]
  assert os.path.isdir(newest)  # not deleted


def test_validate_callback_can_reject(tmp_path):
  older = save(tmp_path, 1)
  newest = save(tmp_path, 2)

  def validate(path):
    if path == newest:
      raise CheckpointError(f"{path}: does not fit this run")

  assert checkpoint.latest_valid_checkpoint(str(tmp_path), validate) == older


def test_all_damaged_is_an_error_naming_the_newest(tmp_path):
  for step in (1, 2, 3):
    flip_byte(os.path.join(save(tmp_path, step), "state.msgpack"))
  message = error_of(checkpoint.latest_valid_checkpoint, str(tmp_path))
  newest = str(tmp_path / "ckpt-000003")
  assert message.startswith(f"{newest}: no usable checkpoint; {FROM_SCRATCH}"), message
  assert len(checkpoint.list_checkpoints(str(tmp_path))) == 3


def test_export_folder_checksums(tmp_path):
  (tmp_path / "models").mkdir()
  (tmp_path / "models" / "eval_model.msgpack").write_bytes(b"\x80model")
  (tmp_path / "config.json").write_text("{}")
  checkpoint.write_checksums(str(tmp_path))
  checkpoint.verify_checksums(str(tmp_path))
  flip_byte(str(tmp_path / "config.json"), 0)
  message = error_of(checkpoint.verify_checksums, str(tmp_path), "model file")
  assert message.startswith(f"{tmp_path / 'config.json'}: damaged model file")
  (tmp_path / "config.json").write_text("{}")
  os.remove(tmp_path / "models" / "eval_model.msgpack")
  message = error_of(checkpoint.verify_checksums, str(tmp_path))
  assert message.startswith(f"{tmp_path / 'models' / 'eval_model.msgpack'}: missing")
  os.remove(tmp_path / "checksums.json")
  assert error_of(checkpoint.verify_checksums, str(tmp_path)).startswith(
      f"{tmp_path / 'checksums.json'}: missing")


def test_checksums_tell_a_changed_entry_from_a_changed_file(tmp_path):
  """checksums.json carries its own checksum: a changed entry names checksums.json, not
  the intact file it lists; a file the loader reads must be listed."""
  (tmp_path / "models").mkdir()
  (tmp_path / "models" / "eval_model.msgpack").write_bytes(b"\x80model")
  (tmp_path / "config.json").write_text("{}")
  required = ("config.json", "models/eval_model.msgpack")
  checkpoint.write_checksums(str(tmp_path), required)
  checkpoint.verify_checksums(str(tmp_path), "model file", required)
  listing = tmp_path / "checksums.json"
  intact = listing.read_text()
  edited = json.loads(intact)
  edited["files"]["models/eval_model.msgpack"] = "0" * 64
  listing.write_text(json.dumps(edited))
  message = error_of(checkpoint.verify_checksums, str(tmp_path), "model file", required)
  assert message.startswith(f"{listing}: damaged checksum list") and "may be intact" in message
  # An entry removed (and the list's own checksum with it) while the file is changed: the
  # file is not used unverified.
  edited = json.loads(intact)
  del edited["files"]["models/eval_model.msgpack"], edited["listing_sha256"]
  listing.write_text(json.dumps(edited))
  flip_byte(str(tmp_path / "models" / "eval_model.msgpack"))
  message = error_of(checkpoint.verify_checksums, str(tmp_path), "model file", required)
  assert message.startswith(f"{tmp_path / 'models' / 'eval_model.msgpack'}: not listed in "
                            f"{listing}")
  # A list without its own checksum (written before it had one) says either may differ.
  listing.write_text(intact)
  old_style = json.loads(intact)
  del old_style["listing_sha256"]
  listing.write_text(json.dumps(old_style))
  message = error_of(checkpoint.verify_checksums, str(tmp_path), "model file", required)
  assert "eval_model.msgpack: damaged model file" in message and "entry may be" in message


def test_a_file_in_a_checkpoint_folder_that_its_list_lacks_is_damage(tmp_path):
  path = save(tmp_path, 1)
  (tmp_path / "ckpt-000001" / "extra.npz").write_bytes(b"unlisted")
  message = error_of(checkpoint.verify, path)
  assert message.startswith(f"{tmp_path / 'ckpt-000001' / 'extra.npz'}: not listed")


def test_a_checkpoint_replaced_by_a_file_is_warned_about_and_replaced_whole(tmp_path, caplog):
  save(tmp_path, 1)
  save(tmp_path, 2)
  shutil.rmtree(tmp_path / "ckpt-000002")
  (tmp_path / "ckpt-000002").write_text("not a checkpoint")
  with caplog.at_level("WARNING"):
    assert checkpoint.latest_valid_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-000001")
  warnings = [r.getMessage() for r in caplog.records if "ckpt-000002" in r.getMessage()]
  assert len(warnings) == 1 and "not a checkpoint folder" in warnings[0]
  # Written again (the resumed run reaches epoch 2): the file is replaced, nothing is left.
  save(tmp_path, 2)
  checkpoint.verify(str(tmp_path / "ckpt-000002"))
  assert not tmp_leftovers(tmp_path)
  # A dead writer's aside copy that is a file is removed too.
  (tmp_path / f".tmp-ckpt-000002-{dead_pid()}-replaced").write_text("moved aside")
  save(tmp_path, 3)
  assert not tmp_leftovers(tmp_path)


def test_a_models_path_that_is_a_file_is_one_line(tmp_path):
  models = tmp_path / "models"
  models.write_text("x")
  message = error_of(checkpoint.latest_valid_checkpoint, str(models))
  assert message.startswith(f"{models}: is a file, not the folder of checkpoints")


# --- rotation, failures, other writers -------------------------------------------------------
def test_rotation_keeps_the_newest_complete(tmp_path):
  for step in range(1, 6):
    save(tmp_path, step, keep=2)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [4, 5]
  # An incomplete folder is not counted or removed by rotation; keep=1 keeps the new one.
  os.remove(str(tmp_path / "ckpt-000004" / "meta.json"))
  save(tmp_path, 6, keep=1)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [4, 6]
  save(tmp_path, 7, keep=0)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [4, 7]
  assert not tmp_leftovers(tmp_path)


def test_full_disk_keeps_older_checkpoints(tmp_path):
  def full_disk(folder):
    open(os.path.join(folder, "buffer.npz"), "wb").write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  save(tmp_path, 1, keep=1)
  kept = save(tmp_path, 2, keep=1)
  before = {n: open(os.path.join(kept, n), "rb").read() for n in os.listdir(kept)}
  message = error_of(save, tmp_path, 3, 1, full_disk)
  assert message == (f"{tmp_path}: could not write checkpoint 3 (No space left on device); "
                     f"kept {kept}")
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(2, kept)]
  assert {n: open(os.path.join(kept, n), "rb").read() for n in os.listdir(kept)} == before
  checkpoint.verify(kept)
  assert not tmp_leftovers(tmp_path)
  # The same step written again and failing leaves the old copy of that step.
  assert error_of(save, tmp_path, 2, 1, full_disk).endswith(f"kept {kept}")
  assert open(os.path.join(kept, "state.msgpack"), "rb").read() == before["state.msgpack"]
  # Nothing before: "kept nothing"; a non-OSError failure propagates as is, cleaned up.
  other = tmp_path / "other"
  assert error_of(save, other, 1, 1, full_disk).endswith("kept nothing")

  def bug(folder):
    raise ValueError("a bug in the callback")

  with pytest.raises(ValueError):
    save(other, 1, extra=bug)
  assert not tmp_leftovers(tmp_path) and checkpoint.list_checkpoints(str(other)) == []


def test_same_step_written_again_replaces_it(tmp_path):
  save(tmp_path, 2)
  path = checkpoint.save(str(tmp_path), 2, tiny_state(9.0), {"epoch": 2, "env_steps": 99}, {})
  assert checkpoint.restore_meta(path)[0]["env_steps"] == 99
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(2, path)]
  assert not tmp_leftovers(tmp_path)


def test_only_dead_writers_temporaries_are_removed(tmp_path):
  live = tmp_path / f".tmp-ckpt-000009-{os.getppid()}"
  dead = tmp_path / f".tmp-ckpt-000009-{dead_pid()}"
  aside = tmp_path / f".tmp-ckpt-000004-{dead_pid()}-replaced"
  for folder in (live, dead, aside):
    folder.mkdir()
    (folder / "state.msgpack").write_bytes(b"partial")
  save(tmp_path, 1)
  assert live.is_dir() and not dead.exists() and not aside.exists()
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(1, str(tmp_path / "ckpt-000001"))]


# --- atomic writes ---------------------------------------------------------------------------
def test_atomic_write_is_complete_or_absent(tmp_path):
  target = tmp_path / "config.json"

  def full_disk(tmp):
    open(tmp, "w").write('{"half": ')
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  with pytest.raises(OSError):
    atomic_write_with(str(target), full_disk)
  assert os.listdir(tmp_path) == []  # absent, and no temporary left
  atomic_write(str(target), '{"a": 1}')
  with pytest.raises(OSError):
    atomic_write_with(str(target), full_disk)
  with pytest.raises(TypeError):
    atomic_write_json(str(target), {"a": object()})
  with pytest.raises(KeyboardInterrupt):
    atomic_write_with(str(target), lambda tmp: (open(tmp, "w").write("x"),
                                                (_ for _ in ()).throw(KeyboardInterrupt())))
  assert target.read_text() == '{"a": 1}' and os.listdir(tmp_path) == ["config.json"]
  atomic_write_json(str(target), {"b": 2})
  assert json.loads(target.read_text()) == {"b": 2}
  atomic_write(str(tmp_path / "raw.bin"), b"\x00\x01")
  assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"
  # np.savez adds ".npz" to a name without it: the temporary name keeps the extension.
  atomic_write_with(str(tmp_path / "a.npz"), lambda tmp: np.savez(tmp, x=np.ones(2)))
  assert sorted(os.listdir(tmp_path)) == ["a.npz", "config.json", "raw.bin"]
  with pytest.raises(FileNotFoundError):  # a writer that writes nothing is an error
    atomic_write_with(str(tmp_path / "none"), lambda tmp: None)


def test_a_failed_write_names_its_file(tmp_path):
  target = tmp_path / "skills" / "traj_plot.png"
  target.parent.mkdir()

  def full_disk(tmp):
    del tmp
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # no file name, as savefig's

  with pytest.raises(OSError) as info:
    atomic_write_with(str(target), full_disk)
  assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC


def test_a_folder_is_replaced_only_when_written_whole(tmp_path):
  final = tmp_path / "eval"
  with folder_written_whole(str(final)) as work:
    (tmp_path / work / "summary.json").write_text("first")
  assert (final / "summary.json").read_text() == "first"
  with pytest.raises(KeyboardInterrupt):  # stopped partway: the old folder stays whole
    with folder_written_whole(str(final)) as work:
      os.makedirs(os.path.join(work, "skills"))
      (tmp_path / work / "summary.json").write_text("second, unfinished")
      raise KeyboardInterrupt
  assert sorted(os.listdir(final)) == ["summary.json"]
  assert (final / "summary.json").read_text() == "first"
  assert not tmp_leftovers(tmp_path)
  # What a killed writer left is removed by the next one; a live writer's is not.
  dead = tmp_path / f".tmp-{dead_pid()}-0123abcd-eval"
  live = tmp_path / f".tmp-{os.getppid()}-0123abcd-eval"
  for folder in (dead, live):
    folder.mkdir()
  with folder_written_whole(str(final)) as work:
    (tmp_path / work / "summary.json").write_text("third")
  assert not dead.exists() and live.exists()
  assert (final / "summary.json").read_text() == "third"


def test_atomic_write_temporary_name(tmp_path):
  seen = []
  atomic_write_with(str(tmp_path / "x.txt"), lambda tmp: (seen.append(tmp),
                                                          open(tmp, "w").write("x")))
  name = os.path.basename(seen[0])
  assert os.path.dirname(seen[0]) == str(tmp_path)
  assert name.startswith(f".tmp-{os.getpid()}-") and name.endswith("-x.txt")


# --- run lock --------------------------------------------------------------------------------
def test_run_lock_excludes_a_live_holder(tmp_path):
  directory = tmp_path / "new" / "logdir"
  with RunLock(str(directory)) as lock:
    holder = json.load(open(lock.path))
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    # Another RunLock in this very process is another user of the directory too.
    with pytest.raises(LockError):
      RunLock(str(directory)).acquire()
  assert not os.path.exists(directory / ".lock")
  # A live other process (our parent) holds it.
  lockfile = directory / ".lock"
  lockfile.write_text(f"{os.getppid()} {socket.gethostname()}\n")
  with pytest.raises(LockError) as info:
    RunLock(str(directory)).acquire()
  assert str(info.value) == (f"{directory} is in use by process {os.getppid()} ({lockfile}); "
                             "stop it first or use another --logdir")
  assert lockfile.read_text().startswith(str(os.getppid()))


@pytest.mark.parametrize("content", ["{pid} {host}\n", '{{"pid": {pid}, "host": "{host}"}}',
                                     "garbage", ""])
def test_run_lock_takes_over_a_dead_or_unreadable_lock(tmp_path, caplog, content):
  lockfile = tmp_path / ".lock"
  lockfile.write_text(content.format(pid=dead_pid(), host=socket.gethostname()))
  caplog.clear()
  with caplog.at_level("WARNING"):
    lock = RunLock(str(tmp_path)).acquire()
  assert json.load(open(lockfile))["pid"] == os.getpid()
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warnings) == 1 and str(lockfile) in warnings[0]
  lock.release()
  assert not lockfile.exists()


def test_run_lock_release_leaves_someone_elses_lock(tmp_path):
  lock = RunLock(str(tmp_path)).acquire()
  (tmp_path / ".lock").write_text(f"{os.getppid()} {socket.gethostname()}\n")
  lock.release()
  assert (tmp_path / ".lock").read_text().startswith(str(os.getppid()))


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="needs Linux /proc")
def test_run_lock_same_pid_of_an_earlier_process_is_stale(tmp_path):
  # Containers restart processes with the same pid: our pid with another start time is a
  # lock left by an earlier process, not a live one.
  (tmp_path / ".lock").write_text(json.dumps(
      {"pid": os.getpid(), "host": socket.gethostname(), "start": "1"}))
  with RunLock(str(tmp_path)):
    assert json.load(open(tmp_path / ".lock"))["start"] != "1"
