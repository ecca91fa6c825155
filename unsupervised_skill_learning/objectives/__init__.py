"""Intrinsic objectives by name. To add one, write objectives/<name>.py with a settings
dataclass, an Objective implementation and a SPEC (see base.ObjectiveSpec), then list
its SPEC below: nothing else needs to change (its settings become flags)."""

from types import MappingProxyType

from unsupervised_skill_learning.objectives import dads, diayn, metra, rnd
from unsupervised_skill_learning.objectives.base import Objective, ObjectiveContext, ObjectiveSpec

OBJECTIVES = MappingProxyType({spec.name: spec for spec in (dads.SPEC, diayn.SPEC, rnd.SPEC,
                                                              metra.SPEC)})

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "ObjectiveSpec"]
