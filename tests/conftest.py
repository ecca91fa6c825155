"""Shared test set-up: the GL backend is chosen once (subprocesses inherit MUJOCO_GL)."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import envs  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
