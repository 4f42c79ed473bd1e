"""Disentanglement against training time: trains a config (the demo by default), keeping a checkpoint
every --eval-every iterations, then measures cross-domain retrieval on the test split at each one.

Prints, per checkpoint: iteration, training time (wall clock from the first step, evaluation not
included), in evaluation mode (BatchNorm running averages, what test mode and single images get)
shared and exclusive top-1 both ways and the translation L1 to the known answer (MNIST-CDCB-format
data; computed as the config's model.eval_batchnorm says, evaluation mode unless it is `batch`); and
shared top-1 with BatchNorm batch statistics for comparison; then when shared top-1 (both
ways, evaluation mode) first reached 0.90 and 0.95.

    python -m bench.quality                          # configs/demo.json, its own settings
    python -m bench.quality --set training.lr=2e-5   # any override main.py accepts
"""
import argparse
import math
import os
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dataloader.registry import build_dataset
from metrics.evaluate import retrieval
from metrics.fidelity import KNOWN_ANSWER_DATASETS, fidelity_report
from models.iiae import IIAE
from solver import Solver
from utils import checkpoint as ckpt
from utils.config import load_config
from utils.distributed import setup, teardown
from utils.errors import run_script

THRESHOLDS = (0.90, 0.95)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join("configs", "demo.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--eval-every", type=int, default=250, help="iterations between measured checkpoints")
    parser.add_argument("--output-root", default=None, help="where the run goes (default: a temporary folder)")
    return parser.parse_args()


def step_times(run_dir):
    """Seconds from the start of training to each logged step: config.json is written just before the
    first step (after the data are cached), TensorBoard keeps each scalar's wall time."""
    start = os.path.getmtime(os.path.join(run_dir, "config.json"))
    events = EventAccumulator(os.path.join(run_dir, "logs")).Reload().Scalars("loss/total_loss")
    return {e.step: e.wall_time - start for e in events}


def measure(run_dir, cfg, device):
    test_set = build_dataset(cfg.dataset, cfg.path_to_data, "test", cfg.resolution, cfg.data, train=False)
    model = IIAE.from_config(cfg.resolution, cfg.model).to(device)
    times = step_times(run_dir)
    rows = []
    for iteration in ckpt.available_iterations(os.path.join(run_dir, "models")):
        state = ckpt.load_checkpoint(ckpt.checkpoint_path(os.path.join(run_dir, "models"), iteration))
        model.load_state_dict(state["model"])
        row = {"iteration": iteration, "seconds": times.get(iteration, float("nan"))}
        for mode in ("running", "batch"):
            _, _, report = retrieval(model, test_set, cfg.test.batch_size, device, mode)
            row.update({f"{mode}_{k}": v for k, v in report.items()})
        nan = float("nan")
        row.update(fidelity_report(model, test_set, cfg.test.batch_size, device, cfg.model.eval_batchnorm)
                   if cfg.dataset in KNOWN_ANSWER_DATASETS else {"x2y_l1": nan, "y2x_l1": nan})
        rows.append(row)
        print_row(row, first=len(rows) == 1)
    return rows


def print_row(row, first):
    if first:
        print(f"{'iter':>6} {'train s':>8} | {'shared X2Y':>10} {'shared Y2X':>10} {'excl X2Y':>9} {'excl Y2X':>9}"
              f" {'L1 X2Y':>7} {'L1 Y2X':>7} | {'shared X2Y':>10} {'shared Y2X':>10}")
        print(f"{'':>6} {'':>8} | {'evaluation mode (BatchNorm running averages)':^60} | {'batch statistics':^21}")
    print(f"{row['iteration']:>6} {row['seconds']:>8.0f} | {row['running_shared_x2y_top1']:>10.3f} "
          f"{row['running_shared_y2x_top1']:>10.3f} {row['running_exclusive_x2y_top1']:>9.3f} "
          f"{row['running_exclusive_y2x_top1']:>9.3f} {row['x2y_l1']:>7.3f} {row['y2x_l1']:>7.3f} | "
          f"{row['batch_shared_x2y_top1']:>10.3f} {row['batch_shared_y2x_top1']:>10.3f}", flush=True)


def first_reaching(rows, threshold):
    for row in rows:
        if min(row["running_shared_x2y_top1"], row["running_shared_y2x_top1"]) >= threshold:
            return f"iteration {row['iteration']}, {row['seconds']:.0f} s of training"
    return "not reached"


def run():
    args = parse_args()
    output_root = args.output_root or tempfile.mkdtemp(prefix="iiae-quality-")
    overrides = [*args.overrides, f"output_root={output_root}", f"training.model_save_freq={args.eval_every}",
                 "training.eval_freq=0", "train=1"]
    cfg = load_config(args.config, overrides)
    # Every measured checkpoint needs a logged step (its wall time).
    overrides.append(f"training.print_freq={math.gcd(cfg.training.print_freq, args.eval_every)}")
    cfg = load_config(args.config, overrides)
    print(f"training {args.config} with {' '.join(args.overrides) or 'its own settings'}: "
          f"{cfg.training.max_iters} iterations at {cfg.resolution} px, batch {cfg.training.batch_size}", flush=True)
    context = setup(cfg.device)
    try:
        run_dir = Solver(cfg, context).train()
    finally:
        teardown(context)
    rows = measure(run_dir, cfg, context.device)
    pairs = rows[-1]["running_num_pairs"]
    print(f"test pairs: {pairs} (chance top-1 = {1 / pairs:.4f})")
    for threshold in THRESHOLDS:
        print(f"shared top-1 >= {threshold:.2f} both ways (evaluation mode): {first_reaching(rows, threshold)}")


if __name__ == "__main__":
    run_script(run)
