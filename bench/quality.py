"""Measures against training time: trains a config (the demo by default), keeping a checkpoint every
--eval-every iterations, then runs every measure of metrics/measures.py on the test split at each one.

Prints, per checkpoint: training time (wall clock from the first step, evaluation not included) and
the in-training evaluation's line, in evaluation mode as the config's model.eval_batchnorm says
(BatchNorm running averages unless it is `batch`), plus shared top-1 with BatchNorm batch statistics
for comparison; then when shared top-1 (both ways, evaluation mode) first reached 0.90 and 0.95.
--json FILE keeps every report of every checkpoint.

    python -m bench.quality                          # configs/demo.json, its own settings
    python -m bench.quality --set training.lr=2e-5   # any override main.py accepts
"""
import argparse
import json
import math
import os
import shutil
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dataloader.registry import build_dataset
from metrics.evaluation import Subject, evaluate, summary_line
from metrics.measures import MEASURES
from metrics.retrieval import Retrieval
from models.loading import build_model, restore_networks
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
    parser.add_argument("--output-root", default=None,
                        help="where the run goes (default: a temporary folder, removed at the end)")
    parser.add_argument("--json", metavar="FILE", help="also write every checkpoint's reports to FILE")
    return parser.parse_args()


def step_times(run_dir):
    """Seconds from the start of training to each logged step: config.json is written just before the
    first step (after the data are cached), TensorBoard keeps each scalar's wall time."""
    start = os.path.getmtime(os.path.join(run_dir, "config.json"))
    events = EventAccumulator(os.path.join(run_dir, "logs")).Reload().Scalars("loss/total_loss")
    return {e.step: e.wall_time - start for e in events}


def measure(run_dir, cfg, device):
    """Every measure of every checkpoint in evaluation mode (the config's model.eval_batchnorm), plus
    retrieval with BatchNorm batch statistics for comparison; prints a line per checkpoint."""
    test_set = build_dataset(cfg.dataset, cfg.path_to_data, "test", cfg.resolution, cfg.data, train=False)
    subject = Subject(cfg.dataset, test_set.paired)
    model = build_model(cfg.resolution, cfg.model, device)
    times = step_times(run_dir)
    models = os.path.join(run_dir, "models")
    rows = []
    for iteration in ckpt.available_iterations(models):
        path = ckpt.checkpoint_path(models, iteration)
        restore_networks(model, ckpt.load_checkpoint(path), path, cfg.resolution, cfg.model)
        reports, _ = evaluate(model, test_set, MEASURES, subject, cfg.test.batch_size, device,
                              cfg.model.eval_batchnorm, cfg.seed)
        batch, _ = evaluate(model, test_set, [Retrieval()], subject, cfg.test.batch_size, device, "batch", cfg.seed)
        row = {"iteration": iteration, "seconds": times.get(iteration, float("nan")), "reports": reports,
               "batch_statistics": batch["retrieval"]}
        rows.append(row)
        b = row["batch_statistics"]
        print(f"{row['seconds']:.0f} s of training: {summary_line(MEASURES, reports, iteration, b['num_pairs'])}; "
              f"with batch statistics shared top-1 {b['shared_x2y_top1']:.3f} / {b['shared_y2x_top1']:.3f}",
              flush=True)
    return rows


def first_reaching(rows, threshold):
    for row in rows:
        retrieval = row["reports"]["retrieval"]
        if min(retrieval["shared_x2y_top1"], retrieval["shared_y2x_top1"]) >= threshold:
            return f"iteration {row['iteration']}, {row['seconds']:.0f} s of training"
    return "not reached"


def run():
    args = parse_args()
    output_root = args.output_root or tempfile.mkdtemp(prefix="iiae-quality-")
    try:
        measure_training(args, output_root)
    finally:
        if args.output_root is None:
            shutil.rmtree(output_root, ignore_errors=True)


def measure_training(args, output_root):
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    pairs = rows[-1]["reports"]["retrieval"]["num_pairs"]
    print(f"test pairs: {pairs} (chance top-1 = {1 / pairs:.4f})")
    for threshold in THRESHOLDS:
        print(f"shared top-1 >= {threshold:.2f} both ways (evaluation mode): {first_reaching(rows, threshold)}")


if __name__ == "__main__":
    run_script(run)
