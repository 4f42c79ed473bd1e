"""Measures against training time: trains a config (the demo by default), keeping a checkpoint every
--eval-every iterations, then runs every measure of metrics/measures.py on the test split at each one.

Prints, per checkpoint: training time (wall clock from the first step, evaluation not included) and
the in-training evaluation's line (also on each --also test set), in evaluation mode as the config's
model.eval_batchnorm says (BatchNorm running averages unless it is `batch`; --batch-statistics adds the
line with BatchNorm batch statistics); then when each goal was first reached. A goal is a set of
conditions on TensorBoard tags, `TAG>=VALUE` or `TAG<=VALUE`, comma-separated; by default shared top-1
both ways at 0.90 and at 0.95. --json FILE keeps every report of every checkpoint.

    python -m bench.quality                          # configs/demo.json, its own settings
    python -m bench.quality --set training.lr=2e-5   # any override main.py accepts
    python -m bench.quality --goal "retrieval/shared_x2y_top1>=0.97,translation/x2y_l1<=0.07"
    python -m bench.quality --also MNIST-CDCB=bench/real_mnist_cdcb   # and on real pairs, every checkpoint
    python -m bench.quality --config configs/paired.json --set dataset=shapes --set path_to_data=./data/shapes \
        --goal "shapes/x2y_kind>=0.95,shapes/y2x_kind>=0.95"      # the shapes' known-answer measures
"""
import argparse
import json
import math
import os
import re
import shutil
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dataloader.registry import build_dataset
from metrics.evaluation import Subject, evaluate, scalars, summary_line
from metrics.measures import MEASURES
from models.loading import build_model, load_trained
from solver import Solver
from utils import checkpoint as ckpt
from utils.config import load_config
from utils.distributed import setup, teardown
from utils.errors import run_script

DEFAULT_GOALS = tuple(f"retrieval/shared_x2y_top1>={v},retrieval/shared_y2x_top1>={v}" for v in ("0.90", "0.95"))
_CONDITION = re.compile(r"^\s*([^<>=\s]+)\s*(>=|<=)\s*(\S+)\s*$")


def goal(text):
    """`TAG>=VALUE` or `TAG<=VALUE` conditions, comma-separated, as ((tag, op, value), ...)."""
    conditions = []
    for part in text.split(","):
        match = _CONDITION.match(part)
        try:
            conditions.append((match[1], match[2], float(match[3])))
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{part!r} is not TAG>=VALUE or TAG<=VALUE") from None
    return tuple(conditions)


def met(values, conditions):
    """Whether the scalars `values` ({tag: value}) meet every condition (a missing tag meets none)."""
    return all(tag in values and (values[tag] >= v if op == ">=" else values[tag] <= v) for tag, op, v in conditions)


def test_set(text):
    """`DATASET=PATH` as (dataset, path)."""
    dataset, sep, path = text.partition("=")
    if not sep or not dataset or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not DATASET=PATH")
    return dataset, path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join("configs", "demo.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--eval-every", type=int, default=250, help="iterations between measured checkpoints")
    parser.add_argument("--output-root", default=None,
                        help="where the run goes (default: a temporary folder, removed at the end)")
    parser.add_argument("--json", metavar="FILE", help="also write every checkpoint's reports to FILE")
    parser.add_argument("--goal", type=goal, action="append", metavar="TAG>=VALUE[,...]",
                        help="report when these conditions on TensorBoard tags (>= or <=) first all held "
                             "(repeatable; default: shared top-1 both ways at 0.90, then 0.95)")
    parser.add_argument("--batch-statistics", action="store_true",
                        help="also evaluate every checkpoint with BatchNorm batch statistics")
    parser.add_argument("--also", type=test_set, action="append", default=[], metavar="DATASET=PATH",
                        help="also evaluate every checkpoint on the test split of DATASET at PATH, e.g. "
                             "MNIST-CDCB=bench/real_mnist_cdcb (real pairs held out from any training)")
    args = parser.parse_args()
    args.goal = args.goal or [goal(text) for text in DEFAULT_GOALS]
    return args


def step_times(run_dir):
    """Seconds from the start of training to each logged step: config.json is written just before the
    first step (after the data are cached), TensorBoard keeps each scalar's wall time."""
    start = os.path.getmtime(os.path.join(run_dir, "config.json"))
    events = EventAccumulator(os.path.join(run_dir, "logs")).Reload().Scalars("loss/total_loss")
    return {e.step: e.wall_time - start for e in events}


def measure(run_dir, cfg, device, batch_statistics=False, also=()):
    """Every measure of every checkpoint in evaluation mode (the config's model.eval_batchnorm), and with
    BatchNorm batch statistics when asked, on the config's test split and on each (dataset, path) of
    `also`; prints a line per checkpoint and test set."""
    sets = [("", build_dataset(cfg.dataset, cfg.path_to_data, "test", cfg.resolution, cfg.data, train=False))]
    sets += [(f"{dataset} {path}", build_dataset(dataset, path, "test", cfg.resolution, cfg.data, train=False))
             for dataset, path in also]
    sets = [(name, test_set, Subject.of(test_set)) for name, test_set in sets]  # a subject keeps its cache
    model = build_model(cfg.resolution, cfg.model, device)
    times = step_times(run_dir)
    modes = [cfg.model.eval_batchnorm]
    if batch_statistics and modes[0] != "batch":
        modes.append("batch")
    rows = []
    for iteration in ckpt.available_iterations(os.path.join(run_dir, "models")):
        load_trained(run_dir, iteration, device, config=cfg, into=model)
        for name, test_set, subject in sets:
            reports = {mode: evaluate(model, test_set, MEASURES, subject, cfg.test.batch_size, device, mode,
                                      cfg.seed)[0] for mode in modes}
            row = {"iteration": iteration, "seconds": times.get(iteration, float("nan")), "test_set": name or "test",
                   "reports": reports[modes[0]], "batch_statistics": reports[modes[1]] if len(modes) > 1 else None}
            if not name:
                rows.append(row)
            else:
                rows[-1].setdefault("also", []).append(row)
            where = f" on {name}" if name else ""
            print(f"{row['seconds']:.0f} s of training{where}: "
                  f"{summary_line(MEASURES, row['reports'], iteration, len(test_set))}", flush=True)
            if row["batch_statistics"] is not None:
                print(f"  with batch statistics: "
                      f"{summary_line(MEASURES, row['batch_statistics'], iteration, len(test_set))}", flush=True)
    return rows


def first_reaching(rows, conditions):
    for row in rows:
        if met(scalars(MEASURES, row["reports"]), conditions):
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
    rows = measure(run_dir, cfg, context.device, args.batch_statistics, args.also)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    for conditions in args.goal:
        text = " and ".join(f"{tag} {op} {value:g}" for tag, op, value in conditions)
        print(f"{text} (evaluation mode): {first_reaching(rows, conditions)}")


if __name__ == "__main__":
    run_script(run)
