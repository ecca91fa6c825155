"""Setting checks shared by every settings dataclass: one line naming the flag."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping


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



def _is_pair_of_numbers(goal) -> bool:
  return (isinstance(goal, (tuple, list)) and len(goal) == 2
          and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in goal))


# A field's annotation (a string under `from __future__ import annotations`) -> (is the
# value of that type, what to say otherwise). An int where a float is expected is fine
# (JSON writes 1.0 as 1 in some writers); a bool is no number.
_TYPES = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "must be an integer"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "must be a number"),
    "bool": (lambda v: isinstance(v, bool) or v in (0, 1), "must be 0 or 1 (true / false)"),
    "str": (lambda v: isinstance(v, str), "must be a string"),
    "tuple[tuple[float, float], ...]": (
        lambda v: isinstance(v, (tuple, list)) and all(_is_pair_of_numbers(g) for g in v),
        "must be a list of (x, y) goals"),
}


def require_types(kind, values: Mapping) -> None:
  """Each entry of `values` that is a field of dataclass `kind` has the field's type (int,
  float, bool, str, or the goals' list of pairs); ConfigError naming the flag otherwise.
  Run before the dataclass is built, so a "num_skills": 2.5 or "seed": "0" read from a
  run's config.json is one line, never a crash far from it."""
  for field in dataclasses.fields(kind):
    if field.name in values and field.type in _TYPES:
      ok, allowed = _TYPES[field.type]
      value = values[field.name]
      require(ok(value), field.name, repr(value) if isinstance(value, str) else value, allowed)
