"""Setting checks shared by every settings dataclass: one line naming the flag."""

from __future__ import annotations

import math


class ConfigError(ValueError):
  """A bad setting; the message starts with the flag to change."""


def require(ok: bool, flag: str, value, allowed: str) -> None:
  """Raises ConfigError('--flag=value: allowed') unless ok."""
  if not ok:
    raise ConfigError(f"--{flag}={value}: {allowed}")


def require_positive(section, *flags: str) -> None:
  """Each named field of `section` is a finite number > 0."""
  for flag in flags:
    value = getattr(section, flag)
    require(math.isfinite(value) and value > 0, flag, value, "must be a positive number")

