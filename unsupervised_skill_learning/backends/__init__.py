"""Environment backends (see base.EnvBackend): `host` (host.py) and `mjx` (mjx.py); the
run chooses with --backend (config.EnvConfig.backend)."""

from unsupervised_skill_learning.backends.base import EnvBackend

__all__ = ["EnvBackend"]
