"""Decode-and-resize each image once. `memory` keeps uint8 tensors in RAM; `disk` keeps them in a
uint8 file under the cache folder, reused by later runs with the same files and resolution. Worker
processes share either copy, so a training step never waits on image decoding at steady state; under
torchrun so do all the processes of a machine."""
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from dataloader.base import decode_halves
from utils.files import atomic_path


class _Decode(Dataset):
    """Item i: every needed crop of the i-th distinct file, so a side-by-side file is decoded once
    for both of its halves."""

    def __init__(self, groups, resolution):
        self.groups, self.resolution = groups, resolution

    def __len__(self):
        return len(self.groups)

    def __getitem__(self, i):
        path, halves = self.groups[i]
        return decode_halves(path, halves, self.resolution)


def _decode_all(ref_lists, resolution, arrays):
    """Fill arrays[d][j] with the decoded ref_lists[d][j], using every core."""
    slots = {}
    for d, refs in enumerate(ref_lists):
        for j, ref in enumerate(refs):
            slots.setdefault(ref.path, {}).setdefault(ref.half, []).append((d, j))
    groups = [(path, sorted(halves, key=str)) for path, halves in slots.items()]
    loader = DataLoader(_Decode(groups, resolution), batch_size=None, num_workers=os.cpu_count() or 1,
                        generator=torch.Generator())
    for (path, halves), images in zip(groups, loader):
        for half, image in zip(halves, images):
            for d, j in slots[path][half]:
                arrays[d][j] = image.numpy() if isinstance(arrays[d], np.ndarray) else image


def _key(refs, resolution):
    digest = hashlib.sha1(str(resolution).encode())
    for ref in refs:
        stat = os.stat(ref.path)
        digest.update(f"{ref.path}|{ref.half}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _disk_arrays(ref_lists, resolution, cache_dir):
    os.makedirs(cache_dir, exist_ok=True)
    paths = [os.path.join(cache_dir, f"{_key(refs, resolution)}-{resolution}.npy") for refs in ref_lists]
    if not all(os.path.exists(p) for p in paths):
        with contextlib.ExitStack() as stack:
            tmps = [stack.enter_context(atomic_path(p)) for p in paths]
            arrays = [np.lib.format.open_memmap(t, mode="w+", dtype=np.uint8,
                                                shape=(len(refs), 3, resolution, resolution))
                      for t, refs in zip(tmps, ref_lists)]
            _decode_all(ref_lists, resolution, arrays)
            for array in arrays:
                array.flush()
    # Copy-on-write maps: shared by worker processes, never written back.
    return [torch.from_numpy(np.load(p, mmap_mode="c")) for p in paths]


SHARED_MEMORY = "/dev/shm"  # a RAM file system on Linux


def _memory_arrays(ref_lists, resolution):
    arrays = [torch.empty((len(refs), 3, resolution, resolution), dtype=torch.uint8) for refs in ref_lists]
    _decode_all(ref_lists, resolution, arrays)
    return arrays


def _per_machine(ref_lists, resolution, mode, cache_dir, context):
    """The cache of a torchrun process, built once per machine rather than once per process: the machine's
    first process decodes (with every core) into cache files while the others wait, then every process maps
    them, and all share that one copy. For `memory` the files go to /dev/shm and are unlinked once every
    process has mapped them, so the RAM is freed with the last process; where /dev/shm is missing or too
    small, each process builds its own as without torchrun. Every process must call this, in the same
    order (collective calls)."""
    folder, shared = cache_dir, True
    if mode == "memory":
        token = [secrets.token_hex(4)]
        dist.broadcast_object_list(token, src=0)
        folder = os.path.join(SHARED_MEMORY, f"iiae-cache-{token[0]}")
        size = sum(len(refs) for refs in ref_lists) * 3 * resolution ** 2
        shared = os.path.isdir(SHARED_MEMORY) and shutil.disk_usage(SHARED_MEMORY).free > 2 * size
    first = context.local_rank == 0
    # A SIGTERM (what torchrun sends when another process fails) unwinds like Ctrl-C, so that files as
    # large as the cache are not left behind in RAM.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum)) if first else None
    try:
        if first and shared:
            _disk_arrays(ref_lists, resolution, folder)
        dist.barrier()
        if mode == "memory" and not os.path.isdir(folder):
            return _memory_arrays(ref_lists, resolution)
        arrays = _disk_arrays(ref_lists, resolution, folder)
        if mode == "memory":
            dist.barrier()  # every process has mapped the files
        return arrays
    finally:
        if first:
            if mode == "memory":
                shutil.rmtree(folder, ignore_errors=True)
            signal.signal(signal.SIGTERM, previous)


def cached(dataset, mode, cache_dir, verbose=True, context=None):
    """`dataset` reading its images from a cache according to mode: "none" (itself), "memory", "disk".
    context: the process's utils.distributed.Context; under torchrun the cache is built once per machine."""
    if mode == "none":
        return dataset
    started = time.monotonic()
    ref_lists, resolution = (dataset.x_refs, dataset.y_refs), dataset.resolution
    if context is not None and context.distributed:
        arrays = _per_machine(ref_lists, resolution, mode, cache_dir, context)
    elif mode == "memory":
        arrays = _memory_arrays(ref_lists, resolution)
    else:
        arrays = _disk_arrays(ref_lists, resolution, cache_dir)
    if verbose:
        count = len(dataset.x_refs) + len(dataset.y_refs)
        print(f"cached {count} images at {resolution} px in {mode} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    return dataset.with_cache(*arrays)
