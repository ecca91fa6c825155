"""DADS and off-DADS: unsupervised skill discovery with skill dynamics, in JAX.

The public Python API is `load_skills` (see unsupervised_skill_learning/api.py and
docs/api.md):

  from unsupervised_skill_learning import load_skills
"""

__all__ = ["load_skills"]


def __getattr__(name: str):
  # Imported on first use: the command-line entry points of this package parse their
  # flags before JAX and MuJoCo load, which importing the API here would undo.
  if name == "load_skills":
    # pylint: disable-next=import-outside-toplevel
    from unsupervised_skill_learning.api import load_skills
    return load_skills
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
