"""Physics options for MJX, per environment, as data; and how much they change the physics.

MJX (MuJoCo in JAX) runs the same XML models as the CPU environments, with a few
`MjOption` fields changed (`MJX_OPTIONS`), because MJX has no PGS solver and because the
constraint solver's iteration caps are what batched MJX pays for (a vmapped solver loop
runs until the slowest environment of the batch is done or the cap is hit). Everything
else keeps the XML's values: timestep, integrator (Ant and Humanoid: RK4; HalfCheetah:
Euler, with its implicit joint damping `eulerdamp`, which MJX implements; point_mass:
implicitfast), pyramidal friction cones, contacts, tolerance (1e-8). Nothing is disabled.

| environment    | XML options             | MJX options                          |
| -------------- | ----------------------- | ------------------------------------ |
| Ant-v1         | Newton, 100 it., 50 ls  | Newton, iterations=8, ls_iterations=8 |
| HalfCheetah-v1 | Newton, 100 it., 50 ls  | Newton, iterations=4, ls_iterations=8 |
| Humanoid-v1    | PGS, 50 iterations      | Newton, iterations=8, ls_iterations=8 |
| point_mass     | Newton, 100 it., 50 ls  | Newton, iterations=1, ls_iterations=4 |

How they change the physics: `envs.physics_gap.trajectory_gap(name, options, steps=200,
seed)` runs CPU
MuJoCo twice from the same reset (seed) with the same 200 seeded uniform random actions,
once with the XML's options and once with `options`, and returns the largest distance
between the two torso paths (x-y; x alone for HalfCheetah). Measured with MuJoCo 4.0.0,
seeds 0-9, 200 steps (path length: the XML-options path's length, min / median / max):

| environment    | path length        | gap with MJX_OPTIONS: seed 0 / median / max |
| -------------- | ------------------ | ------------------------------------------- |
| Ant-v1         | 6.9 / 9.3 / 13.2   | 0 / 0 / 0                                   |
| HalfCheetah-v1 | 4.3 / 5.3 / 6.1    | 0 / 0 / 8.6e-5                              |
| Humanoid-v1    | 0.95 / 1.16 / 1.64 | 1.9e-6 / 0.0015 / 0.107                     |
| point_mass     | 1.6 / 1.7 / 2.0    | 0 / 0 / 0                                   |

Other settings, for comparison (seed 0 / median / max over the same ten runs):
- Ant-v1: iterations=4, ls_iterations=8: 1.25 / 4.1 / 7.7; iterations=1, ls_iterations=4:
  4.65 / 3.9 / 7.4; iterations=6, ls_iterations=8: 0 / 0 / 1.5; iterations=7,
  ls_iterations=8: 0 / 0 / 0; iterations=8, ls_iterations=4: 3e-5 / 1.2 / 4.0.
- HalfCheetah-v1: iterations=1, ls_iterations=4: 1.26 / 1.7 / 3.6.
- Humanoid-v1: iterations=4, ls_iterations=8: 0.045 / 0.059 / 0.080; iterations=1,
  ls_iterations=4: 0.145 / 0.185 / 0.64; Newton with 100 iterations: as MJX_OPTIONS.

Reading the numbers: Ant is chaotic (its contacts switch), so ANY change of a step's
solution, however small, grows into a different path: with a cap below what the solver
needs, the path is as different as with a single iteration (it=4, ls=8 is no better than
it=1 over ten seeds; 0.8 on one start, as first measured, is luck). Newton from the warm
start needs at most 6-7 iterations on these runs (CPU histogram of `solver_niter`), so
with 8 the solver converges to its tolerance at every step and the paths are identical
to the XML's: the MJX options do not change Ant's physics. ls_iterations below 8 does
(it=8, ls=4 gaps up to 4). HalfCheetah converges within 4 iterations almost always (gap
below 1e-4). Humanoid's remaining gap is the PGS -> Newton change itself (Newton with its
default 100 iterations gives the same numbers): it is unavoidable in MJX, and small
(under random actions the humanoid falls early; its paths are short). point_mass has no
constraints. Not changed, though MJX would be faster: RK4 -> Euler for Ant (4 forward
passes per sub-step -> 1) moves its paths as much as a low cap (with it=4, ls=8:
4.3 / 2.3 / 6.8 on seeds 0 / 1 / 2).

Cost: MJX's solver loop stops early per environment when converged (from the warm start
it typically needs 1-3 iterations), so under vmap a cap costs only in the steps where
some environment of the batch needs that many. Lowering Ant's or Humanoid's cap to 4
saves solver iterations but changes the physics as measured above.

CPU evaluation of an MJX-trained run uses exactly these options:
`envs.get_environment(name, physics="mjx")` (and `make_skill_env(..., physics="mjx")`)
apply `MJX_OPTIONS` to the model after construction; goal twins (Ant-v1_goal,
point_mass_goal) take their robot's options.

This module is data and `apply`; it imports nothing of `envs` (the registry imports it to
build environments with these options; the measurement, which builds environments by
name, is `envs.physics_gap`).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import mujoco

_SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG,
            "pgs": mujoco.mjtSolver.mjSOL_PGS}
_INTEGRATORS = {"euler": mujoco.mjtIntegrator.mjINT_EULER, "rk4": mujoco.mjtIntegrator.mjINT_RK4,
                "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
                "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT}
_DISABLE = {"eulerdamp": mujoco.mjtDisableBit.mjDSBL_EULERDAMP,
            "warmstart": mujoco.mjtDisableBit.mjDSBL_WARMSTART}


def _frozen(options: dict[str, Any]) -> Mapping[str, Any]:
  return types.MappingProxyType(dict(options))


MJX_OPTIONS: Mapping[str, Mapping[str, Any]] = types.MappingProxyType({
    "Ant-v1": _frozen(dict(solver="newton", iterations=8, ls_iterations=8)),
    "HalfCheetah-v1": _frozen(dict(solver="newton", iterations=4, ls_iterations=8)),
    "Humanoid-v1": _frozen(dict(solver="newton", iterations=8, ls_iterations=8)),
    "point_mass": _frozen(dict(solver="newton", iterations=1, ls_iterations=4)),
})

# Environments that share another's physics (goal-reaching twins of the same robot).
TWINS: Mapping[str, str] = types.MappingProxyType({"Ant-v1_goal": "Ant-v1",
                                                   "point_mass_goal": "point_mass"})

PHYSICS_CHOICES = ("default", "mjx")


def mjx_options(name: str) -> Mapping[str, Any]:
  """The MJX options of environment `name` (goal twins share their robot's).

  Raises ValueError naming --environment when `name` has no MJX physics.
  """
  base = TWINS.get(name, name)
  if base not in MJX_OPTIONS:
    raise ValueError(f"--environment={name} has no MJX physics; --backend=mjx supports: "
                     f"{', '.join(MJX_OPTIONS)}")
  return MJX_OPTIONS[base]


def apply(model: mujoco.MjModel, options: Mapping[str, Any]) -> None:
  """Sets `options` on `model.opt` in place.

  Keys: `solver` ("newton" | "cg" | "pgs"), `iterations`, `ls_iterations` (ints),
  `integrator` ("euler" | "rk4" | "implicitfast" | "implicit"), `disable` (a tuple of
  names among "eulerdamp", "warmstart": the flags are set), and any other numeric field
  of `mujoco.MjOption` (e.g. `timestep`, `tolerance`) set as given.
  """
  opt = model.opt
  for key, value in options.items():
    if key == "solver":
      opt.solver = _SOLVERS[value.lower()]
    elif key == "integrator":
      opt.integrator = _INTEGRATORS[value.lower()]
    elif key == "disable":
      for flag in value:
        opt.disableflags |= int(_DISABLE[flag])
    elif hasattr(opt, key):
      setattr(opt, key, value)
    else:
      raise ValueError(f"unknown MuJoCo option {key!r}")
