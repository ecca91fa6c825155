"""The policy: a tanh-squashed Gaussian over actions in [-1, 1], given (obs, skill).

`Policy.act(params, obs, skill, key)` is the one acting function: collection, videos and
evaluation all act through it. `HostPolicy` is its NumPy implementation for the
collector's hot loop (a few observations per call, where a jitted call costs ~10x more in
dispatch than in arithmetic): the same parameters, the same formulas, with its noise from
a np.random.Generator; a test checks that both give the same actions for the same noise.

The observation never carries the skill: `inputs` builds the network's input from the
observation less its hidden coordinates (the global position), then the skill.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.distributions import (POLICY_LOG_STD_RANGE, gaussian_log_prob, tanh_gaussian_log_prob,
                               tanh_log_det)
from lib.networks import MLP, glorot_uniform, tf1_variance_scaling

INITS = ("flax", "tf_agents")
# tf-agents' NormalProjectionNetwork: init_means_output_factor=0.1 (the original DADS
# passes it explicitly) for both the means and the state-dependent std heads.
TF_AGENTS_HEAD_SCALE = 0.1


class Policy:
  """Pure functions of the actor's parameters. obs [..., obs_dim], skill [..., dz]."""

  def __init__(self, *, hidden: tuple[int, ...], action_dim: int,
               policy_indices: tuple[int, ...], skill_dim: int, init: str = "flax"):
    """init: how the network's weights start (only `init` depends on it):
      flax:      Flax's defaults, lecun_normal kernels and zero biases everywhere;
      tf_agents: tf-agents 0.4's ActorDistributionNetwork as the original DADS built it:
                 glorot_uniform hidden kernels; the mean and log-std heads (one output
                 layer here, [mean, log_std], whose kernel columns are initialized alike)
                 VarianceScaling(0.1) (fan_in, truncated normal); zero biases, so the
                 std bias starts at 0 (std_bias_initializer_value=0.0).
    """
    if init not in INITS:
      raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    self.hidden = tuple(hidden)
    self.action_dim = action_dim
    self.policy_indices = tuple(policy_indices)
    self.skill_dim = skill_dim
    self.init_kind = init
    if init == "tf_agents":
      self.net = MLP(self.hidden, 2 * action_dim, hidden_init=glorot_uniform,
                     out_init=tf1_variance_scaling(TF_AGENTS_HEAD_SCALE))
    else:
      self.net = MLP(self.hidden, 2 * action_dim)
    self.act = jax.jit(self._act, static_argnames="deterministic")
    # Compiled once per policy: an evaluation makes a PolicyFn per episode, and a jit per
    # PolicyFn compiled again every episode (most of an Ant goal evaluation's time).
    self.act_step = jax.jit(self._act_step, static_argnames="deterministic")
    self.log_prob = jax.jit(self._log_prob)

  @property
  def input_dim(self) -> int:
    return len(self.policy_indices) + self.skill_dim

  def init(self, key) -> dict:
    return self.net.init(key, jnp.zeros((1, self.input_dim)))

  def inputs(self, obs, skill):
    """[..., obs_dim], [..., dz] -> the network's input [..., input_dim]."""
    return jnp.concatenate([obs[..., jnp.asarray(self.policy_indices, jnp.int32)], skill], -1)

  def dist(self, params, obs, skill):
    """(mean, log_std) [..., A] of the pre-tanh Gaussian."""
    mean, log_std = jnp.split(self.net.apply(params, self.inputs(obs, skill)), 2, axis=-1)
    return mean, jnp.clip(log_std, *POLICY_LOG_STD_RANGE)

  def sample(self, params, obs, skill, key):
    """a ~ pi(. | obs, skill) in (-1, 1) [..., A] with log pi(a | obs, skill) [...]."""
    mean, log_std = self.dist(params, obs, skill)
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), gaussian_log_prob(u, mean, log_std) - tanh_log_det(u)

  def _log_prob(self, params, obs, skill, action):
    """log pi(action | obs, skill) [...] of actions in [-1, 1] (stored or clipped ones)."""
    mean, log_std = self.dist(params, obs, skill)
    return tanh_gaussian_log_prob(action, mean, log_std)

  def _act(self, params, obs, skill, key, clip=1.0, deterministic=False):
    """Actions [..., A] in [-clip, clip] and their log-probabilities [...].

    A sample (or tanh(mean) when deterministic), clipped to the action box the run
    allows (--action_clipping), with the log-probability of the action actually taken.
    """
    if deterministic:
      action = jnp.tanh(self.dist(params, obs, skill)[0])
    else:
      action = self.sample(params, obs, skill, key)[0]
    action = jnp.clip(action, -clip, clip)
    return action, self._log_prob(params, obs, skill, action)

  def _act_step(self, params, obs, skill, key, t, clip=1.0, deterministic=False):
    """`act` at step t of an episode, with the key fold_in(key, t)."""
    return self.act(params, obs, skill, jax.random.fold_in(key, t), clip,
                    deterministic=deterministic)

  def host(self, params) -> "HostPolicy":
    return HostPolicy(self, params)


class HostPolicy:
  """`Policy.act` in NumPy on the host, for one set of parameters."""

  def __init__(self, policy: Policy, params):
    layers = jax.device_get(params)["params"]
    # MLP names its layers Dense_0 .. Dense_n in order (hidden layers, then the output).
    self.layers = [(np.asarray(layers[f"Dense_{i}"]["kernel"], np.float32),
                    np.asarray(layers[f"Dense_{i}"]["bias"], np.float32))
                   for i in range(len(policy.hidden) + 1)]
    self.policy_indices = np.asarray(policy.policy_indices)

  def dist(self, obs: np.ndarray, skill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([obs[:, self.policy_indices], skill], 1).astype(np.float32)
    for w, b in self.layers[:-1]:
      x = np.maximum(x @ w + b, 0.0)
    w, b = self.layers[-1]
    mean, log_std = np.split(x @ w + b, 2, axis=-1)
    return mean, np.clip(log_std, *POLICY_LOG_STD_RANGE)

  def act(self, obs: np.ndarray, skill: np.ndarray, noise: np.ndarray | None, clip: float = 1.0
          ) -> tuple[np.ndarray, np.ndarray]:
    """obs [B, obs_dim], skill [B, dz], noise [B, A] standard normal (None: the mean
    action) -> (actions [B, A] in [-clip, clip], log pi(action) [B]), as Policy.act."""
    mean, log_std = self.dist(obs, skill)
    u = mean if noise is None else mean + np.exp(log_std) * noise
    action = np.clip(np.tanh(u), -clip, clip).astype(np.float32)
    return action, tanh_gaussian_log_prob(action, mean, log_std).astype(np.float32)

  def sample(self, obs: np.ndarray, skill: np.ndarray, rng: np.random.Generator,
             clip: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`act` with noise drawn from rng."""
    mean_shape = (len(obs), self.layers[-1][1].shape[0] // 2)
    return self.act(obs, skill, rng.standard_normal(mean_shape), clip)
