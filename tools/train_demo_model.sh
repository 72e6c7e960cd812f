#!/usr/bin/env bash
# Reproduce the previous shipped model (tiny config, 64x32; `make demo` now ships the compact
# model of tools/train_model.sh). Writes WORK_DIR/post/model.pt only.
#
#   tools/train_demo_model.sh [WORK_DIR]      (about 18 minutes on 2 CPU cores)
#
# Synthetic data only: 8 greyscale drives (128x64, 300 frames at 10 Hz, vertical FoV 28-42
# degrees), 250 six-frame clips each at 1-4 fps; the tiny config trained in the three stages
# (tokenizer 1500 steps, pretraining 1500, post-training 2000); then evaluated on the shared
# KITTI sample with the baselines. It demonstrates the pipeline, not the method at scale (see
# the README's results).
set -euo pipefail
cd "$(dirname "$0")/.."
LA_POSE=.venv/bin/la-pose
WORK=${1:-runs/demo_model}
KITTI=../shared/data/kitti_odometry_00_f0000-0090
mkdir -p "$WORK"
for seed in 0 1 2 3 4 5 6 7; do
  "$LA_POSE" synth --out "$WORK/drives/s$seed" --frames 300 --seed "$seed" --size 128x64 \
    --grayscale --fov-deg $((28 + 2 * seed)) --workers 2 > /dev/null
  "$LA_POSE" shards --sequence "$WORK/drives/s$seed" --out "$WORK/shards" --clips 250 \
    --seed "$seed" --clip-len 6 --clips-per-shard 125 --prefix "s$seed" > /dev/null
done
"$LA_POSE" train tokenizer --config tiny --data "$WORK/shards" --out "$WORK/tok" --steps 1500 --batch-size 4 --checkpoint-every 500
"$LA_POSE" train pretrain --init "$WORK/tok/model.pt" --data "$WORK/shards" --out "$WORK/pre" --steps 1500 --batch-size 4 --checkpoint-every 500
"$LA_POSE" train posttrain --init "$WORK/pre/model.pt" --data "$WORK/shards" --out "$WORK/post" --steps 2000 --batch-size 8 --checkpoint-every 500
"$LA_POSE" evaluate --checkpoint "$WORK/post/model.pt" --sequence "$KITTI" --out "$WORK/eval_kitti"
echo "wrote $WORK/post/model.pt; KITTI evaluation in $WORK/eval_kitti"
