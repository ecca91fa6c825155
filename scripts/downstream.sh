#!/usr/bin/env bash
# One run of the downstream comparison (docs/downstream.md), pinned to CPU cores with one
# XLA thread, so runs can share a small machine.
#
#   bash scripts/downstream.sh TASK METHOD SEED CORES [SKILLS]
#
# TASK: ant_goal | ant_goal_sparse | ... ; METHOD: meta | flat_sac | mpc | random_skills;
# CORES: a taskset list (0, 1 or 0,1); SKILLS: default pretrained/ant_xy.
# Runs go to $DOWNSTREAM_DIR/TASK/METHOD_sSEED (default ../campaign/downstream, outside
# the checkout), 300k env steps, with the log in METHOD_sSEED.log beside it. Rerunning the
# same command resumes the run exactly. Then:
#   python -m unsupervised_skill_learning.downstream.compare --runs=../campaign/downstream \
#       --out=docs/downstream/compare
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
  echo "usage: bash scripts/downstream.sh TASK METHOD SEED CORES [SKILLS]" >&2; exit 2
fi
task=$1 method=$2 seed=$3 cores=$4 skills=${5:-pretrained/ant_xy}
dir=${DOWNSTREAM_DIR:-../campaign/downstream}/$task
mkdir -p "$dir"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
exec taskset -c "$cores" .venv/bin/python -m unsupervised_skill_learning.downstream \
  --skills="$skills" --task="$task" --method="$method" --seed="$seed" \
  --num_env_steps=300000 --logdir="$dir/${method}_s$seed" >>"$dir/${method}_s$seed.log" 2>&1
