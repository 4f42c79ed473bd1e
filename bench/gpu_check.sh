#!/usr/bin/env bash
# Speed check for a CUDA machine with one or more GPUs; about 5 minutes on one H200.
#   1. the GPUs and the torch / CUDA versions;
#   2. bench/speed.py on CUDA (256 px, batch 8): fp32, bf16, channels_last, bf16+channels_last, the data
#      loaders;
#   3. short real trainings (bf16, memory cache) on generated MNIST-CDCB-format data at 256 px with
#      torchrun on 1 GPU and, when there are more, on all of them, plain and with sync_bn; pairs/s from
#      the TensorBoard wall times of the logged steps (start-up and data caching left out);
#   4. last (a compile cut short by its time limit may linger a while), bf16+channels_last against its
#      torch.compile'd twin, given at most COMPILE_LIMIT s.
# Usage: bash bench/gpu_check.sh. Logs go to $OUT when it is set, else to a temporary folder.
# PYTHON picks the interpreter (default: .venv/bin/python when present, else python3).
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
STEPS=${STEPS:-300}              # training iterations per torchrun run
COMPILE_LIMIT=${COMPILE_LIMIT:-150}
failed=()

# run NAME LOGFILE CMD...: run CMD with its output shown and kept in $LOGS/LOGFILE; note a failure and go on.
run() {
    local name=$1 log=$2
    shift 2
    echo "== $name"
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
    run "train $name" "train_$name.log" timeout 240 "$PY" -m torch.distributed.run --standalone \
        --nproc_per_node="$processes" main.py "$WORK/config.json" --set "output_root=$root" "$@"
    [[ -d $root ]] && pairs_per_s "$root" "$processes"
}

echo "== machine"
nvidia-smi -L
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
torch.backends.cudnn.version(), "GPUs", torch.cuda.device_count())'
GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count())')

run "speed" speed.log "$PY" -m bench.speed --device cuda --steps 30 --warmup 5 --workers 8 --data-pairs 1000

run "data" data.log "$PY" -m dataloader.make_mnist_cdcb --source committed --root "$WORK/MNIST-CDCB"
cat > "$WORK/config.json" <<EOF
{"id": "gpu_check", "model": "IIAE", "dataset": "MNIST-CDCB", "path_to_data": "$WORK/MNIST-CDCB",
 "resolution": 256, "device": "auto", "data": {"cache": "memory"},
 "training": {"max_iters": $STEPS, "batch_size": 16, "precision": "bf16", "num_workers": 4,
              "print_freq": 25, "sample_freq": $STEPS, "model_save_freq": $STEPS},
 "test": {"batch_size": 50}}
EOF
train 1gpu 1
if [[ $GPUS -gt 1 ]]; then
    train "${GPUS}gpu" "$GPUS"
    # sync_bn also runs the grids and an evaluation on the main process alone at the last step.
    train "${GPUS}gpu_sync_bn" "$GPUS" --set training.sync_bn=true --set "training.eval_freq=$STEPS" \
        --set training.eval_pairs=200
fi

run "speed, compiled" speed_compile.log timeout "$COMPILE_LIMIT" "$PY" -m bench.speed --device cuda \
    --steps 30 --warmup 5 --options bf16+channels_last --compile --no-data

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all steps finished; logs in $LOGS"
