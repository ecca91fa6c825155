"""Skill priors p(z): the one place skills are sampled, on the host and on device.

Every component that draws skills (the skill wrapper, the DADS reward's alternative
skills, relabelling, the planners' baselines) goes through `SkillPrior`, so the four
copies of the original's sampling code collapse into this one.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

PRIOR_KINDS = ("discrete_uniform", "cont_uniform", "gaussian", "multivariate_bernoulli",
               "cont_sphere")
# project() of a vector shorter than this on the sphere: the first axis (a fixed, valid
# direction; a zero vector has none of its own).
_MIN_NORM = 1e-12


@dataclasses.dataclass(frozen=True)
class SkillPrior:
  """A distribution over skills z of size `dim`.

  kind:
    discrete_uniform: one-hot vectors, each of the `dim` skills equally likely.
    cont_uniform: uniform in [-1, 1]^dim.
    gaussian: standard normal N(0, I).
    multivariate_bernoulli: independent fair coins in {0, 1}^dim.
    cont_sphere: uniform on the unit sphere S^(dim-1) (a standard normal vector divided
      by its norm, as METRA's continuous skills): every direction equally likely.
  """

  kind: str
  dim: int

  def __post_init__(self):
    if self.kind not in PRIOR_KINDS:
      raise ValueError(f"skill_type must be one of {', '.join(PRIOR_KINDS)}; got {self.kind!r}")
    if self.dim <= 0:
      raise ValueError(f"num_skills must be a positive integer; got {self.dim}")

  @property
  def is_discrete(self) -> bool:
    return self.kind == "discrete_uniform"

  @property
  def bounds(self) -> tuple[float, float]:
    """Per-coordinate range of the support (a box around it; for the sphere [-1, 1])."""
    if self.kind == "gaussian":
      return (-3.0, 3.0)
    if self.kind in ("cont_uniform", "cont_sphere"):
      return (-1.0, 1.0)
    return (0.0, 1.0)

  def project(self, z: jax.Array) -> jax.Array:
    """Maps any vectors z [..., dim] into the support (the nearest point of it):
    gaussian: unchanged (its support is all of R^dim; planners may still clip to `bounds`);
    cont_uniform: clipped to [-1, 1]; cont_sphere: z / |z| (a zero vector goes to the
    first axis); multivariate_bernoulli: each coordinate rounded to 0 or 1;
    discrete_uniform: the one-hot vector of the largest coordinate (ties: the first)."""
    if self.kind == "gaussian":
      return z
    if self.kind == "cont_uniform":
      return jnp.clip(z, -1.0, 1.0)
    if self.kind == "cont_sphere":
      norm = jnp.linalg.norm(z, axis=-1, keepdims=True)
      first_axis = jnp.zeros_like(z).at[..., 0].set(1.0)
      return jnp.where(norm > _MIN_NORM, z / jnp.maximum(norm, _MIN_NORM), first_axis)
    if self.kind == "multivariate_bernoulli":
      return (z > 0.5).astype(z.dtype)
    return jax.nn.one_hot(jnp.argmax(z, -1), self.dim, dtype=z.dtype)

  def sample(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Host sample: float32 [dim] when n is None, else [n, dim]."""
    shape = (1 if n is None else n, self.dim)
    if self.kind == "discrete_uniform":
      # One-hot rows set in place: no dim x dim identity (37 GiB for 100,000 skills).
      z = np.zeros(shape, np.float32)
      z[np.arange(shape[0]), rng.integers(0, self.dim, size=shape[0])] = 1.0
    elif self.kind == "cont_uniform":
      z = rng.uniform(-1.0, 1.0, size=shape)
    elif self.kind == "gaussian":
      z = rng.standard_normal(size=shape)
    elif self.kind == "cont_sphere":
      z = rng.standard_normal(size=shape)
      z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    else:
      z = rng.integers(0, 2, size=shape)
    z = z.astype(np.float32)
    return z[0] if n is None else z

  def sample_jax(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Device sample: float32 [*shape, dim]."""
    full = (*shape, self.dim)
    if self.kind == "discrete_uniform":
      idx = jax.random.randint(key, shape, 0, self.dim)
      return jax.nn.one_hot(idx, self.dim, dtype=jnp.float32)
    if self.kind == "cont_uniform":
      return jax.random.uniform(key, full, jnp.float32, -1.0, 1.0)
    if self.kind == "gaussian":
      return jax.random.normal(key, full, jnp.float32)
    if self.kind == "cont_sphere":
      z = jax.random.normal(key, full, jnp.float32)
      return z / jnp.linalg.norm(z, axis=-1, keepdims=True)
    return jax.random.bernoulli(key, 0.5, full).astype(jnp.float32)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """log p(z) for z of shape [..., dim]; returns [...]. Assumes z is in the support."""
    batch = z.shape[:-1]
    if self.kind == "discrete_uniform":
      return jnp.full(batch, -math.log(self.dim), jnp.float32)
    if self.kind == "cont_uniform":
      return jnp.full(batch, -self.dim * math.log(2.0), jnp.float32)
    if self.kind == "gaussian":
      return -0.5 * jnp.sum(z**2, axis=-1) - 0.5 * self.dim * math.log(2 * math.pi)
    if self.kind == "cont_sphere":
      return jnp.full(batch, -sphere_log_area(self.dim), jnp.float32)
    return jnp.full(batch, -self.dim * math.log(2.0), jnp.float32)

  def enumerate(self) -> np.ndarray:
    """All skills of a discrete prior: float32 [dim, dim] one-hot rows."""
    if not self.is_discrete:
      raise ValueError(f"only discrete_uniform skills can be enumerated, not {self.kind}")
    return np.eye(self.dim, dtype=np.float32)


def sphere_log_area(dim: int) -> float:
  """log of the surface area of the unit sphere S^(dim-1) in R^dim:
  log(2 pi^(dim/2) / Gamma(dim/2)) (dim 1: the two points {-1, 1}, log 2; dim 2: the
  circle, log 2 pi)."""
  return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)
