"""The probability densities of the project, written once for JAX and NumPy.

- the tanh-squashed diagonal Gaussian of the SAC policy (and of DIAYN's discriminator for
  skills in (-1, 1));
- the mixture of diagonal Gaussians of the skill dynamics.

The NumPy forms exist for the host policy's fast path (acting on a few observations,
where a jitted call costs more in dispatch than in arithmetic); they evaluate the same
expressions in the same order as the JAX forms, so both agree to float32 rounding.
"""

from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

# The policy's log-std range is tf-agents' SAC actor's. The discriminator's floor is
# higher: a discriminator free to shrink its std to e^-20 would make log q(z|s), and with
# it the DIAYN reward, unbounded.
POLICY_LOG_STD_RANGE = (-20.0, 2.0)
DISCRIMINATOR_LOG_STD_RANGE = (-5.0, 2.0)
# Actions are kept this far inside (-1, 1) before arctanh, so a stored action of exactly
# +-1 has a finite pre-image.
TANH_EPS = 1e-6
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _xp(*arrays):
  """jnp when any argument is a JAX array (tracers included), else np."""
  return jnp if any(isinstance(x, jax.Array) for x in arrays) else np


def gaussian_log_prob(u, mean, log_std):
  """log N(u; mean, diag exp(log_std)^2) summed over the last axis: [..., A] -> [...]."""
  xp = _xp(u, mean, log_std)
  return xp.sum(-0.5 * ((u - mean) / xp.exp(log_std)) ** 2 - log_std - _HALF_LOG_2PI, axis=-1)


def tanh_log_det(u):
  """log |d tanh(u) / du| summed over the last axis, in a numerically stable form."""
  xp = _xp(u)
  softplus = jax.nn.softplus if xp is jnp else (lambda x: np.logaddexp(0.0, x))
  return xp.sum(2.0 * (math.log(2.0) - u - softplus(-2.0 * u)), axis=-1)


def tanh_gaussian_log_prob(action, mean, log_std):
  """log pi(action) [...] of actions [..., A] in [-1, 1] under tanh(N(mean, std^2))."""
  xp = _xp(action, mean, log_std)
  u = xp.arctanh(xp.clip(action, -1.0 + TANH_EPS, 1.0 - TANH_EPS))
  if xp is np:
    u = u.astype(np.float32)
  return gaussian_log_prob(u, mean, log_std) - tanh_log_det(u)


class MixtureParams(flax.struct.PyTreeNode):
  """A mixture of K diagonal Gaussians over D numbers."""

  logits: jnp.ndarray   # [..., K]
  means: jnp.ndarray    # [..., K, D]
  log_std: jnp.ndarray  # [..., K, D]


def mixture_log_prob(params: MixtureParams, y: jnp.ndarray) -> jnp.ndarray:
  """log sum_k pi_k N(y; mu_k, diag sigma_k^2); y [..., D] -> [...]."""
  y = y[..., None, :]
  comp = jnp.sum(-0.5 * ((y - params.means) / jnp.exp(params.log_std)) ** 2 - params.log_std
                 - _HALF_LOG_2PI, -1)
  return jax.nn.logsumexp(jax.nn.log_softmax(params.logits, -1) + comp, -1)


def mixture_mean(params: MixtureParams, mode: str = "mean") -> jnp.ndarray:
  """The mixture's mean [..., D], or with mode='most_likely' the mean of the most
  probable component."""
  weights = jax.nn.softmax(params.logits, -1)
  if mode == "most_likely":
    weights = jax.nn.one_hot(jnp.argmax(params.logits, -1), params.logits.shape[-1])
  elif mode != "mean":
    raise ValueError(f"prediction mode must be mean or most_likely; got {mode!r}")
  return jnp.sum(weights[..., None] * params.means, -2)
