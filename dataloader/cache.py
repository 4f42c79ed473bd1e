"""Decode-and-resize each image once. `memory` keeps uint8 tensors in RAM; `disk` keeps them in a
uint8 file under the cache folder, reused by later runs with the same files and resolution. Worker
processes share either copy, so a training step never waits on image decoding at steady state; under
torchrun so do all the processes of a machine."""
import contextlib
import errno
import hashlib
import math
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
from utils.errors import UserError
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
        return [image.numpy() for image in decode_halves(path, halves, self.resolution)]


def _as_is(item):
    return item


def _decode_all(ref_lists, resolution, arrays):
    """Fill arrays[d][j] with the decoded ref_lists[d][j], using every core."""
    slots = {}
    for d, refs in enumerate(ref_lists):
        for j, ref in enumerate(refs):
            slots.setdefault(ref.path, {}).setdefault(ref.half, []).append((d, j))
    groups = [(path, sorted(halves, key=str)) for path, halves in slots.items()]
    # The images come from the workers as numpy arrays, pickled through the pipe: a tensor is handed over
    # by a connection to the worker's resource-sharer thread, which prints a traceback when Ctrl-C or
    # SIGTERM drops the connection midway.
    loader = DataLoader(_Decode(groups, resolution), batch_size=None, num_workers=os.cpu_count() or 1,
                        collate_fn=_as_is, generator=torch.Generator())
    for (path, halves), images in zip(groups, loader):
        for half, image in zip(halves, images):
            for d, j in slots[path][half]:
                arrays[d][j] = image if isinstance(arrays[d], np.ndarray) else torch.from_numpy(image)


def _key(refs, resolution):
    digest = hashlib.sha1(str(resolution).encode())
    for ref in refs:
        stat = os.stat(ref.path)
        digest.update(f"{ref.path}|{ref.half}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _mapped(path, shape, verbose):
    """The cache file `path` as a copy-on-write map (shared by worker processes, never written back), or
    None where it is missing or holds something other than a whole uint8 array of `shape` (cut short by a
    crash of another tool, or not written here), which is noted."""
    if not os.path.exists(path):
        return None
    try:
        loaded = np.load(path, mmap_mode="c")
    except (ValueError, EOFError):  # not an .npy of plain numbers, or shorter than its header says
        loaded = None
    except OSError as e:
        raise UserError(f"cannot read the disk cache {path}: {e.strerror or e}; remove it, or set data.cache "
                        "to \"memory\" or \"none\"") from None
    if isinstance(loaded, np.ndarray) and loaded.dtype == np.uint8 and loaded.shape == shape and \
            loaded.flags.c_contiguous:
        return torch.from_numpy(loaded)
    if hasattr(loaded, "close"):  # an .npz archive keeps its file open
        loaded.close()
    if verbose:
        print(f"note: {path} is not a disk cache of these images (a uint8 array of {shape}); rebuilding it",
              flush=True)
    return None


def _allocated(path, shape):
    """A uint8 .npy of `shape` at `path`, mapped for writing, with its disk space reserved: on a full disk
    the reservation fails as ENOSPC, where writing into the pages of a sparse file would kill the process
    with SIGBUS."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as f:
            try:
                os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot reserve
                    raise
    return array


def _build(ref_lists, resolution, paths, shapes):
    """Decode every image into the cache files, each written whole or not at all. A write the file system
    refuses (a full disk) is one UserError naming the file; none of the files is left."""
    folder = os.path.dirname(paths[0])
    where = folder  # what a failed write names: the file at hand, else the folder
    try:
        with contextlib.ExitStack() as stack:
            arrays = []
            for path, shape in zip(paths, shapes):
                where = path
                arrays.append(_allocated(stack.enter_context(atomic_path(path)), shape))
            where = folder
            _decode_all(ref_lists, resolution, arrays)
            for path, array in zip(paths, arrays):
                where = path
                array.flush()
            where = folder
    except OSError as e:
        need = sum(math.prod(shape) for shape in shapes) / 2 ** 20
        raise UserError(f"cannot write the disk cache {where}: {e.strerror or e} (the disk cache of these images "
                        f"needs {need:.2f} MiB in {folder}; free space there, or set data.cache to \"memory\" or "
                        "\"none\")") from None


def _disk_arrays(ref_lists, resolution, cache_dir, verbose):
    os.makedirs(cache_dir, exist_ok=True)
    paths = [os.path.join(cache_dir, f"{_key(refs, resolution)}-{resolution}.npy") for refs in ref_lists]
    shapes = [(len(refs), 3, resolution, resolution) for refs in ref_lists]
    arrays = [_mapped(path, shape, verbose) for path, shape in zip(paths, shapes)]
    if any(array is None for array in arrays):
        _build(ref_lists, resolution, paths, shapes)
        arrays = [_mapped(path, shape, verbose) for path, shape in zip(paths, shapes)]
    return arrays


SHARED_MEMORY = "/dev/shm"  # a RAM file system on Linux


def _memory_arrays(ref_lists, resolution):
    arrays = [torch.empty((len(refs), 3, resolution, resolution), dtype=torch.uint8) for refs in ref_lists]
    _decode_all(ref_lists, resolution, arrays)
    return arrays


def _per_machine(ref_lists, resolution, mode, cache_dir, context, verbose):
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
            _disk_arrays(ref_lists, resolution, folder, verbose)
        dist.barrier()
        if mode == "memory" and not os.path.isdir(folder):
            return _memory_arrays(ref_lists, resolution)
        arrays = _disk_arrays(ref_lists, resolution, folder, verbose=False)  # built and checked above
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
        arrays = _per_machine(ref_lists, resolution, mode, cache_dir, context, verbose)
    elif mode == "memory":
        arrays = _memory_arrays(ref_lists, resolution)
    else:
        arrays = _disk_arrays(ref_lists, resolution, cache_dir, verbose)
    if verbose:
        count = len(dataset.x_refs) + len(dataset.y_refs)
        print(f"cached {count} images at {resolution} px in {mode} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    return dataset.with_cache(*arrays)
