#!/usr/bin/env bash
# The model recipe (tools/train_model.sh) on one CUDA GPU in bf16, sized for about 8 minutes of
# one H200 with 16 CPU cores, writing its checkpoints and figures under OUT.
#
#   tools/train_gpu.sh OUT
#
# What the GPU buys is the pretraining: the CPU recipe stops at 1600 steps of batch 4, where the
# forward dynamics model has only begun to use the latent action (README, "Does pretraining keep
# the heading?"); here it is STEPS_PRETRAIN=6000 steps of batch 16 (15 times the clips). Every
# other stage keeps the CPU recipe's length at larger batches. Sizes are environment variables
# (below) and every one is a guess until the first GPU run: OUT/timings.txt then holds each
# stage's wall time, to size the next run. Like the recipe it stops and continues: run it again
# with the same OUT and finished stages are skipped, an interrupted one resumes from its last.pt.
# Results: OUT/work/results/ (probe, bench_accuracy of each head), the shipped candidate at
# OUT/model.pt (post_shipped_head, as the CPU recipe ships).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/train_gpu.sh OUT}
mkdir -p "$OUT"
export STEPS_TOKENIZER=${STEPS_TOKENIZER:-1200} BATCH_TOKENIZER=${BATCH_TOKENIZER:-8}
export STEPS_PRETRAIN=${STEPS_PRETRAIN:-6000} BATCH_PRETRAIN=${BATCH_PRETRAIN:-16}
export STEPS_POSTTRAIN=${STEPS_POSTTRAIN:-800} BATCH_POSTTRAIN=${BATCH_POSTTRAIN:-16}
export STEPS_HEAD=${STEPS_HEAD:-16000} BATCH_HEAD=${BATCH_HEAD:-8}
export WORKERS=${WORKERS:-8} SYNTH_WORKERS=${SYNTH_WORKERS:-16}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1 || true
started=$(date +%s)
# one line per stage of the recipe with the seconds since the start (the recipe's own log lines)
tools/train_model.sh "$OUT/work" cuda 2>&1 | while IFS= read -r line; do
  echo "$line"
  if [[ $line == "[train_model]"* ]]; then echo "$(($(date +%s) - started)) s  $line" >> "$OUT/timings.txt"; fi
done
echo "$(($(date +%s) - started)) s  finished" >> "$OUT/timings.txt"
cp "$OUT/work/post_shipped_head/model.pt" "$OUT/model.pt"
