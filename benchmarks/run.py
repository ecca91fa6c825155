"""The speed suite: prints one table of figures for this machine.

  python -m benchmarks.run              # everything (a few minutes on 2 CPU cores)
  python -m benchmarks.run --only=e     # one item: a b c d e f g h i

Each figure is the median of --repeats timed runs after a warm-up run (compilation
excluded). Items:
  a  raw Ant-v1 env steps/s vs steps/s through our collector -> overhead ratio
  b  SAC updates/s, 64 updates fused in one jitted call (hidden 2x512, batch 256)
  c  DADS reward throughput, batch 256 x L=100 (fast path vs the straightforward one)
  d  one off-policy Ant x-y epoch at the paper's settings (configs/ant_xy_offpolicy.txt)
  e  MPC replanning latency at the paper's settings (50 candidates, 10 refinements, 10 steps)
  f  peak resident memory of a short Ant x-y training run
  g  MJX physics only: Ant-v1 env steps/s at several env counts (--mjx_envs), one jitted
     scan of steps with random actions, the physics options of envs/physics.py
  h  env steps/s with learning, host vs mjx: the paper's update ratio (500 env steps,
     8 + 64 updates per epoch) and a high-throughput setting (--mjx_envs[-1] envs,
     collect 8 steps per env, 8 + 32 updates of batch 4096 per epoch)
  i  one goal-reaching evaluation of the shipped Ant (pretrained/ant_xy) at evaluation
     seed 0: the paper's 6 goals, each with MPC and with random skills (200-step
     episodes), plots included, no videos; each call compiles its planner, as one
     --run_eval does (the policy's compiled act is reused)

g and h are meant for an accelerator (python -m benchmarks.run --only=gh on a GPU
machine with the cuda extra); on a CPU they run with small env counts and say so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

import envs
from lib.transition import Transition
from unsupervised_skill_learning import components
from unsupervised_skill_learning.config import RunConfig
from unsupervised_skill_learning.planning import planners
from unsupervised_skill_learning.training.learner import scan_updates
from unsupervised_skill_learning.training.trainer import Trainer

_ONLY = flags.DEFINE_string("only", "abcdefghi", "Items to run (letters).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats per item (median reported).")
_JSON = flags.DEFINE_string("json", "", "Also write the figures to this JSON file.")
_MJX_ENVS = flags.DEFINE_list("mjx_envs", None, "Env counts for items g and h (default: "
                              "4,16 on a CPU; 1024,4096,16384 on an accelerator).")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_time(fn, repeats: int, warmup: int = 1) -> float:
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def machine() -> str:
  cpu = platform.processor() or "unknown CPU"
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  dev = jax.devices()[0]
  return (f"{cpu}, {os.cpu_count()} cores, JAX {jax.__version__} on {dev.platform} "
          f"({dev.device_kind})")


def ant_paper_config(logdir: str, **overrides) -> RunConfig:
  """configs/ant_xy_offpolicy.txt as a RunConfig (flag names as keywords override it)."""
  settings = dict(environment="Ant-v1", max_env_steps=200, reduced_observation=2,
                  min_steps_before_resample=2000, resample_prob=0.02, skill_type="cont_uniform",
                  num_skills=2, random_skills=100, hidden_layer_size=512, is_clip_eps=10.0,
                  num_epochs=10, initial_collect_steps=2000, collect_steps=500,
                  replay_buffer_capacity=10000, save_model="", num_evals=0)
  return RunConfig.build(logdir=logdir, **{**settings, **overrides})


def _random_batches(rng, n, b, obs_dim=29, skill_dim=2, action_dim=8) -> Transition:
  return Transition(obs=rng.normal(size=(n, b, obs_dim)).astype(np.float32),
                    skill=rng.uniform(-1, 1, (n, b, skill_dim)).astype(np.float32),
                    action=rng.uniform(-1, 1, (n, b, action_dim)).astype(np.float32),
                    next_obs=rng.normal(size=(n, b, obs_dim)).astype(np.float32),
                    reward=np.zeros((n, b), np.float32), terminated=np.zeros((n, b), bool),
                    truncated=np.zeros((n, b), bool),
                    behaviour_logp=np.zeros((n, b), np.float32))


# --- items ----------------------------------------------------------------------------------
def bench_env_and_collector(repeats: int) -> dict:
  steps = 2000
  env = envs.get_environment("Ant-v1")
  env.reset(seed=0)
  actions = np.random.default_rng(0).uniform(-1, 1, (steps, 8))

  def raw():
    env.reset(seed=0)
    for i, a in enumerate(actions):
      env.step(a)
      if i % 200 == 199:
        env.reset()

  raw_time = median_time(raw, repeats)
  out = {"raw_env_steps_per_sec": steps / raw_time}
  for num_envs in (1, 4, 16):
    trainer = Trainer(ant_paper_config("/tmp/bench", num_envs=num_envs, collect_steps=steps))
    actor = trainer.state.agent.actor

    def collect():
      data = trainer.backend.collect(actor, steps)
      trainer.backend.buffer.add_batch(data)

    t = median_time(collect, repeats)
    out[f"collector_steps_per_sec_{num_envs}env"] = steps / t
    out[f"collection_overhead_{num_envs}env"] = t / raw_time
  return out


def bench_sac(repeats: int) -> dict:
  cfg = ant_paper_config("/tmp/bench")
  parts = components.build(cfg, 8)
  sac = parts.learner.sac
  state = sac.init(jax.random.key(0))
  batch = jax.tree.map(jnp.asarray, _random_batches(np.random.default_rng(0), 64, 256))
  update_many = jax.jit(lambda s, b, k: scan_updates(sac.update, s, b, k))

  def run():
    jax.block_until_ready(update_many(state, batch, jax.random.key(1)))

  t = median_time(run, repeats)
  return {"sac_updates_per_sec": 64 / t, "sac_ms_per_update": 1000 * t / 64}


def bench_reward(repeats: int) -> dict:
  cfg = ant_paper_config("/tmp/bench")
  parts = components.build(cfg, 8)
  dads = parts.learner.objective
  state = dads.init(jax.random.key(0))
  batch = jax.tree.map(lambda v: jnp.asarray(v[0]), _random_batches(np.random.default_rng(0), 1, 256))
  fast = jax.jit(lambda s, x, k: dads.reward(s, x, k)[0])
  naive = jax.jit(dads.reward_naive)
  out = {}
  for name, fn in (("fast", fast), ("naive", naive)):
    t = median_time(lambda fn=fn: jax.block_until_ready(fn(state, batch, jax.random.key(0))),
                    repeats)
    out[f"dads_reward_ms_{name}"] = 1000 * t
    out[f"dads_reward_transitions_per_sec_{name}"] = 256 / t
  # The general case (the dynamics also sees the state, e.g. --reduced_observation=0).
  general = ant_paper_config("/tmp/bench", reduced_observation=0)
  g = components.build(general, 8).learner.objective
  gstate = g.init(jax.random.key(0))
  gfast = jax.jit(lambda s, x, k: g.reward(s, x, k)[0])
  t = median_time(lambda: jax.block_until_ready(gfast(gstate, batch, jax.random.key(0))), repeats)
  out["dads_reward_ms_full_observation"] = 1000 * t
  return out


def bench_epoch(repeats: int) -> dict:
  out = {}
  for num_envs in (1, 4):
    trainer = Trainer(ant_paper_config("/tmp/bench", num_envs=num_envs))
    trainer.collect(2000)
    times = []
    trainer.epoch()  # compile
    for _ in range(repeats):
      t0 = time.perf_counter()
      trainer.epoch()
      times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    out[f"epoch_seconds_{num_envs}env"] = t
    out[f"env_steps_per_sec_with_learning_{num_envs}env"] = 500 / t
    out[f"hours_per_million_steps_{num_envs}env"] = 1e6 / 500 * t / 3600
  return out


def bench_mpc(repeats: int) -> dict:
  cfg = ant_paper_config("/tmp/bench")
  parts = components.build(cfg, 8)
  dads = parts.learner.objective
  state = dads.init(jax.random.key(0))
  out = {}
  for skill_only in (True, False):
    pcfg = planners.PlannerConfig(skill_dim=2, skill_only=skill_only)
    planner = planners.make_planner(pcfg, dads.dynamics.predict_next, planners.mppi(pcfg))
    s0, goal, mean = jnp.zeros(2), jnp.array([10.0, 10.0]), planner.init_plan()
    t = median_time(lambda: jax.block_until_ready(
        planner.plan(state, s0, goal, mean, jax.random.key(0))), max(repeats, 20))
    out["mpc_replan_ms" + ("" if skill_only else "_stepwise")] = 1000 * t
  return out


def bench_memory(repeats: int) -> dict:
  del repeats
  code = ("import resource, benchmarks.run as b;"
          "from unsupervised_skill_learning.training.trainer import Trainer;"
          "t = Trainer(b.ant_paper_config('/tmp/bench', num_epochs=3)); t.run();"
          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True, timeout=1200)
  return {"peak_rss_mb_training": int(out.stdout.strip().splitlines()[-1]) / 1024}


def _mjx_env_counts() -> list[int]:
  if _MJX_ENVS.value:
    return [int(n) for n in _MJX_ENVS.value]
  return [4, 16] if jax.default_backend() == "cpu" else [1024, 4096, 16384]


def bench_mjx_physics(repeats: int) -> dict:
  from envs.mjx_envs import make_mjx_env  # pylint: disable=import-outside-toplevel
  env = make_mjx_env("Ant-v1")
  steps = 100
  out = {}
  for n in _mjx_env_counts():
    @jax.jit
    def rollout(key, n=n):
      states = jax.vmap(env.reset)(jax.random.split(key, n))

      def body(s, k):
        action = jax.random.uniform(k, (n, env.action_dim), minval=env.action_low,
                                    maxval=env.action_high)
        s, obs, _, _ = jax.vmap(env.step)(s, action)
        return s, obs[:, 0]
      return jax.lax.scan(body, states, jax.random.split(key, steps))[1]

    t = median_time(lambda: jax.block_until_ready(rollout(jax.random.key(0))), repeats)
    out[f"mjx_physics_env_steps_per_sec_{n}envs"] = n * steps / t
  return out


def bench_learning_host_vs_mjx(repeats: int) -> dict:
  out = {}
  n = _mjx_env_counts()[-1]
  settings = {
      "paper_ratio": dict(collect_steps=500, skill_dyn_train_steps=8, agent_train_steps=64),
      "high_throughput": dict(collect_steps=8 * n, skill_dyn_train_steps=8,
                              agent_train_steps=32, agent_batch_size=4096,
                              skill_dyn_batch_size=4096, replay_buffer_capacity=max(10000, 32 * n)),
  }
  for name, overrides in settings.items():
    for backend, num_envs in (("host", 4), ("mjx", n)):
      if backend == "host" and name == "high_throughput":
        continue  # thousands of CPU MuJoCo envs stepped one by one: not a fair setting
      # Collection counts are whole rounds of num_envs steps (RunConfig requires it): 500
      # and 2000 round up, as the backends did before that was checked.
      rounded = {k: -(-v // num_envs) * num_envs
                 for k, v in dict(overrides, initial_collect_steps=2000).items()
                 if k.endswith("collect_steps")}
      cfg = ant_paper_config("/tmp/bench", backend=backend, num_envs=num_envs,
                             **{**overrides, **rounded})
      trainer = Trainer(cfg)
      trainer.collect(cfg.train.initial_collect_steps)
      trainer.epoch()  # compile
      times = []
      for _ in range(repeats):
        t0 = time.perf_counter()
        trainer.epoch()
        times.append(time.perf_counter() - t0)
      out[f"{name}_{backend}_{num_envs}envs_env_steps_per_sec"] = (
          trainer.backend.steps_per_epoch / statistics.median(times))
  return out


def bench_goal_eval(repeats: int) -> dict:
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning.planning import goal_reaching
  from unsupervised_skill_learning.test_policy import load_model
  model = load_model(os.path.join(ROOT, "pretrained", "ant_xy"), seed=0)
  eval_cfg = dataclasses.replace(model.cfg.eval, goals=(), goal_set="paper",
                                 record_eval_videos=False)
  model = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, eval=eval_cfg))
  t = median_time(lambda: goal_reaching.evaluate_goals(model, "/tmp/bench/goal_eval", 0),
                  repeats)
  return {"goal_eval_seconds_6_paper_goals": t}


ITEMS = {"a": bench_env_and_collector, "b": bench_sac, "c": bench_reward, "d": bench_epoch,
         "e": bench_mpc, "f": bench_memory, "g": bench_mjx_physics,
         "h": bench_learning_host_vs_mjx, "i": bench_goal_eval}


def main(argv):
  del argv
  print(f"machine: {machine()}")
  print(f"median of {_REPEATS.value} after warm-up\n")
  results = {}
  for letter in _ONLY.value:
    figures = ITEMS[letter](_REPEATS.value)
    results.update(figures)
    for name, value in figures.items():
      print(f"  ({letter}) {name:45s} {value:12.3f}")
    sys.stdout.flush()
  if _JSON.value:
    with open(_JSON.value, "w", encoding="utf-8") as f:
      json.dump({"machine": machine(), **results}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
