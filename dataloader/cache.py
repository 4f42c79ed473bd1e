"""Decode-and-resize each image once. `memory` keeps uint8 tensors in RAM; `disk` keeps them in a
uint8 file under the cache folder, reused by later runs with the same files and resolution. Worker
processes share either copy, so a training step never waits on image decoding at steady state."""
import hashlib
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dataloader.base import load_uint8


class _Decode(Dataset):
    def __init__(self, refs, resolution):
        self.refs, self.resolution = refs, resolution

    def __len__(self):
        return len(self.refs)

    def __getitem__(self, i):
        return load_uint8(self.refs[i], self.resolution)


def _decode_all(refs, resolution, out, num_workers):
    loader = DataLoader(_Decode(refs, resolution), batch_size=64, num_workers=num_workers)
    start = 0
    for batch in loader:
        out[start:start + len(batch)] = batch.numpy() if isinstance(out, np.ndarray) else batch
        start += len(batch)


def _key(refs, resolution):
    digest = hashlib.sha1(str(resolution).encode())
    for ref in refs:
        stat = os.stat(ref.path)
        digest.update(f"{ref.path}|{ref.half}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _disk_array(refs, resolution, cache_dir, num_workers):
    os.makedirs(cache_dir, exist_ok=True)
    shape = (len(refs), 3, resolution, resolution)
    path = os.path.join(cache_dir, f"{_key(refs, resolution)}-{resolution}.npy")
    if not os.path.exists(path):
        tmp = f"{path}.tmp-{os.getpid()}"
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _decode_all(refs, resolution, array, num_workers)
        array.flush()
        del array
        os.replace(tmp, path)
    return torch.from_numpy(np.load(path, mmap_mode="c"))


def attach_cache(dataset, mode, cache_dir, num_workers=0, verbose=True):
    """Fill dataset.cache according to mode ("none", "memory", "disk")."""
    if mode == "none":
        return
    started = time.monotonic()
    arrays = []
    for refs in (dataset.x_refs, dataset.y_refs):
        if mode == "memory":
            array = torch.empty((len(refs), 3, dataset.resolution, dataset.resolution), dtype=torch.uint8)
            _decode_all(refs, dataset.resolution, array, num_workers)
        else:
            array = _disk_array(refs, dataset.resolution, cache_dir, num_workers)
        arrays.append(array)
    dataset.cache = tuple(arrays)
    if verbose:
        count = len(dataset.x_refs) + len(dataset.y_refs)
        print(f"cached {count} images at {dataset.resolution} px in {mode} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
