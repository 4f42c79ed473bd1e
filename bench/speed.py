"""Training and data-loading speed.

Training: pairs/s and peak memory of the reference-port network (256 px, batch 8 by default) for each option:
fp32, bf16, channels_last and bf16+channels_last; --compile adds a torch.compile'd twin of each. Every
option runs in a fresh process, so its peak memory is its own: torch.cuda.max_memory_allocated on CUDA,
the process's peak resident set size on CPU (imports and all). Images are random tensors already on the
device, so these rows measure the networks, the loss and the optimizers alone.

Data: pairs/s of the training DataLoader over MNIST-CDCB-format files (512x256 PNGs generated from the
committed digits into a temporary folder), the memory cache (after its one-time build, also reported)
against plain per-item decoding with PIL, same workers, measured in the same run.

    python -m bench.speed                                      # CPU: about 3 minutes on 2 cores
    python -m bench.speed --device cuda --steps 30 --warmup 5 --compile
"""
import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from dataloader.cache import cached
from dataloader.make_mnist_cdcb import committed_digits, generate
from dataloader.registry import build_dataset
from dataloader.sampler import ResumableSampler
from solver import Solver
from utils.config import SCHEMA, build_config
from utils.distributed import Context

OPTIONS = ("fp32", "bf16", "channels_last", "bf16+channels_last")
PRECISIONS = SCHEMA["training"]["precision"].choices
FEATURES = (*PRECISIONS, "channels_last", "compile")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per option")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps before them")
    parser.add_argument("--options", default=",".join(OPTIONS),
                        help=f"comma-separated rows, each '+'-joined from {', '.join(FEATURES)}")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile'd twin of every option")
    parser.add_argument("--no-data", action="store_true", help="skip the data-loading measurement")
    parser.add_argument("--data-pairs", type=int, default=400, help="generated pairs the loaders read")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of both pipelines")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads per training process (default: torch's, one per core)")
    args = parser.parse_args(argv)
    args.options = args.options.split(",")
    for option in args.options:
        unknown = set(option.split("+")) - set(FEATURES)
        if unknown:
            parser.error(f"--options: unknown {', '.join(sorted(unknown))} in '{option}'")
    if args.compile:
        args.options = [o for option in args.options for o in (option, option + "+compile")]
    return args


# ---- training ---------------------------------------------------------------------------------
def build_solver(option, args):
    """A Solver set up for option: the reference-port network with the optimizers, memory format, gradient scaler and
    compilation that training uses."""
    features = set(option.split("+"))
    precision = next((p for p in PRECISIONS if p in features), "fp32")
    cfg = build_config({"dataset": "MNIST-CDCB", "path_to_data": ".", "resolution": args.resolution,
                        "device": args.device,
                        "training": {"batch_size": args.batch_size, "precision": precision,
                                     "channels_last": "channels_last" in features,
                                     "compile": "compile" in features}})
    return Solver(cfg, Context(torch.device(args.device)))


def random_batch(solver, batch_size, resolution):
    images = [torch.rand(batch_size, 3, resolution, resolution) * 2 - 1 for _ in range(2)]
    return [solver.to_device(image) for image in images]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_training(option, args):
    """pairs/s, s/step and peak memory of one option (run in a process of its own): Solver.train_step, the
    step training runs, with the KL weighed fully."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    solver = build_solver(option, args)
    solver.model.train()
    net = solver.wrapped_model()
    x, y = random_batch(solver, args.batch_size, args.resolution)
    for _ in range(args.warmup):
        solver.train_step(net, x, y, anneal=1.0, scale=1.0)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        solver.train_step(net, x, y, anneal=1.0, scale=1.0)
    synchronize(device)
    seconds = (time.perf_counter() - started) / args.steps
    return {"option": option, "pairs_per_s": args.batch_size / seconds, "s_per_step": seconds,
            "peak_mib": peak_memory_mib(device)}


def training_rows(args):
    # spawn, one task per process: no option inherits another's memory peak, allocator or compiled code.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
        for option in args.options:
            yield pool.submit(measure_training, option, args).result()


# ---- data loading -----------------------------------------------------------------------------
def loader_pairs_per_s(dataset, args):
    """Steady-state pairs/s of one epoch through the training loader (timed from its first batch on, so
    worker start-up is left out)."""
    sampler = ResumableSampler(len(dataset), 0, args.batch_size)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                        generator=torch.Generator().manual_seed(0))
    batches = iter(loader)
    next(batches)
    count = len(dataset) // args.batch_size - 1
    started = time.perf_counter()
    for _ in range(count):
        next(batches)
    return count * args.batch_size / (time.perf_counter() - started)


def data_rows(args, folder):
    generate(committed_digits()[0][:args.data_pairs], folder, {"train": args.data_pairs})
    options = build_config({"dataset": "MNIST-CDCB", "path_to_data": folder}).data
    dataset = build_dataset("MNIST-CDCB", folder, "train", args.resolution, options, train=True)
    plain = loader_pairs_per_s(dataset, args)
    started = time.perf_counter()
    dataset = cached(dataset, "memory", os.path.join(folder, ".cache"), verbose=False)
    build_seconds = time.perf_counter() - started
    return plain, loader_pairs_per_s(dataset, args), build_seconds


# ---- report -----------------------------------------------------------------------------------
def print_training(args):
    memory = "peak CUDA memory allocated" if args.device.startswith("cuda") else "peak RSS of the process"
    print(f"training: reference-port network at {args.resolution} px, batch {args.batch_size}, {args.device} "
          f"(torch {torch.__version__}, CPU threads: {args.threads}), {args.warmup} warm-up + {args.steps} "
          "timed steps, random images")
    print(f"{'option':<28} {'pairs/s':>9} {'s/step':>8}   {memory}")
    for row in training_rows(args):
        print(f"{row['option']:<28} {row['pairs_per_s']:>9.2f} {row['s_per_step']:>8.3f}   "
              f"{row['peak_mib']:>8.0f} MiB", flush=True)


def print_data(args):
    with tempfile.TemporaryDirectory() as folder:
        plain, cached, build_seconds = data_rows(args, folder)
    print(f"\ndata loading: {args.data_pairs} MNIST-CDCB pairs (512x256 PNG) at {args.resolution} px, "
          f"batch {args.batch_size}, {args.workers} workers, one epoch")
    print(f"{'pipeline':<28} {'pairs/s':>9}")
    print(f"{'plain (PIL decode per item)':<28} {plain:>9.1f}")
    print(f"{'memory cache':<28} {cached:>9.1f}   (one-time build {build_seconds:.1f} s, all cores)")
    print(f"cached / plain: {cached / plain:.1f}x")


def main(argv=None):
    args = parse_args(argv)
    print_training(args)
    if not args.no_data:
        print_data(args)


if __name__ == "__main__":
    main()
