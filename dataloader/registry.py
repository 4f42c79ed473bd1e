"""Datasets chosen by the config's `dataset` name. Each module in dataloader/datasets/
registers one builder with what its pairs support (true pairs, a known answer), so adding a
dataset is adding one file there, and the measures that apply to it follow from its registration.
`python -m dataloader.registry` prints the README's table of datasets."""
import difflib
import importlib
import os
import pkgutil
from dataclasses import dataclass
from typing import Callable

from dataloader.base import KNOWN_ANSWERS, Traits
from dataloader.cache import cached
from utils.errors import UserError


@dataclass(frozen=True)
class Entry:
    builder: Callable
    traits: Traits
    what: str          # what X and Y are, for the table of datasets
    get: str           # how to get the data, likewise
    creates_root: bool  # the builder makes a missing root itself (generated demo data)


_ENTRIES = {}


def register(name, what, get, true_pairs=True, known_answer=None, creates_root=False):
    """Decorator: `builder(root, split, resolution, data_options, train, traits) -> PairDataset`, the
    dataset built with `traits` (Traits(true_pairs, known_answer)). `creates_root` lets the builder
    receive a root that does not exist yet."""
    def wrap(builder):
        _ENTRIES[name] = Entry(builder, Traits(true_pairs, known_answer), what, get, creates_root)
        return builder
    return wrap


def _import_all():
    package = os.path.join(os.path.dirname(__file__), "datasets")
    for module in pkgutil.iter_modules([package]):
        importlib.import_module(f"dataloader.datasets.{module.name}")


def dataset_names():
    _import_all()
    return sorted(_ENTRIES)


def generated_on_first_use(name):
    """Whether dataset `name` makes its own data in a missing or empty root (the demo's)."""
    dataset_names()
    return name in _ENTRIES and _ENTRIES[name].creates_root


def build_dataset(name, root, split, resolution, data_options, train):
    """The `split` ("train" or "test") of dataset `name` under `root`. `train` turns on the
    dataset's training-only behaviour (augmentation, random unpaired partners)."""
    names = dataset_names()
    if name not in _ENTRIES:
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise UserError(f"config: 'dataset' is \"{name}\", not one of {', '.join(names)}{hint}")
    entry = _ENTRIES[name]
    if not entry.creates_root and not os.path.isdir(root):
        raise UserError(f"config: 'path_to_data' folder not found: {root}")
    dataset = entry.builder(root, split, resolution, data_options, train, entry.traits)
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


def markdown_table():
    """The README's table of datasets, generated from the registrations so the two cannot drift."""
    lines = ["| `dataset` | what | pairs | known answer | get it |", "|---|---|---|---|---|"]
    for name in dataset_names():
        entry = _ENTRIES[name]
        pairs = "true pairs" if entry.traits.true_pairs else "unpaired: random partners"
        answer = f"`{entry.traits.known_answer}`" if entry.traits.known_answer else "no"
        lines.append(f"| `{name}` | {entry.what} | {pairs} | {answer} | {entry.get} |")
    lines.append("")
    lines += [f"Known answer `{name}`: {rendering}." for name, rendering in KNOWN_ANSWERS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    # The dataset modules register with the imported dataloader.registry, not with this __main__.
    from dataloader import registry
    print(registry.markdown_table())
