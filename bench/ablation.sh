#!/usr/bin/env bash
# Which of the demo's departures from the seed makes the shared code disentangle (README, Measurements):
# the learning rate / Adam beta1, the KL scaling, or BatchNorm statistics at evaluation. Trains the
# demo configuration under each optimizer/KL setting and measures every checkpoint with both
# BatchNorm modes (bench/quality.py). Iteration counts, not seconds, are what compare with a CPU run.
#   bash bench/ablation.sh [ITERS] [DEVICE]      e.g. bash bench/ablation.sh 4000 cuda
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-4000}
device=${2:-auto}
py=${PYTHON:-python3}
run() {
  echo "=== $1"
  shift
  "$py" -m bench.quality --eval-every 250 --set "training.max_iters=$iters" --set "device=$device" \
    --set training.sample_freq=100000 --set training.print_freq=500 "$@"
}
run "seed: lr 2e-5, beta1 0.9, KL x batch/pairs" --set training.lr=2e-5 --set training.beta1=0.9
run "demo: lr 2e-4, beta1 0.5, KL x batch/pairs" --set training.lr=2e-4 --set training.beta1=0.5
run "official: lr 2e-4, beta1 0.5, plain KL" --set training.lr=2e-4 --set training.beta1=0.5 --set model.kl_scaling=none
