"""Shared test set-up: the GL backend is chosen once (subprocesses inherit MUJOCO_GL)."""

import os

# One XLA CPU thread: MJX on this 2-core CPU has hung with two XLA threads at large
# batch (tests/test_mjx_*.py run it), never with one. Subprocesses inherit it.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1 "
                      "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import envs  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
