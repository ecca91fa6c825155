"""MJX (MuJoCo in JAX) versions of the training environments, as pure functions.

`make_mjx_env(name)` returns an `MJXEnv` whose `reset`, `step` and `observe` are pure
JAX functions of one environment (callers `jax.vmap` them for a batch, and may put them
inside `jax.jit` / `lax.scan`). They reproduce the CPU environments of `envs.locomotion`
and `envs.point_mass`:

- the same MuJoCo model: the CPU environment's own `MjModel` (Gymnasium's v5 XML as our
  CPU env loads it; `envs/assets/point_mass.xml`), with the MJX physics options of
  `envs.physics.MJX_OPTIONS` applied. CPU MuJoCo with `physics="mjx"`
  (`envs.get_environment(name, physics="mjx")`) runs exactly `MJXEnv.mj_model`'s options;
- the same `frame_skip` (5 for all four) and so the same `dt`;
- the same observation layout (qpos then qvel, global position first; point_mass's 8
  numbers), reward (logged only) and termination, and the same reset distributions
  (Gymnasium v5's noise; point_mass's own).

Computation is in JAX's default precision (float32 unless `jax_enable_x64`).

Agreement with CPU MuJoCo (one environment step from the same state and action, CPU
`mj_step` with the same options; MuJoCo 4.0.0 against mujoco-mjx 3.17.0):
- point_mass (implicitfast), HalfCheetah (Euler): qpos, qvel within 1e-4 and 1e-3 in
  float32 (tested); with x64 the forward pass and an Euler step agree to ~1e-13.
- Ant, Humanoid (RK4): the forward pass agrees to ~1e-13 (x64), but MJX's RK4 integrates
  the free joint (torso orientation and linear velocity) ~1e-7 apart from MuJoCo 4.0's per
  sub-step, even with x64 and no contacts. Measured on Ant: within 1e-4 (qpos, qvel) on
  steps where no contact starts or ends; up to 2e-3 in qpos and 0.2 in qvel on a step
  where a foot contact switches (its activation shifts by a sub-step). Long rollouts of
  a chaotic robot diverge from CPU MuJoCo anyway, as they would between any two builds.

Actions arrive already in the environment's bounds (`action_low`, `action_high`), as on
the CPU: MuJoCo clamps `ctrl` to the actuators' ctrlrange (all four models have
ctrllimited actuators), and the control cost uses the action as given, as the CPU
environments do. point_mass clips its action to [-1, 1] explicitly, as its CPU twin.

Nothing here holds mutable state: an `MJXEnv` is a frozen description (hashed by identity,
so it can be closed over by, or passed static to, `jax.jit`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs import registry
from envs.point_mass import ARENA

SUPPORTED = ("Ant-v1", "HalfCheetah-v1", "Humanoid-v1", "point_mass")

# Gymnasium v5's reset noise scales (ant_v5, half_cheetah_v5, humanoid_v5 defaults) and
# point_mass's (envs/point_mass.py).
_RESET_NOISE = {"Ant-v1": 0.1, "HalfCheetah-v1": 0.1, "Humanoid-v1": 1e-2, "point_mass": 0.1}
# Gymnasium v5 Humanoid's healthy torso height range (open interval).
HUMANOID_HEALTHY_Z = (1.0, 2.0)


class EnvState(flax.struct.PyTreeNode):
  """The state of one environment (a batch when vmapped: every leaf gains leading axes).

  data: the full MuJoCo state and its derived quantities (`data.qpos` [nq], `data.qvel`
    [nv], `data.act` [na], `data.ctrl` [nu], `data.time` [], ...).
  """
  data: mjx.Data


@dataclasses.dataclass(frozen=True, eq=False)
class MJXEnv:
  """One environment as pure JAX functions (see the module docstring).

  Attributes:
    name: the registry name ("Ant-v1", "HalfCheetah-v1", "Humanoid-v1", "point_mass").
    obs_dim: observation size (29, 18, 47, 8).
    action_dim: action size (8, 6, 17, 2).
    frame_skip: MuJoCo steps per environment step (5).
    dt: seconds per environment step (`frame_skip * mj_model.opt.timestep`).
    action_low, action_high: float32 [action_dim] bounds of the actions (the CPU
      environment's action space).
    mj_model: the CPU MjModel with the MJX physics options applied (copy it before
      changing it; use it for CPU rendering of MJX states).
    mjx_model: `mjx.put_model(mj_model)` (JAX implementation).
  """
  name: str
  obs_dim: int
  action_dim: int
  frame_skip: int
  dt: float
  action_low: np.ndarray
  action_high: np.ndarray
  mj_model: mujoco.MjModel
  mjx_model: mjx.Model
  reset_noise_scale: float

  # ---------------------------------------------------------------------------------
  def reset(self, key: jax.Array) -> EnvState:
    """A fresh state from the CPU environment's reset distribution.

    Args:
      key: a PRNG key (one environment; vmap over keys for a batch).
    Returns:
      EnvState with qpos [nq], qvel [nv] drawn as Gymnasium v5 does:
        Ant, HalfCheetah: qpos0 + U(-0.1, 0.1), 0.1 * N(0, 1);
        Humanoid: qpos0 + U(-0.01, 0.01), U(-0.01, 0.01);
        point_mass: x, y, heading ~ U(-0.1, 0.1), zero velocity;
      and the derived quantities computed (`mjx.forward`), as `mj_forward` on the CPU.
    """
    m = self.mjx_model
    qpos, qvel = self._initial_qpos_qvel(key)
    data = mjx.make_data(m, impl="jax").replace(qpos=qpos, qvel=qvel)
    return EnvState(data=mjx.forward(m, data))

  def _initial_qpos_qvel(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """reset's random qpos [nq] and qvel [nv] (before mjx.forward)."""
    nq, nv = self.mj_model.nq, self.mj_model.nv
    noise = self.reset_noise_scale
    qpos0 = jnp.asarray(self.mj_model.qpos0, dtype=float)
    k_pos, k_vel = jax.random.split(key)
    if self.name == "point_mass":
      qpos = qpos0.at[:3].set(jax.random.uniform(k_pos, (3,), minval=-noise, maxval=noise))
      qvel = jnp.zeros(nv)
    else:
      qpos = qpos0 + jax.random.uniform(k_pos, (nq,), minval=-noise, maxval=noise)
      if self.name == "Humanoid-v1":
        qvel = jax.random.uniform(k_vel, (nv,), minval=-noise, maxval=noise)
      else:
        qvel = noise * jax.random.normal(k_vel, (nv,))
    return qpos, qvel

  def observe(self, state: EnvState) -> jax.Array:
    """The CPU environment's observation of `state`: float32 [obs_dim].

    Ant: qpos[:15] + qvel[:14]; HalfCheetah: qpos (9) + qvel (9); Humanoid: qpos (24) +
    qvel (23); point_mass: x, y, heading wrapped to [-pi, pi), vx, vy, heading rate,
    cos(heading), sin(heading).
    """
    qpos, qvel = state.data.qpos, state.data.qvel
    if self.name == "point_mass":
      heading = jnp.mod(qpos[2] + jnp.pi, 2 * jnp.pi) - jnp.pi
      obs = jnp.stack([qpos[0], qpos[1], heading, qvel[0], qvel[1], qvel[2],
                       jnp.cos(heading), jnp.sin(heading)])
    else:
      obs = jnp.concatenate([qpos, qvel])
    return obs.astype(jnp.float32)

  def step(self, state: EnvState, action: jax.Array
           ) -> tuple[EnvState, jax.Array, jax.Array, jax.Array]:
    """One environment step: `frame_skip` MJX steps with ctrl = action.

    Args:
      state: EnvState of one environment.
      action: [action_dim], within [action_low, action_high].
    Returns:
      (next state, obs float32 [obs_dim], reward float32 [], terminated bool []).
      Reward (logged only), with v = forward (x) velocity over the step:
        Ant: v - 0.5 |a|^2 + 1; HalfCheetah: v - 0.1 |a|^2;
        Humanoid: 1.25 v + 5 - 0.1 |a|^2; point_mass: 0.
      terminated: a non-finite observation (a diverged simulation); Humanoid also when
        the torso height qpos[2] leaves the open interval (1, 2).
    """
    m = self.mjx_model
    action = jnp.asarray(action, dtype=state.data.ctrl.dtype)
    if self.name == "point_mass":
      action = jnp.clip(action, -1.0, 1.0)
    x_before = state.data.qpos[0]
    data = state.data.replace(ctrl=action)
    data = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(m, d), data)
    if self.name == "point_mass":
      data = _clip_to_arena(m, data)
    next_state = EnvState(data=data)
    obs = self.observe(next_state)
    velocity = (data.qpos[0] - x_before) / self.dt
    ctrl_cost = jnp.sum(jnp.square(action))
    if self.name == "Ant-v1":
      reward = velocity - 0.5 * ctrl_cost + 1.0
    elif self.name == "HalfCheetah-v1":
      reward = velocity - 0.1 * ctrl_cost
    elif self.name == "Humanoid-v1":
      reward = 1.25 * velocity + 5.0 - 0.1 * ctrl_cost
    else:
      reward = jnp.zeros(())
    return next_state, obs, reward.astype(jnp.float32), self.terminated(next_state)

  def terminated(self, state: EnvState) -> jax.Array:
    """`step`'s termination of `state`: bool []. True when the observation is not finite
    (a diverged simulation) and, for Humanoid, when the torso height qpos[2] is outside
    the open interval (1, 2) (Gymnasium v5's healthy range)."""
    terminated = ~jnp.all(jnp.isfinite(self.observe(state)))
    if self.name == "Humanoid-v1":
      low, high = HUMANOID_HEALTHY_Z
      z = state.data.qpos[2]
      terminated = terminated | ~((z > low) & (z < high))
    return terminated


def _clip_to_arena(m: mjx.Model, data: mjx.Data) -> mjx.Data:
  """point_mass's walls, as envs/point_mass.py: the position is clipped to the arena and
  the velocity pushing outward zeroed; derived quantities recomputed when clipped."""
  xy, vxy = data.qpos[:2], data.qvel[:2]
  outside = jnp.abs(xy) > ARENA
  pushing_out = outside & (jnp.sign(vxy) == jnp.sign(xy))
  data = data.replace(qpos=data.qpos.at[:2].set(jnp.clip(xy, -ARENA, ARENA)),
                      qvel=data.qvel.at[:2].set(jnp.where(pushing_out, 0.0, vxy)))
  return jax.lax.cond(jnp.any(outside), lambda d: mjx.forward(m, d), lambda d: d, data)


def make_mjx_env(name: str) -> MJXEnv:
  """The MJX environment `name` (one of `SUPPORTED`).

  Builds the CPU environment with `physics="mjx"` and takes its model, so the MJX model
  is the CPU model (same XML, same compile-time changes) with `physics.MJX_OPTIONS`.

  Raises:
    ValueError (one line, naming --environment) for any other name.
  """
  if name not in SUPPORTED:
    raise ValueError(f"--environment={name}: --backend=mjx supports: {', '.join(SUPPORTED)}")
  cpu_env = registry.get_environment(name, physics="mjx")
  mj_model = cpu_env.unwrapped.model
  frame_skip = int(cpu_env.unwrapped.frame_skip)
  space = cpu_env.action_space
  return MJXEnv(
      name=name,
      obs_dim=int(np.prod(cpu_env.observation_space.shape)),
      action_dim=int(np.prod(space.shape)),
      frame_skip=frame_skip,
      dt=float(mj_model.opt.timestep * frame_skip),
      action_low=np.asarray(space.low, dtype=np.float32),
      action_high=np.asarray(space.high, dtype=np.float32),
      mj_model=mj_model,
      mjx_model=mjx.put_model(mj_model, impl="jax"),
      reset_noise_scale=_RESET_NOISE[name],
  )


def physics_state(env: MJXEnv, state: EnvState) -> np.ndarray:
  """qpos, qvel and act of ONE environment state, concatenated: float64
  [nq + nv + na], to copy back into CPU MuJoCo (see `put_physics_state`)."""
  data = state.data
  if np.ndim(data.qpos) != 1:
    raise ValueError(f"physics_state takes one environment's state; got qpos of shape "
                     f"{np.shape(data.qpos)} (index the batch first)")
  del env
  return np.concatenate([np.asarray(data.qpos, np.float64), np.asarray(data.qvel, np.float64),
                         np.asarray(data.act, np.float64)])


def put_physics_state(env: MJXEnv, data: mujoco.MjData, state_vector: Any) -> None:
  """Writes `physics_state`'s vector into CPU `data` (of `env.mj_model` or the CPU
  environment's model) and runs `mj_forward`, e.g. before rendering a frame."""
  m = env.mj_model
  vector = np.asarray(state_vector, np.float64)
  data.qpos[:] = vector[:m.nq]
  data.qvel[:] = vector[m.nq:m.nq + m.nv]
  data.act[:] = vector[m.nq + m.nv:m.nq + m.nv + m.na]
  mujoco.mj_forward(m, data)
