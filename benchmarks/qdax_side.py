"""Runs inside QDax's own virtual environment (see benchmarks/compare_qdax.py); imports
nothing of this project. Prints one JSON line of timings of QDax's DADS at given sizes.

  learner: seconds per update (QDax's `update`: one skill-dynamics step + one SAC step
           with its DADS reward), fused 64 at a time with lax.scan as our epochs are.
  loop:    seconds per 'epoch' of 500 env steps on QDax's own Brax Ant (CPU) plus 64
           updates, the ratio of the paper's off-policy Ant setting.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp


def main():
  args = json.loads(sys.argv[1])
  from qdax.baselines.dads import DADS, DadsConfig  # pylint: disable=import-outside-toplevel
  from qdax.core.neuroevolution.buffers.buffer import QDTransition, ReplayBuffer  # pylint: disable=import-outside-toplevel
  hidden, batch, skills = tuple(args["hidden"]), args["batch"], args["num_skills"]
  obs_dim, action_dim, desc_dim = args["obs_dim"], args["action_dim"], 2
  cfg = DadsConfig(batch_size=batch, episode_length=200, learning_rate=3e-4, discount=0.99,
                   reward_scaling=10.0, critic_hidden_layer_size=hidden,
                   policy_hidden_layer_size=hidden, num_skills=skills,
                   descriptor_full_state=False, omit_input_dynamics_dim=desc_dim)
  dads = DADS(cfg, action_size=action_dim, descriptor_size=desc_dim)
  key = jax.random.key(0)
  state = dads.init(key, action_size=action_dim, observation_size=obs_dim, descriptor_size=desc_dim)
  dummy = QDTransition.init_dummy(observation_dim=obs_dim + skills, action_dim=action_dim,
                                  descriptor_dim=desc_dim)
  buffer = ReplayBuffer.init(buffer_size=10000, transition=dummy)
  n = 10000
  k1, k2, k3 = jax.random.split(key, 3)
  fake = QDTransition(
      obs=jax.random.normal(k1, (n, obs_dim + skills)),
      next_obs=jax.random.normal(k2, (n, obs_dim + skills)),
      rewards=jnp.zeros(n), dones=jnp.zeros(n), truncations=jnp.zeros(n),
      actions=jax.random.uniform(k3, (n, action_dim), minval=-1, maxval=1),
      state_desc=jax.random.normal(k1, (n, desc_dim)),
      next_state_desc=jax.random.normal(k2, (n, desc_dim)))
  fake = fake.replace(obs=fake.obs.at[:, obs_dim:].set(
      jax.nn.one_hot(jnp.arange(n) % skills, skills)))
  buffer = buffer.insert(fake)

  @jax.jit
  def updates(state, buffer):
    def body(carry, _):
      s, b = carry
      s, b, m = dads.update(s, b)
      return (s, b), m["critic_loss"]
    (state, buffer), losses = jax.lax.scan(body, (state, buffer), None, length=64)
    return state, losses

  def timed(fn, repeats):
    jax.block_until_ready(fn())
    out = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(fn())
      out.append(time.perf_counter() - t0)
    return sorted(out)[len(out) // 2]

  result = {"qdax_learner_s_per_update": timed(lambda: updates(state, buffer), args["repeats"]) / 64}
  try:
    from qdax.tasks.brax.v2 import create  # pylint: disable=import-outside-toplevel
    from qdax.core.neuroevolution.sac_td3_utils import generate_unroll  # pylint: disable=import-outside-toplevel
    env_batch = skills
    env = create("ant_omni", episode_length=200, batch_size=env_batch)
    env_state = jax.jit(env.reset)(key)
    skill_vectors = jnp.eye(skills)
    play = lambda es, ts: dads.play_step_fn(es, ts, env=env, skills=skill_vectors)  # noqa: E731

    @jax.jit
    def epoch(env_state, state, buffer):
      env_state, state, transitions = generate_unroll(env_state, state, 500 // env_batch, play)
      buffer = buffer.insert(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), transitions))
      state, _ = updates(state, buffer)
      return env_state, state

    result["qdax_loop_s_per_epoch"] = timed(lambda: epoch(env_state, state, buffer), args["repeats"])
    result["qdax_env"] = "QDax ant_omni (Brax, CPU)"
  except Exception as err:  # report, do not hide: the learner figure still stands
    result["qdax_loop_error"] = f"{type(err).__name__}: {err}"[:500]
  result["qdax_jax"] = jax.__version__
  print(json.dumps(result))


if __name__ == "__main__":
  main()
