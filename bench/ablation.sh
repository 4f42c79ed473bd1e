#!/usr/bin/env bash
# What makes the demo disentangle fast (README, Measurements): the normalization in the shared feature
# extractor F, the initialization, KL annealing and the KL weights. Trains the demo configuration with
# one change per row and measures every 250th checkpoint (bench/quality.py: retrieval in evaluation mode
# and with batch statistics, translation L1). Iteration counts, not seconds, compare across machines.
#   bash bench/ablation.sh [ITERS] [DEVICE]      e.g. bash bench/ablation.sh 1000 cpu
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-1000}
device=${2:-auto}
py=${PYTHON:-python3}
run_every() {
  local every=$1 name=$2
  shift 2
  echo "=== $name"
  "$py" -m bench.quality --eval-every "$every" --set "training.max_iters=$iters" --set "device=$device" \
    --set training.sample_freq=100000 --set training.print_freq=250 "$@"
}
run() { run_every 250 "$@"; }
# These rows were measured with the reference port's decoder, no cross or marginal term, and the reference
# port's KL scaling with the KL weights in its units (the demo's are these times 16/4,500); a row's own
# settings come after.
before=(--set model.decoder=reference --set training.cross_rec_weight=0 --set training.marginal_kld_weight=0
  --set model.kl_scaling=batch_over_dataset --set training.X_kld_weight=5.02 --set training.S_kld_weight=0.02
  --set training.inter_kld_weight=10)
run "demo: per-domain InstanceNorm in F, PyTorch init, no KL annealing, inter_kld_weight 10" "${before[@]}"
run "inter_kld_weight 5 (the reference port's)" "${before[@]}" --set training.inter_kld_weight=5
run "inter_kld_weight 5, S_kld_weight 5.02" "${before[@]}" --set training.inter_kld_weight=5 \
  --set training.S_kld_weight=5.02
reference_inter=(--set training.inter_kld_weight=5 --set model.feature_norm=domain)
run "per-domain BatchNorm in F, inter_kld_weight 5" "${before[@]}" "${reference_inter[@]}"
run "... and the reference port's Kaiming-normal init" "${before[@]}" "${reference_inter[@]}" \
  --set model.init=kaiming_normal
run "... and the reference port's KL annealing" "${before[@]}" "${reference_inter[@]}" \
  --set model.kl_anneal_iters=25000
run "... and X_kld_weight 20" "${before[@]}" "${reference_inter[@]}" --set training.X_kld_weight=20
run "per-domain BatchNorm in F, inter_kld_weight 20" "${before[@]}" --set model.feature_norm=domain \
  --set training.inter_kld_weight=20
# What makes the translations take the reference's style (README, Measurements): how the decoder receives
# the exclusive code and a reconstruction term on the path translation takes (the other domain's
# single-domain shared code). Rows as measured: 500 iterations (the last 250), seeds 0 and 1, no marginal term.
style=(--set training.marginal_kld_weight=0)
run "the reference port's decoder (z_excl only in the first linear layer)" "${style[@]}" \
  --set model.decoder=reference --set training.cross_rec_weight=0
run "FiLM decoder (every block scaled and shifted by an MLP of z_excl)" "${style[@]}" --set model.decoder=film \
  --set training.cross_rec_weight=0
run "FiLM decoder, cross_rec_weight 100" "${style[@]}" --set model.decoder=film --set training.cross_rec_weight=100
run "FiLM decoder, cross_rec_weight 100, seed 1" "${style[@]}" --set model.decoder=film \
  --set training.cross_rec_weight=100 --set seed=1
run "FiLM decoder, cross_rec_weight 100, X_kld_weight ten times the demo's" "${style[@]}" --set model.decoder=film \
  --set training.cross_rec_weight=100 --set training.X_kld_weight=0.17848888888888889
# What makes random styles vivid and the X2Y colour right (README, Measurements): the marginal KL term on
# the exclusive codes, decoder dropout and a learning-rate decay. Rows as measured: 800 iterations
# (checkpoints every 400), the decay rows 1,400 (every 700; seed 0 also at 1,200); seeds 0 and 1.
plain=(--set training.marginal_kld_weight=0 --set training.milestones=[100000])
run_every 400 "model.dropout 0" "${plain[@]}" --set model.dropout=0
run_every 400 "marginal_kld_weight 1" "${plain[@]}" --set training.marginal_kld_weight=1
run_every 400 "marginal_kld_weight 1, seed 1" "${plain[@]}" --set training.marginal_kld_weight=1 --set seed=1
run_every 400 "marginal_kld_weight 4" "${plain[@]}" --set training.marginal_kld_weight=4
run_every 700 "marginal_kld_weight 1, milestones [1000], scheduler_gamma 0.3 (the demo), seed 1" --set seed=1
run_every 700 "marginal_kld_weight 2, milestones [1000], scheduler_gamma 0.3" --set training.marginal_kld_weight=2
