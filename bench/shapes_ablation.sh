#!/usr/bin/env bash
# Does a lever make configs/paired.json draw the shapes' kind and stripes? Trains it on the generated shapes
# with one change per row for 700 iterations (`"dataset": "shapes"`, so the known-answer measures run) and
# measures checkpoints 350 and 700 (bench/quality.py): kind kept, silhouette IoU, style, stripe correlation.
#   bash bench/shapes_ablation.sh [DATA] [DEVICE]    DATA: ./data/shapes by default, generated if missing
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
    --set dataset=shapes --set "path_to_data=$data" --set "device=$device" \
    --goal "shapes/x2y_kind>=0.95,shapes/y2x_kind>=0.95" "$@"
}
run "configs/paired.json as shipped"
run "no decoder dropout" --set model.dropout=0
run "reconstruction weight x 10" --set training.rec_weight=1000.2
run "interaction KL weight / 10" --set training.inter_kld_weight=0.0035555555555555557
run "l1 reconstruction" --set training.rec_loss=l1
run "shared code of 16" --set model.shared_dim=16
run "the reference port's decoder" --set model.decoder=reference
run "no cross term" --set training.cross_rec_weight=0
