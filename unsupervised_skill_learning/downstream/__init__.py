"""Putting trained skills to work on tasks with a reward (see docs/downstream.md).

  tasks.py      the task registry (ant_goal, ..., or module:function)
  envs.py       TaskEnv (the robot with a task's reward) and MetaEnv (skills as actions)
  meta.py       the SAC controllers: the meta-controller over skills, and flat SAC
  baselines.py  zero-shot MPC and random skills
  episodes.py   environments and test episodes
  run.py        a run: logs, checkpoints, resume, videos
  compare.py    the comparison figure and table across methods and seeds
  __main__.py   the command: python -m unsupervised_skill_learning.downstream
"""
