"""Environments for skill discovery, created by name through one registry.

MuJoCo fixes its OpenGL backend when first imported, so the backend is chosen here,
before any module of this package imports mujoco.
"""

from lib import rendering

rendering.configure_gl_backend()

# pylint: disable=wrong-import-position
from envs.registry import (ANT_GOALS, POINT_MASS_GOALS, get_environment,  # noqa: E402
                           known_environments, lookup, make_skill_env)
from envs.skill_wrapper import SkillWrapper  # noqa: E402
from envs.specs import ObservationSpec  # noqa: E402

__all__ = ["ANT_GOALS", "POINT_MASS_GOALS", "ObservationSpec", "SkillWrapper",
           "get_environment", "known_environments", "lookup", "make_skill_env"]
