"""The decode-and-resize caches: items equal those decoded directly; the disk cache is reused by a later
run, rebuilt when a file changes, and an interrupted build leaves nothing behind."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from dataloader import cache
from dataloader.registry import build_dataset
from tests.fakedata import make_mnist_cdcb
from utils import distributed
from utils.config import build_config

RES = 32


def build(name, root, train):
    options = build_config({"dataset": name, "path_to_data": str(root)}).data
    return build_dataset(name, str(root), "train", RES, options, train)


def write_afhq(root):
    """Unpaired AFHQ layout with fewer dogs than cats, in sizes other than RES (so resizing matters)."""
    rng = np.random.default_rng(0)
    for domain, count in (("cat", 5), ("dog", 3)):
        folder = os.path.join(root, "train", domain)
        os.makedirs(folder)
        for i in range(count):
            pixels = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{domain}{i}.png"))
    return str(root)


@pytest.fixture(params=["MNIST-CDCB", "AFHQ"])
def data(request, tmp_path):
    """(dataset name, root, train): paired side-by-side halves; unpaired with random partners and
    augmentation, which draw from each item's seed."""
    if request.param == "MNIST-CDCB":
        return "MNIST-CDCB", make_mnist_cdcb(tmp_path / "data", n_train=6, n_test=2, size=RES), False
    return "AFHQ", write_afhq(tmp_path / "data"), True


def items(dataset):
    """Every item, fetched as the training sampler fetches them: with a seed of its own."""
    return [dataset[(i, 1000 + i)] for i in range(len(dataset))]


def assert_same_items(a, b):
    assert len(a) == len(b)
    for (xa, ya, name_a), (xb, yb, name_b) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and name_a == name_b


def cached(name, root, train, mode, cache_dir):
    return cache.cached(build(name, root, train), mode, str(cache_dir), verbose=False)


def forbid_decoding(monkeypatch):
    def decode(*_):
        raise AssertionError("the cache decoded images again")
    monkeypatch.setattr(cache, "_decode_all", decode)


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_cached_items_equal_decoded_items(data, tmp_path, mode):
    name, root, train = data
    dataset = cached(name, root, train, mode, tmp_path / "cache")
    assert dataset.cache is not None
    assert_same_items(items(dataset), items(build(name, root, train)))


def test_disk_cache_is_reused_by_a_later_run(data, tmp_path, monkeypatch):
    name, root, train = data
    cached(name, root, train, "disk", tmp_path / "cache")
    files = {f: os.stat(tmp_path / "cache" / f).st_mtime_ns for f in os.listdir(tmp_path / "cache")}
    forbid_decoding(monkeypatch)
    again = cached(name, root, train, "disk", tmp_path / "cache")
    assert {f: os.stat(tmp_path / "cache" / f).st_mtime_ns for f in os.listdir(tmp_path / "cache")} == files
    monkeypatch.undo()
    assert_same_items(items(again), items(build(name, root, train)))


def test_disk_cache_is_rebuilt_when_an_image_changes(tmp_path):
    root = make_mnist_cdcb(tmp_path / "data", n_train=4, n_test=2, size=RES)
    before = items(cached("MNIST-CDCB", root, False, "disk", tmp_path / "cache"))
    path = os.path.join(root, "train", "00002.png")
    stat = os.stat(path)
    with Image.open(path) as img:
        Image.fromarray(255 - np.asarray(img)).save(path)
    # A later modification time, as a later edit has; set explicitly because two writes within one tick
    # of a file system's clock would otherwise look alike.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    after = items(cached("MNIST-CDCB", root, False, "disk", tmp_path / "cache"))
    assert not torch.equal(after[1][0], before[1][0])
    assert_same_items(after, items(build("MNIST-CDCB", root, False)))


def test_interrupted_disk_cache_build_leaves_nothing_behind(tmp_path, monkeypatch):
    root = make_mnist_cdcb(tmp_path / "data", n_train=6, n_test=2, size=RES)
    builds = []

    def decode_part_then_interrupt(ref_lists, resolution, arrays):
        """Ctrl-C after the first image has been written."""
        builds.append(len(arrays))
        arrays[0][0] = 1
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_decode_all", decode_part_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        cached("MNIST-CDCB", root, False, "disk", tmp_path / "cache")
    assert builds and os.listdir(tmp_path / "cache") == []

    monkeypatch.undo()
    assert_same_items(items(cached("MNIST-CDCB", root, False, "disk", tmp_path / "cache")),
                      items(build("MNIST-CDCB", root, False)))


def test_skipping_a_bad_file_after_caching_keeps_the_cache_aligned(data, tmp_path):
    name, root, train = data
    dataset = cached(name, root, train, "memory", tmp_path / "cache")
    bad = dataset.y_refs[1].path  # a pair's file, or one of the unpaired dogs
    with open(bad, "wb") as f:
        f.write(b"not an image")
    plain = build(name, root, train)
    for d in (dataset, plain):
        with pytest.warns(UserWarning, match="skipped 1 unreadable"):
            d.scan(skip_bad_files=True)
    assert tuple(map(len, dataset.cache)) == (len(plain.x_refs), len(plain.y_refs))
    assert_same_items(items(dataset), items(plain))


def _torchrun_process(rank, world, port, name, root, train, out, cache_dir):
    """One of `world` processes on one machine, as torchrun starts them: caches the dataset in memory,
    saves how often it decoded and what its items are."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    context = distributed.setup("cpu")
    decodes = []
    real_decode = cache._decode_all
    cache._decode_all = lambda *args: (decodes.append(1), real_decode(*args))[1]
    try:
        dataset = cache.cached(build(name, root, train), "memory", str(cache_dir), verbose=False, context=context)
        torch.save({"decodes": len(decodes), "items": items(dataset)}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        distributed.teardown(context)


@pytest.mark.parametrize("shared_memory", [True, False], ids=["dev-shm", "no-dev-shm"])
def test_torchrun_builds_the_memory_cache_once_per_machine(tmp_path, monkeypatch, shared_memory):
    """Two processes of one machine: with /dev/shm the first decodes and both read its copy, which is gone
    from /dev/shm afterwards; without it each decodes its own. Items equal those decoded directly."""
    if not os.path.isdir(cache.SHARED_MEMORY):
        pytest.skip("no /dev/shm here")
    if not shared_memory:
        monkeypatch.setattr(cache, "SHARED_MEMORY", str(tmp_path / "no-shm"))
    before = set(os.listdir("/dev/shm"))
    root = make_mnist_cdcb(tmp_path / "data", n_train=6, n_test=2, size=RES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Forked, as in test_distributed: the children start in milliseconds.
    mp.start_processes(_torchrun_process, args=(2, port, "MNIST-CDCB", root, False, str(tmp_path), tmp_path / "c"),
                       nprocs=2, start_method="fork")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert [r["decodes"] for r in ranks] == ([1, 0] if shared_memory else [1, 1])
    for r in ranks:
        assert_same_items(r["items"], items(build("MNIST-CDCB", root, False)))
    assert {n for n in set(os.listdir("/dev/shm")) - before if n.startswith("iiae-cache-")} == set()
