#!/usr/bin/env bash
# One run of the Ant x-y experiment campaign (docs/experiments/README.md), pinned to one
# CPU core with one XLA thread, so two runs can share a 2-core machine.
#
#   bash scripts/campaign.sh ARM SEED EPOCHS CORE
#
# ARM: baseline | original | half_entropy | sphere | metra | dyn32
# EPOCHS: 1000 = 500k env steps (stage 1), 2000 = 1M (stage 2; resumes the stage-1 run).
# Runs go to $CAMPAIGN_DIR/ARM/sSEED (default ../campaign, outside the checkout), with the
# log in train.log beside it. Every checkpoint (one per 50k steps, up to 40) is kept: the
# goal metric against env steps is read from them. Rerunning the same command resumes the
# run exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 4 ]; then
  echo "usage: bash scripts/campaign.sh ARM SEED EPOCHS CORE" >&2; exit 2
fi
arm=$1 seed=$2 epochs=$3 core=$4
case "$arm" in
  baseline) arm_flags=() ;;
  # Every one of the original's values at once (the 'original' arm of ant_ablation.yaml).
  original) arm_flags=(--target_entropy_scale=0.5 --normalization=batch
                       --alt_skills=per_transition --agent_init=tf_agents
                       --alpha_loss_sample=fresh --num_envs=1 --mpc_fresh_proposal=2) ;;
  half_entropy) arm_flags=(--target_entropy_scale=0.5) ;;
  sphere) arm_flags=(--skill_type=cont_sphere) ;;
  metra) arm_flags=(--objective=metra --skill_type=cont_sphere) ;;
  # Aimed at an earlier rise of the intrinsic reward: 4x the skill-dynamics updates.
  dyn32) arm_flags=(--skill_dyn_train_steps=32) ;;
  *) echo "campaign: unknown ARM '$arm' (baseline|original|half_entropy|sphere|metra|dyn32)" >&2
     exit 2 ;;
esac
dir=${CAMPAIGN_DIR:-../campaign}/$arm/s$seed
mkdir -p "$dir"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
exec taskset -c "$core" .venv/bin/python -m unsupervised_skill_learning.dads_off \
  --flagfile=configs/ant.txt --logdir="$dir" --seed="$seed" --num_epochs="$epochs" \
  --save_freq=100 --keep_checkpoints=40 "${arm_flags[@]}" >>"$dir/train.log" 2>&1
