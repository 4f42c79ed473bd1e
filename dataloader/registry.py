"""Datasets chosen by the config's `dataset` name. Each module in dataloader/datasets/
registers one builder, so adding a dataset is adding one file there."""
import difflib
import importlib
import os
import pkgutil

from dataloader.cache import cached
from utils.errors import UserError

_BUILDERS = {}
_CREATES_ROOT = set()  # datasets whose builder makes a missing root itself (generated demo data)


def register(name, creates_root=False):
    """Decorator: `builder(root, split, resolution, data_options, train) -> PairDataset`.
    `creates_root` lets the builder receive a root that does not exist yet."""
    def wrap(builder):
        _BUILDERS[name] = builder
        if creates_root:
            _CREATES_ROOT.add(name)
        return builder
    return wrap


def _import_all():
    package = os.path.join(os.path.dirname(__file__), "datasets")
    for module in pkgutil.iter_modules([package]):
        importlib.import_module(f"dataloader.datasets.{module.name}")


def dataset_names():
    _import_all()
    return sorted(_BUILDERS)


def build_dataset(name, root, split, resolution, data_options, train):
    """The `split` ("train" or "test") of dataset `name` under `root`. `train` turns on the
    dataset's training-only behaviour (augmentation, random unpaired partners)."""
    names = dataset_names()
    if name not in _BUILDERS:
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise UserError(f"config: 'dataset' is \"{name}\", not one of {', '.join(names)}{hint}")
    if name not in _CREATES_ROOT and not os.path.isdir(root):
        raise UserError(f"config: 'path_to_data' folder not found: {root}")
    dataset = _BUILDERS[name](root, split, resolution, data_options, train)
    if len(dataset) == 0:
        raise UserError(f"dataset {name} has no {split} items under {root}")
    return dataset


def load_dataset(name, root, split, resolution, data_options, train, cache_dir, context=None):
    """build_dataset, then what training and testing read: every file's header checked once (a bad one
    named, or skipped with data.skip_bad_files) and the images cached as data.cache says, in that
    order, so the cache holds exactly the files that remain. context: the process's
    utils.distributed.Context (under torchrun the cache is built once per machine, and only the main
    process reports it)."""
    dataset = build_dataset(name, root, split, resolution, data_options, train)
    dataset.scan(data_options.skip_bad_files)
    return cached(dataset, data_options.cache, cache_dir, verbose=context is None or context.is_main,
                  context=context)
