"""Training and data-loading speed.

Training: pairs/s and peak memory of a training step (256 px, batch 8 by default) for each network, option
and batch size asked for. Networks: `reference`, the reference port's network as this project builds it (its
decoder, one BatchNorm in F, no cross or marginal term); `default`, this project's defaults (FiLM
decoders, per-domain InstanceNorm in F); `demo`, configs/demo.json's recipe (the default network with the
cross and marginal terms). Options: fp32, bf16, channels_last and bf16+channels_last; --compile adds a
torch.compile'd twin of each. Every row runs in a fresh process, so its peak memory is its own:
torch.cuda.max_memory_allocated on CUDA, the process's peak resident set size on CPU (imports and all).
Images are random tensors already on the device, so these rows measure the networks, the loss and the
optimizers alone. With more than one network, each row's s/step is also given as a ratio to the first
network's at the same resolution, batch and option.

Data: pairs/s of the training DataLoader over MNIST-CDCB-format files (512x256 PNGs generated from the
committed digits into a temporary folder), the memory cache (after its one-time build, also reported)
against plain per-item decoding with PIL, same workers, measured in the same run.

    python -m bench.speed                                      # CPU: about 3 minutes on 2 cores
    python -m bench.speed --networks reference,default,demo --resolutions 64,256 --options fp32,bf16 --no-data
    python -m bench.speed --device cuda --steps 30 --warmup 5 --batch-sizes 8,32,64 --compile
"""
import argparse
import concurrent.futures
import json
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
from models.losses import LOSS_WEIGHTS
from solver import Solver
from utils.config import SCHEMA, build_config
from utils.distributed import Context

OPTIONS = ("fp32", "bf16", "channels_last", "bf16+channels_last")
PRECISIONS = SCHEMA["training"]["precision"].choices
FEATURES = (*PRECISIONS, "channels_last", "compile")
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.json")


def demo_recipe():
    """configs/demo.json's model section and loss weights: what its step computes, apart from the data."""
    with open(DEMO_CONFIG) as f:
        demo = json.load(f)
    return {"model": demo["model"], "training": {k: v for k, v in demo["training"].items() if k in LOSS_WEIGHTS}}


NETWORK_NOTES = {
    "reference": "the reference port's decoder and F, no cross or marginal term",
    "default": "FiLM decoders, per-domain InstanceNorm in F",
    "demo": "configs/demo.json: FiLM decoders of half the default widths, the cross and marginal terms",
}
# name -> the config sections that make its network and objective (over the schema's defaults)
NETWORKS = {
    "reference": lambda: {"model": {"decoder": "reference", "feature_norm": "shared", "init": "kaiming_normal"}},
    "default": lambda: {},
    "demo": demo_recipe,
}


def int_list(text):
    return [int(v) for v in text.split(",")]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--networks", default="reference",
                        help=f"comma-separated, of {', '.join(NETWORKS)}; ratios are to the first")
    parser.add_argument("--resolutions", type=int_list, default=[256], help="comma-separated, e.g. 64,256")
    parser.add_argument("--batch-sizes", type=int_list, default=[8], help="comma-separated, e.g. 8,32,64")
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
    args.networks = args.networks.split(",")
    unknown = set(args.networks) - set(NETWORKS)
    if unknown:
        parser.error(f"--networks: unknown {', '.join(sorted(unknown))}; choose from {', '.join(NETWORKS)}")
    args.options = args.options.split(",")
    for option in args.options:
        unknown = set(option.split("+")) - set(FEATURES)
        if unknown:
            parser.error(f"--options: unknown {', '.join(sorted(unknown))} in '{option}'")
    if args.compile:
        args.options = [o for option in args.options for o in (option, option + "+compile")]
    return args


# ---- training ---------------------------------------------------------------------------------
def build_solver(row, args):
    """A Solver set up for row (network, option, resolution, batch): that network and objective with the
    optimizers, memory format, gradient scaler and compilation that training uses."""
    features = set(row["option"].split("+"))
    precision = next((p for p in PRECISIONS if p in features), "fp32")
    sections = NETWORKS[row["network"]]()
    training = {**sections.get("training", {}), "batch_size": row["batch"], "precision": precision,
                "channels_last": "channels_last" in features, "compile": "compile" in features}
    cfg = build_config({"dataset": "MNIST-CDCB", "path_to_data": ".", "resolution": row["resolution"],
                        "device": args.device, "model": sections.get("model", {}), "training": training})
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


def measure_training(row, args):
    """Row with pairs/s, s/step and peak memory (run in a process of its own): Solver.train_step, the step
    training runs, with the KL weighed fully."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    solver = build_solver(row, args)
    solver.model.train()
    net = solver.wrapped_model()
    x, y = random_batch(solver, row["batch"], row["resolution"])
    for _ in range(args.warmup):
        solver.train_step(net, x, y, anneal=1.0, scale=1.0)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        solver.train_step(net, x, y, anneal=1.0, scale=1.0)
    synchronize(device)
    seconds = (time.perf_counter() - started) / args.steps
    return {**row, "pairs_per_s": row["batch"] / seconds, "s_per_step": seconds, "peak_mib": peak_memory_mib(device)}


def planned_rows(args):
    return [{"resolution": r, "batch": b, "option": o, "network": n}
            for r in args.resolutions for b in args.batch_sizes for o in args.options for n in args.networks]


def training_rows(args):
    # spawn, one task per process: no row inherits another's memory peak, allocator or compiled code.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
        for row in planned_rows(args):
            yield pool.submit(measure_training, row, args).result()


def with_ratios(rows, first):
    """Each row with "ratio": its s/step over that of network `first` at the same resolution, batch and option
    (rows come in planned_rows' order, the first network before the others)."""
    base = {}
    for row in rows:
        key = (row["resolution"], row["batch"], row["option"])
        if row["network"] == first:
            base[key] = row["s_per_step"]
        yield {**row, "ratio": row["s_per_step"] / base[key] if key in base else None}


# ---- data loading -----------------------------------------------------------------------------
def loader_pairs_per_s(dataset, batch, args):
    """Steady-state pairs/s of one epoch through the training loader (timed from its first batch on, so
    worker start-up is left out)."""
    sampler = ResumableSampler(len(dataset), 0, batch)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=args.workers,
                        generator=torch.Generator().manual_seed(0))
    batches = iter(loader)
    next(batches)
    count = len(dataset) // batch - 1
    started = time.perf_counter()
    for _ in range(count):
        next(batches)
    return count * batch / (time.perf_counter() - started)


def data_rows(args, folder):
    """(plain pairs/s, cached pairs/s, cache build seconds) at the first resolution and batch size."""
    resolution, batch = args.resolutions[0], args.batch_sizes[0]
    generate(committed_digits()[0][:args.data_pairs], folder, {"train": args.data_pairs})
    options = build_config({"dataset": "MNIST-CDCB", "path_to_data": folder}).data
    dataset = build_dataset("MNIST-CDCB", folder, "train", resolution, options, train=True)
    plain = loader_pairs_per_s(dataset, batch, args)
    started = time.perf_counter()
    dataset = cached(dataset, "memory", os.path.join(folder, ".cache"), verbose=False)
    build_seconds = time.perf_counter() - started
    return plain, loader_pairs_per_s(dataset, batch, args), build_seconds


# ---- report -----------------------------------------------------------------------------------
def print_training(args):
    memory = "peak CUDA memory allocated" if args.device.startswith("cuda") else "peak RSS of the process"
    print(f"training steps on {args.device} (torch {torch.__version__}, CPU threads: {args.threads}), "
          f"{args.warmup} warm-up + {args.steps} timed steps, random images; networks: "
          + "; ".join(f"{name} ({NETWORK_NOTES[name]})" for name in args.networks))
    ratio = f"vs {args.networks[0]}" if len(args.networks) > 1 else ""
    print(f"{'px':>4} {'batch':>5} {'option':<24} {'network':<10} {'pairs/s':>9} {'s/step':>8} {ratio:>10}   {memory}")
    for row in with_ratios(training_rows(args), args.networks[0]):
        shown = f"{row['ratio']:.2f}x" if ratio and row["ratio"] is not None else ""
        print(f"{row['resolution']:>4} {row['batch']:>5} {row['option']:<24} {row['network']:<10} "
              f"{row['pairs_per_s']:>9.2f} {row['s_per_step']:>8.3f} {shown:>10}   {row['peak_mib']:>8.0f} MiB",
              flush=True)


def print_data(args):
    with tempfile.TemporaryDirectory() as folder:
        plain, cached, build_seconds = data_rows(args, folder)
    print(f"\ndata loading: {args.data_pairs} MNIST-CDCB pairs (512x256 PNG) at {args.resolutions[0]} px, "
          f"batch {args.batch_sizes[0]}, {args.workers} workers, one epoch")
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
