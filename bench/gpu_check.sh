#!/usr/bin/env bash
# Speed check for a machine with one or more CUDA GPUs, meant to fit a short lent GPU session (about 5
# minutes on one H200, not yet timed there; on a 2-core CPU at the tiny sizes below it took 183 s):
#   1. the GPUs and the torch / CUDA versions;
#   2. bench/speed.py: the reference port's network at $RESOLUTION px for batch 8, 32 and 64, fp32 / bf16 /
#      channels_last / bf16+channels_last, pairs/s and peak memory; the data loader with and without the
#      memory cache;
#   3. the same step for the reference port's network, the project's default and the demo's recipe, in one
#      run, fp32 and bf16 at batch 32, with their ratios;
#   4. a short real training (bf16, memory cache) on generated MNIST-CDCB-format data with torchrun on 1 GPU
#      and, when there are more, on all of them, ending with an evaluation on the test split (its shared
#      top-1 is the retrieval figure); pairs/s from the TensorBoard wall times of the logged steps;
#   5. last (a compile cut short by its time limit may linger a while), bf16+channels_last at batch 32 against
#      its torch.compile'd twin, given at most COMPILE_LIMIT s.
# Usage: bash bench/gpu_check.sh. Logs go to $OUT when it is set, else to a temporary folder.
# PYTHON picks the interpreter (default: .venv/bin/python when present, else python3). The sizes are
# settable, so the script can be tried end to end on a CPU first, e.g.
#   DEVICE=cpu RESOLUTION=32 BATCHES=2,4 BATCH=4 SPEED_STEPS=2 STEPS=20 DATA_PAIRS=64 bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python3; fi
LOGS=${OUT:-$(mktemp -d)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$LOGS"
exec > >(tee "$LOGS/gpu_check.log") 2>&1

export PYTHONUNBUFFERED=1
DEVICE=${DEVICE:-cuda}
RESOLUTION=${RESOLUTION:-256}
BATCHES=${BATCHES:-8,32,64}      # batch sizes of the speed rows
BATCH=${BATCH:-32}               # batch of the network comparison and the compiled twin
SPEED_STEPS=${SPEED_STEPS:-20}   # timed steps per speed row (after 3 warm-up steps)
STEPS=${STEPS:-300}              # training iterations per torchrun run
DATA_PAIRS=${DATA_PAIRS:-1000}   # generated pairs the data loaders read
WORKERS=${WORKERS:-8}
COMPILE_LIMIT=${COMPILE_LIMIT:-150}
failed=()
started=$SECONDS

# run NAME LOGFILE CMD...: run CMD with its output shown and kept in $LOGS/LOGFILE; note a failure and go on.
run() {
    local name=$1 log=$2
    shift 2
    echo "== $name ($((SECONDS - started)) s in)"
    "$@" 2>&1 | tee "$LOGS/$log"
    local status=${PIPESTATUS[0]}
    if [[ $status -ne 0 ]]; then
        echo "!! $name: exit status $status"
        failed+=("$name")
    fi
}

# pairs_per_s RUN_ROOT PROCESSES: training throughput between the first and the last logged step.
pairs_per_s() {
    "$PY" - "$1" "$2" <<'EOF'
import json, os, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
root, processes = sys.argv[1], int(sys.argv[2])
(run,) = [os.path.join(root, d) for d in os.listdir(root)]
batch = json.load(open(os.path.join(run, "config.json")))["training"]["batch_size"]
events = EventAccumulator(os.path.join(run, "logs")).Reload().Scalars("loss/total_loss")
first, last = events[0], events[-1]
rate = (last.step - first.step) * batch * processes / (last.wall_time - first.wall_time)
print(f"{processes} process(es) x batch {batch}: {rate:.1f} pairs/s over steps {first.step}-{last.step}")
EOF
}

# train NAME PROCESSES [--set ...]: a short torchrun training of $WORK/config.json; prints pairs/s.
train() {
    local name=$1 processes=$2
    shift 2
    local root="$WORK/runs_$name"
    run "train $name" "train_$name.log" timeout 300 "$PY" -m torch.distributed.run --standalone \
        --nproc_per_node="$processes" main.py "$WORK/config.json" --set "output_root=$root" "$@"
    [[ -d $root ]] && pairs_per_s "$root" "$processes"
}

echo "== machine"
if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
torch.backends.cudnn.version(), "GPUs", torch.cuda.device_count())'
GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
[[ $DEVICE == cpu || $GPUS -lt 1 ]] && GPUS=1

SPEED=("$PY" -m bench.speed --device "$DEVICE" --resolutions "$RESOLUTION" --steps "$SPEED_STEPS" --warmup 3)
run "speed" speed.log "${SPEED[@]}" --batch-sizes "$BATCHES" --workers "$WORKERS" --data-pairs "$DATA_PAIRS"
run "networks" networks.log "${SPEED[@]}" --batch-sizes "$BATCH" --options fp32,bf16 \
    --networks reference,default,demo --no-data

run "data" data.log "$PY" -m dataloader.make_mnist_cdcb --source committed --root "$WORK/MNIST-CDCB"
cat > "$WORK/config.json" <<EOF
{"id": "gpu_check", "model": "IIAE", "dataset": "MNIST-CDCB", "path_to_data": "$WORK/MNIST-CDCB",
 "resolution": $RESOLUTION, "device": "$DEVICE", "data": {"cache": "memory"},
 "training": {"max_iters": $STEPS, "batch_size": 16, "lr": 0.0002, "beta1": 0.5, "precision": "bf16",
              "num_workers": 4, "print_freq": $(( STEPS >= 50 ? 25 : 1 )), "sample_freq": $STEPS, "model_save_freq": $STEPS,
              "eval_freq": $STEPS},
 "test": {"batch_size": 50}}
EOF
train 1gpu 1
if [[ $GPUS -gt 1 ]]; then
    train "${GPUS}gpu" "$GPUS"
    train "${GPUS}gpu_sync_bn" "$GPUS" --set training.sync_bn=true
fi

run "speed, compiled" speed_compile.log timeout "$COMPILE_LIMIT" "${SPEED[@]}" --batch-sizes "$BATCH" \
    --options bf16+channels_last --compile --no-data

echo "== done in $((SECONDS - started)) s"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all steps finished; logs in $LOGS"
