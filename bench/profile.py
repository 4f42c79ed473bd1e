"""Where a training run's time goes: a short real run of a config (the demo by default), timed piece by piece,
then scaled to the config's whole run and printed as shares.

The run trains --warmup + --steps iterations with main.py's Solver in a temporary folder, as from a fresh
clone: a dataset that is generated on first use (the demo's) is generated there afresh, the input cache
built and the digit classifier trained from nothing (--keep-data and --keep-caches read the config's data
folder and the user's cache instead); then one sample grid, one in-training evaluation on every test pair
(and one on training.eval_pairs before it, where the whole run's earlier evaluations use a subset) and
one checkpoint. Each piece is timed on its own: forward and backward of every network (module hooks; the image inputs require gradients so that the encoders' backward hooks fire at
the end of their backward), the cross term's extra decodes apart from the reconstructions, the loss terms
(the marginal term apart), each optimizer, the data, the logging, and in the evaluation the codes, the
exemplar translations, the random styles and the digit classifier. Times are exclusive: a piece inside
another (the FiLM MLP inside a decoder) is not counted twice. The per-iteration pieces are the mean of the
timed steps (the warm-up left out), and the whole run is per-iteration x max_iters, per-event x how often
the config does it, plus the one-time costs.

    python -m bench.profile                              # configs/demo.json: about 3 minutes on 2 cores
    python -m bench.profile --config configs/paired.json --set path_to_data=./data/shapes
    python -m bench.profile --set training.eval_pairs=0 --steps 20   # every evaluation on all test pairs
"""
import argparse
import collections
import contextlib
import functools
import os
import tempfile
import time

import torch

from dataloader import make_mnist_cdcb, registry
from dataloader.registry import generated_on_first_use
from metrics import content, evaluation
from models import losses
from solver import Solver
from utils.config import load_config
from utils.distributed import setup, teardown
from utils.errors import run_script

ONE_TIME = "one-time"
PER_ITERATION = "per iteration"
PER_EVENT = "per event"
START_UP = "start-up: run directory, data checks, model to the loop"
LOOP = "loop, other (progress line, finiteness checks)"


class Clock:
    """Exclusive wall time per label: a timed piece that starts inside another is taken out of the outer
    one's time. The CPU runs everything in order, so the pieces nest; on CUDA each piece synchronizes."""

    def __init__(self, device):
        self.totals, self.calls, self._stack = collections.defaultdict(float), collections.Counter(), []
        self._sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def start(self, label):
        self._sync()
        self._stack.append([label, time.perf_counter(), 0.0])

    def stop(self, label):
        self._sync()
        top, started, inner = self._stack.pop()
        if top != label:
            raise RuntimeError(f"timed pieces overlap: {label} ended inside {top}")
        elapsed = time.perf_counter() - started
        self.totals[label] += elapsed - inner
        if not self.within(label):  # a piece inside one of its own kind is one call
            self.calls[label] += 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def within(self, label):
        return any(entry[0] == label for entry in self._stack)

    @contextlib.contextmanager
    def timing(self, label):
        self.start(label)
        try:
            yield
        finally:
            self.stop(label)

    def wrap(self, owner, name, label):
        """Replace owner.name (a function or method) by a timed twin under `label`."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            with self.timing(label(*args, **kwargs) if callable(label) else label):
                return original(*args, **kwargs)
        setattr(owner, name, timed)

    def snapshot(self):
        return dict(self.totals), dict(self.calls)


def hook_module(clock, module, forward_label, backward_label):
    """Forward and backward of `module` timed while counts["active"] (in training steps, not in the grids or
    evaluations); the labels are functions of the call's number in the step (forward_label(k) for the k-th
    forward call, backward_label(k) for the k-th backward one). Returns the counters, which each step resets."""
    counts = {"forward": 0, "backward": 0, "active": False}
    open_labels = {"forward": [], "backward": []}

    def opener(kind, make):
        def hook(*_):
            if not counts["active"]:
                return
            label = make(counts[kind])
            counts[kind] += 1
            open_labels[kind].append(label)
            clock.start(label)
        return hook

    def closer(kind):
        def hook(*_):
            if counts["active"]:
                clock.stop(open_labels[kind].pop())
        return hook

    module.register_forward_pre_hook(opener("forward", forward_label))
    module.register_forward_hook(closer("forward"))
    module.register_full_backward_pre_hook(opener("backward", backward_label))
    module.register_full_backward_hook(closer("backward"))
    return counts


def instrument_model(clock, model, cross):
    """Hooks on every network of the IIAE model; returns the call counters that each step resets. The
    decoders run twice with the cross term: first the reconstruction, then the cross decode (in backward
    the other way round)."""
    def fixed(text):
        return lambda k: text

    def decoder(kind):
        calls = ("reconstruction", "cross term") if kind == "forward" else ("cross term", "reconstruction")
        if not cross:
            calls = ("reconstruction",)
        return lambda k: f"decoders D_x, D_y ({calls[k]}) {kind}"

    counters = []
    for d in (0, 1):
        counters.append(hook_module(clock, model.exclusive[d], fixed("exclusive encoders E_x, E_y forward"),
                                    fixed("exclusive encoders E_x, E_y backward")))
        counters.append(hook_module(clock, model.single_shared[d], fixed("shared heads R_x, R_y, Q forward"),
                                    fixed("shared heads R_x, R_y, Q backward")))
        counters.append(hook_module(clock, model.decoders[d], decoder("forward"), decoder("backward")))
        style = getattr(model.decoders[d], "style", None)
        if style is not None:
            counters.append(hook_module(clock, style, fixed("FiLM MLPs forward"), fixed("FiLM MLPs backward")))
    counters.append(hook_module(clock, model.features, fixed("shared feature extractor F forward"),
                                fixed("shared feature extractor F backward")))
    counters.append(hook_module(clock, model.joint_shared, fixed("shared heads R_x, R_y, Q forward"),
                                fixed("shared heads R_x, R_y, Q backward")))
    return counters


class TimedBatches:
    """The training loader with each batch timed; calls on_batch(k) before the k-th (from 1)."""

    def __init__(self, loader, clock, on_batch):
        self.loader, self.clock, self.on_batch = loader, clock, on_batch

    def __iter__(self):
        batches = iter(self.loader)
        k = 0
        while True:
            k += 1
            self.on_batch(k)
            with self.clock.timing("data: next batch"):
                try:
                    batch = next(batches)
                except StopIteration:
                    return
            yield batch


def instrument(clock, solver, warmup, subset_pairs):
    """Timers on the solver's pieces, the objective, the data path and the evaluation (with one on
    subset_pairs test pairs first, where that is not 0); returns a dict that gets the clock's snapshot
    when the warm-up ends."""
    marks = {}
    t = solver.cfg.training
    counters = instrument_model(clock, solver.model, t.cross_rec_weight > 0)

    in_step = {"active": False}

    def set_counters(active):
        in_step["active"] = active
        for c in counters:
            c.update(forward=0, backward=0, active=active)
    original_step = solver.train_step

    def train_step(net, x, y, anneal, scale):
        set_counters(True)
        try:
            with clock.timing("forward and loss, other (sampling, glue)"):
                return original_step(net, x, y, anneal, scale)
        finally:
            set_counters(False)
    solver.train_step = train_step

    original_to_device = solver.to_device

    def to_device(image):
        with clock.timing("data: to device"):
            return original_to_device(image).requires_grad_()  # so the encoders' backward hooks fire in order
    solver.to_device = to_device

    original_loader = solver.train_loader

    def train_loader(dataset, start):
        def on_batch(k):
            # Start-up ends at the first batch; after it, what the loop does between the timed pieces
            # is closed every iteration, so that the warm-up's share can be left out.
            clock.stop(START_UP if k == 1 else LOOP)
            if k == warmup + 1:
                marks["warm"] = clock.snapshot()
            clock.start(LOOP)
        return TimedBatches(original_loader(dataset, start), clock, on_batch)
    solver.train_loader = train_loader

    clock.wrap(losses, "marginal_kl", "loss: marginal terms (forward)")
    import solver as solver_module
    clock.wrap(solver_module, "iiae_loss", "loss: other terms (forward)")
    original_backward = torch.Tensor.backward

    def backward(tensor, *args, **kwargs):  # the training steps' only (the digit classifier trains too)
        if not in_step["active"]:
            return original_backward(tensor, *args, **kwargs)
        with clock.timing("backward, other (loss terms, sampling, autograd)"):
            return original_backward(tensor, *args, **kwargs)
    torch.Tensor.backward = backward
    groups = {"exclusive": "E_x, E_y", "shared": "F, R_x, R_y, Q", "decoders": "D_x, D_y and FiLM MLPs"}
    for name, optimizer in solver.optimizers.items():
        clock.wrap(optimizer, "step", f"optimizer step: {groups[name]}")
        clock.wrap(optimizer, "zero_grad", "optimizer zero_grad")
    # On the class: a scheduler's state dict holds its instance attributes, and checkpoints save it.
    for scheduler_class in {type(scheduler) for scheduler in solver.schedulers.values()}:
        clock.wrap(scheduler_class, "step", "learning-rate schedulers")
    clock.wrap(solver, "_report", "logging: loss line and TensorBoard")
    clock.wrap(solver, "_sample_grids", "sample grids")
    clock.wrap(solver, "_save", "checkpoint")
    # The timed run evaluates once, at its last iteration, on every test pair; where the whole run's
    # earlier evaluations read a subset, one on the subset runs just before it, timed apart.
    kinds = evaluation_kinds(subset_pairs)
    current = {"kind": kinds[-1]}
    original_evaluate = solver._evaluate

    def evaluate(dataset, writer, max_pairs):
        if subset_pairs:
            current["kind"] = kinds[0]
            with clock.timing(f"{kinds[0]}: data, measures, other"):
                original_evaluate(dataset, writer, subset_pairs)
        current["kind"] = kinds[-1]
        with clock.timing(f"{kinds[-1]}: data, measures, other"):
            return original_evaluate(dataset, writer, max_pairs)
    solver._evaluate = evaluate

    def piece(name):
        return lambda *args, **kwargs: f"{current['kind']}: {name}"

    def codes(*args, **kwargs):  # the grids encode too
        return "sample grids" if clock.within("sample grids") else piece("codes")()
    clock.wrap(solver.model, "shared_code", codes)
    clock.wrap(solver.model, "exclusive_code", codes)
    clock.wrap(evaluation.EvalBatch, "translation", piece("exemplar translations"))
    clock.wrap(evaluation.EvalBatch, "random_translations", piece("random styles"))
    clock.wrap(content, "predict", piece("digit classifier"))
    clock.wrap(content, "train_classifier", "digit classifier training")
    clock.wrap(make_mnist_cdcb, "make", "data generation")
    clock.wrap(registry, "cached", "input cache build")
    return marks


def evaluation_kinds(subset_pairs):
    """The labels of the evaluations a run does: on a subset of the test pairs and on all of them, or one kind."""
    return (f"evaluation ({subset_pairs} pairs)", "evaluation (all pairs)") if subset_pairs else ("evaluation",)


def subset_evaluations(cfg):
    """The test pairs of the whole run's evaluations before its last iteration, or 0 where there are none
    on a subset (training.eval_pairs is 0, or no evaluation comes before the last iteration)."""
    t = cfg.training
    return t.eval_pairs if t.eval_freq and t.eval_pairs and t.max_iters // t.eval_freq > 1 else 0


def events(cfg):
    """How often a whole run of cfg does each per-event piece (each kind of evaluation apart)."""
    t = cfg.training
    every = {"logging: loss line and TensorBoard": t.print_freq, "sample grids": t.sample_freq,
             "checkpoint": t.model_save_freq}
    counts = {label: t.max_iters // freq + (t.max_iters % freq != 0) for label, freq in every.items()}
    evaluations = t.max_iters // t.eval_freq if t.eval_freq else 0
    kinds = evaluation_kinds(subset_evaluations(cfg))
    at_last = int(bool(t.eval_freq) and t.max_iters % t.eval_freq == 0)  # that one reads every pair
    counts.update({kinds[0]: evaluations} if len(kinds) == 1 else
                  {kinds[0]: evaluations - at_last, kinds[1]: at_last})
    return counts


def profile(cfg, args):
    """({label: (group, seconds in a whole run, count)}, the timed run's wall time, the seconds the clock
    counted in it: everything but the moment between the two)."""
    context = setup(cfg.device)
    clock = Clock(context.device)
    timed_iters = args.warmup + args.steps
    try:
        solver = Solver(cfg, context)
        marks = instrument(clock, solver, args.warmup, subset_evaluations(args.full))
        started = time.perf_counter()
        clock.start(START_UP)
        solver.train()
        clock.stop(LOOP)
        wall = time.perf_counter() - started
    finally:
        teardown(context)
    totals, calls = clock.snapshot()
    warm_totals, _ = marks["warm"]
    counts = events(args.full)
    rows = {}
    for label, seconds in totals.items():
        kind = label.split(":")[0]
        if label in ("data generation", "input cache build", "digit classifier training", START_UP):
            rows[label] = (ONE_TIME, seconds, 1)
        elif kind.startswith("evaluation"):  # the timed run does each kind once, a piece many times within it
            if counts[kind]:
                rows[label] = (PER_EVENT, seconds * counts[kind], counts[kind])
        elif label in counts:
            rows[label] = (PER_EVENT, seconds / max(calls[label], 1) * counts[label], counts[label])
        else:
            per_step = (seconds - warm_totals.get(label, 0.0)) / args.steps
            rows[label] = (PER_ITERATION, per_step * args.full.training.max_iters, args.full.training.max_iters)
    return rows, wall, sum(totals.values())


def print_table(rows, wall, cfg, args):
    total = sum(seconds for _, seconds, _ in rows.values())
    t = args.full.training
    print(f"\n{args.config}: {t.max_iters} iterations, batch {t.batch_size}, {cfg.resolution} px, "
          f"{cfg.device} (torch {torch.__version__}, {torch.get_num_threads()} threads); timed run: "
          f"{args.warmup + args.steps} iterations ({args.warmup} warm-up) in {wall:.0f} s")
    per_iteration = sum(seconds for group, seconds, _ in rows.values() if group == PER_ITERATION) / t.max_iters
    print(f"whole run, estimated: {total / 60:.1f} min ({per_iteration:.3f} s per iteration in the steps, the data "
          "and the loop)")
    print(f"{'piece':<58} {'count':>6} {'s each':>8} {'s total':>8} {'share':>7}")
    for group in (PER_ITERATION, PER_EVENT, ONE_TIME):
        print(f"-- {group}")
        for label, (g, seconds, count) in sorted(rows.items(), key=lambda item: -item[1][1]):
            if g == group:
                print(f"{label:<58} {count:>6} {seconds / max(count, 1):>8.4f} {seconds:>8.1f} "
                      f"{100 * seconds / total:>6.1f}%")
    print(f"{'total':<58} {'':>6} {'':>8} {total:>8.1f} {100.0:>6.1f}%")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join("configs", "demo.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=30, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=5, help="iterations before them, not counted")
    parser.add_argument("--keep-data", action="store_true",
                        help="read the config's path_to_data even where the dataset is generated on first use")
    parser.add_argument("--keep-caches", action="store_true",
                        help="use the user's cache (a digit classifier trained before) instead of a fresh one")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.full = load_config(args.config, args.overrides)
    iters = args.warmup + args.steps
    generated = generated_on_first_use(args.full.dataset)
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "data") if generated and not args.keep_data else args.full.path_to_data
        if not args.keep_caches:
            os.environ["XDG_CACHE_HOME"] = os.path.join(folder, "cache")
        cfg = load_config(args.config, [*args.overrides, f"output_root={folder}", f"path_to_data={data}",
                                        f"training.max_iters={iters}",
                                        f"training.eval_freq={iters if args.full.training.eval_freq else 0}",
                                        f"training.sample_freq={iters}", f"training.model_save_freq={iters}",
                                        f"training.print_freq={min(args.full.training.print_freq, 10)}"])
        rows, wall, counted = profile(cfg, args)
    print_table(rows, wall, cfg, args)
    return rows, wall, counted


if __name__ == "__main__":
    run_script(main)
