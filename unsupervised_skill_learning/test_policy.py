"""Runs a trained policy for a few episodes and prints each one's return and length.

  python -m unsupervised_skill_learning.test_policy --logdir=runs/ant --episodes=5
  python -m unsupervised_skill_learning.test_policy --logdir=pretrained/ant_xy \\
      --skill=0.3,-0.5 --episodes=3 --deterministic --video=videos/
  python -m unsupervised_skill_learning.test_policy --logdir=runs/ant --checkpoint=50

--logdir: a run's logdir (or its <logdir>/<environment> folder), or an exported model
(export_model's --out). --checkpoint: a checkpoint's epoch (ckpt-N) or folder; default
the newest intact one. Skills: --skill=z1,z2,... or --skill_index=K (discrete priors)
runs --episodes episodes of that skill (a cont_sphere run's --skill is a direction:
it is normalised to unit length); with neither, each skill of a discrete prior
runs --episodes episodes, and for other priors --episodes skills are drawn from the
prior, one episode each. Returns are of the environment's own reward (what the task
pays), not the intrinsic one.

Prints one line per episode on stdout:
  skill=0 z=0.3,-0.5 episode=0 return=123.4 length=200
and a summary on stderr. --video=DIR writes DIR/skill_<k>_episode_<e>.mp4.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
from absl import flags

from unsupervised_skill_learning import cli

__test__ = False  # a command named test_*, not a pytest module

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so that tests and the
  driver (whose --logdir and --seed these would collide with) can import its functions."""
  flags.DEFINE_string("logdir", None, "A run's logdir (or <logdir>/<environment>), or an "
                      "exported model folder.")
  flags.DEFINE_string("checkpoint", "", "Checkpoint epoch N (ckpt-N) or folder; default: the "
                      "newest intact one.")
  flags.DEFINE_integer("episodes", 3, "Episodes per skill (continuous priors without --skill: "
                       "skills drawn, one episode each).")
  flags.DEFINE_string("skill", "", "The skill, comma-separated (e.g. 0.3,-0.5; for "
                      "cont_sphere skills a direction, normalised to unit length).")
  flags.DEFINE_integer("skill_index", -1, "Skill K of a discrete prior.")
  flags.DEFINE_bool("deterministic", False, "Act with the policy's mean action (default: "
                    "sample, as evaluation does).")
  flags.DEFINE_string("video", "", "Folder for one mp4 per episode (none when empty).")
  flags.DEFINE_integer("max_env_steps", 0, "Episode length (0: the run's --max_env_steps).")
  flags.DEFINE_integer("seed", 0, "Seeds the start states, drawn skills and action noise.")


class UsageError(ValueError):
  """Bad input; the message is one line naming the flag."""


def _run_config(logdir: str, seed: int):
  """A RunConfig locating the run at `logdir` (a logdir, or a <logdir>/<environment>
  folder with its config.json) for model_io."""
  # pylint: disable=import-outside-toplevel  (JAX and MuJoCo load after flags are valid)
  from unsupervised_skill_learning.api import run_config_for
  try:
    return run_config_for(logdir, seed)
  except FileNotFoundError:
    raise UsageError(f"--logdir={os.path.normpath(logdir)}: no such folder") from None


def choose_checkpoint(models: str, which: str) -> str:
  """The checkpoint folder `which` names: an epoch N (ckpt-N in `models`), a folder name
  in `models` (ckpt-000050), or a path; UsageError listing the epochs there otherwise."""
  # pylint: disable=import-outside-toplevel
  from lib import checkpoint
  found = checkpoint.list_checkpoints(models)
  if which.strip().isdigit():
    for step, path in found:
      if step == int(which):
        return path
  else:
    for path in (which, os.path.join(models, which)):
      if os.path.isdir(path) and os.path.isfile(os.path.join(path, checkpoint.META)):
        return path
  epochs = ", ".join(str(s) for s, _ in found) or "none"
  raise UsageError(f"--checkpoint={which}: no such checkpoint in {models} (epochs there: "
                   f"{epochs})")


def load_model(logdir: str, which: str = "", seed: int = 0):
  """The trained model at `logdir` (a model_io.TrainedModel): its newest intact
  checkpoint or exported model, or the checkpoint `which` names (see choose_checkpoint).
  `seed` becomes the model's cfg.seed (the run's own settings are kept otherwise)."""
  # pylint: disable=import-outside-toplevel
  from lib import checkpoint
  from unsupervised_skill_learning.evaluation import model_io
  cfg = _run_config(logdir, seed)
  if not which:
    return model_io.load(cfg)

  def choose(models):
    if not checkpoint.list_checkpoints(models) and os.path.exists(
        os.path.join(models, model_io.EVAL_MODEL)):
      raise UsageError(f"--checkpoint={which}: {logdir} is an exported model (no checkpoints); "
                       "drop --checkpoint")
    return choose_checkpoint(models, which)

  return model_io.load(cfg, choose=choose)


@dataclasses.dataclass
class Plan:
  """Which skill each episode runs: skills [N, dz], and per episode its skill's number
  (the discrete index, or its position in the list) and its episode number."""
  skills: np.ndarray
  skill_ids: list[int]
  episode_ids: list[int]


def plan_episodes(prior, episodes: int, skill_text: str, skill_index: int,
                  rng: np.random.Generator) -> Plan:
  """The episodes to run (see the module docstring); UsageError for a bad --skill or
  --skill_index."""
  if episodes < 1:
    raise UsageError(f"--episodes={episodes}: must be >= 1")
  if skill_text and skill_index != -1:
    raise UsageError(f"--skill={skill_text} and --skill_index={skill_index}: give one of them")
  if skill_text:
    try:
      z = np.array([float(v) for v in skill_text.split(",")], np.float32)
    except ValueError:
      raise UsageError(f"--skill={skill_text}: expected {prior.dim} comma-separated "
                       "numbers") from None
    if len(z) != prior.dim or not np.all(np.isfinite(z)):
      raise UsageError(f"--skill={skill_text}: expected {prior.dim} finite numbers (the run's "
                       f"skills are {prior.kind} of dimension {prior.dim})")
    if prior.kind == "cont_sphere":
      if not np.any(z):
        raise UsageError(f"--skill={skill_text}: the run's skills are directions "
                         "(cont_sphere); give a non-zero vector")
      z = np.asarray(prior.project(z), np.float32)  # a direction, normalised to unit length
    ids = [int(np.argmax(z)) if prior.is_discrete else 0] * episodes
    return Plan(np.repeat(z[None], episodes, 0), ids, list(range(episodes)))
  if skill_index != -1:
    if not prior.is_discrete:
      raise UsageError(f"--skill_index={skill_index}: the run's skills are {prior.kind}, not "
                       "discrete; give --skill=z1,z2,... instead")
    if not 0 <= skill_index < prior.dim:
      raise UsageError(f"--skill_index={skill_index}: must be in [0, {prior.dim})")
    return Plan(np.repeat(prior.enumerate()[skill_index][None], episodes, 0),
                [skill_index] * episodes, list(range(episodes)))
  if prior.is_discrete:
    return Plan(np.repeat(prior.enumerate(), episodes, axis=0),
                [k for k in range(prior.dim) for _ in range(episodes)],
                [e for _ in range(prior.dim) for e in range(episodes)])
  return Plan(prior.sample(rng, episodes), list(range(episodes)), [0] * episodes)


def run_episodes(model, plan: Plan, *, deterministic: bool, max_env_steps: int, seed: int,
                video_dir: str = "") -> list:
  """Runs plan's episodes with the model's policy (skills.PolicyFn, one after the other
  in one evaluation env), printing one line each; returns the SkillRollouts."""
  # pylint: disable=import-outside-toplevel
  from unsupervised_skill_learning.evaluation import skills as skill_eval
  cfg = model.cfg
  name = cfg.env.environment
  env = skill_eval.make_eval_env(name, model.parts.prior, np.random.default_rng(
      np.random.SeedSequence(seed, spawn_key=(1,))), max_env_steps, cfg.env.physics)
  policy = skill_eval.PolicyFn(model.parts.learner.policy, model.state.agent.actor, env,
                               clip=cfg.agent.action_clipping, deterministic=deterministic,
                               seed=seed)
  names = [f"skill_{k}_episode_{e}.mp4" for k, e in zip(plan.skill_ids, plan.episode_ids)]
  rollouts = []
  try:
    for i, z in enumerate(plan.skills):
      # One episode at a time, so each line is printed as soon as its episode ends.
      r = skill_eval.run_skills(env, name, policy, [z], video_dir=video_dir or None,
                                video_names=[names[i]], keep_frames=False)[0]
      print(f"skill={plan.skill_ids[i]} z={','.join(f'{v:.3g}' for v in z)} "
            f"episode={plan.episode_ids[i]} return={r.episode_return:.4g} length={r.steps}",
            flush=True)
      rollouts.append(r)
  finally:
    env.close()
  return rollouts


def _fail(message: str) -> None:
  cli.fail("test_policy", message)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}; every setting is a --flag")
  if not FLAGS.logdir:
    _fail("--logdir is required (a run's logdir, or an exported model folder)")
  if FLAGS.max_env_steps < 0:
    _fail(f"--max_env_steps={FLAGS.max_env_steps}: must be >= 0 (0: the run's)")
  cli.quiet_third_party_logs()
  # pylint: disable=import-outside-toplevel
  from lib.checkpoint import CheckpointError
  from unsupervised_skill_learning.evaluation.model_io import EvaluationError
  try:
    model = load_model(FLAGS.logdir, FLAGS.checkpoint.strip(), FLAGS.seed)
    rng = np.random.default_rng(np.random.SeedSequence(FLAGS.seed, spawn_key=(0,)))
    plan = plan_episodes(model.parts.prior, FLAGS.episodes, FLAGS.skill.strip(),
                         FLAGS.skill_index, rng)
    max_steps = FLAGS.max_env_steps or model.cfg.env.max_env_steps
    print(f"{model.checkpoint}: {len(plan.skills)} episodes of at most {max_steps} steps "
          f"({'mean' if FLAGS.deterministic else 'sampled'} actions)", file=sys.stderr)
    rollouts = run_episodes(model, plan, deterministic=FLAGS.deterministic,
                           max_env_steps=max_steps, seed=FLAGS.seed, video_dir=FLAGS.video)
  except (UsageError, CheckpointError, EvaluationError, ValueError) as err:
    _fail(str(err))
  except OSError as err:
    _fail(f"{err.filename or FLAGS.logdir}: {err.strerror or err}")
  returns = np.array([r.episode_return for r in rollouts])
  lengths = np.array([r.steps for r in rollouts])
  print(f"{len(rollouts)} episodes: return {returns.mean():.4g} ± {returns.std():.4g} "
        f"(min {returns.min():.4g}, max {returns.max():.4g}), length {lengths.mean():.1f}"
        + (f"; videos in {FLAGS.video}" if FLAGS.video else ""), file=sys.stderr)


if __name__ == "__main__":
  define_flags()
  cli.run(main, "test_policy", __doc__)
