"""Shared test set-up, inherited by the driver subprocesses the tests start.

- The GL backend is chosen once (envs sets MUJOCO_GL).
- One XLA CPU thread: MJX on this 2-core CPU has hung with two XLA threads at large
  batch (tests/test_mjx_*.py run it), never with one.
- A persistent compilation cache: the tests start dozens of tiny runs that compile the
  same functions; a cached executable is the same program, so results are unchanged.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1 "
                      "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(ROOT, ".pytest_cache", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import envs  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
