#!/usr/bin/env bash
# What lets configs/paired.json draw thin lines (README, Train on your own paired data): the decoders' last
# activation and the reconstruction distance, on the generated shapes (X: a thin outline on white; Y: the
# shape filled with stripes). Trains configs/paired.json with one change per row for 700 iterations and
# measures checkpoints 350 and 700 (bench/quality.py; the paired correlation is 0 for a blank X).
#   bash bench/paired_ablation.sh [DATA] [DEVICE]    DATA: ./data/shapes by default, generated if missing
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-./data/shapes}
device=${2:-auto}
py=${PYTHON:-python3}
[ -d "$data" ] || "$py" -m dataloader.make_shapes --root "$data"
run() {
  local name=$1
  shift
  echo "=== $name"
  "$py" -m bench.quality --config configs/paired.json --eval-every 350 --set training.max_iters=700 \
    --set "path_to_data=$data" --set "device=$device" "$@"
}
run "tanh output, l1 (the demo's)" --set model.decoder_output=tanh --set training.rec_loss=l1
run "clamp output, l1" --set training.rec_loss=l1
run "clamp output, l2 (configs/paired.json)"
run "clamp output, l2, seed 1" --set seed=1
run "tanh output, l2" --set model.decoder_output=tanh
