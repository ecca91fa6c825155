"""Environment backends by name (see base.EnvBackend)."""

from unsupervised_skill_learning.backends.base import EnvBackend

BACKENDS = ("host",)

__all__ = ["BACKENDS", "EnvBackend"]
