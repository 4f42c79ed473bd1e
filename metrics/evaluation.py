"""The evaluation seam: one pass over the test pairs in evaluation mode, shared by test mode, the
in-training evaluation and bench/quality.py.

Each batch is an EvalBatch: test pair i with pair i + 1 (cyclically) as its style reference, whose
codes and translations are computed on first use and kept, so every measure reads the same ones and
nothing is encoded or decoded twice. A Measure turns batches into per-pair columns (`collect`), the
columns of the whole split into a report (`summarise`), and a report into text and TensorBoard
scalars. Adding a measure is one Measure subclass and one line in metrics/measures.py.
"""
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from dataloader.base import Traits
from dataloader.sampler import balanced_batches
from models.iiae import DOMAINS, evaluating
from utils.files import user_cache_dir

DIRECTIONS = ("x2y", "y2x")  # DIRECTIONS[d]: translating domain d into the other
NUM_RANDOM_STYLES = 8  # prior draws per source for the random-style measures


def unit(images):
    """Model-range images [-1, 1] as floats in [0, 1], the measures' pixel unit."""
    return (images.float() + 1) / 2


@dataclass(frozen=True)
class Subject:
    """What is evaluated: the traits of the dataset's pairs (dataloader.base.Traits: true pairs or random
    partners, a known answer or none), which decide the measures that apply, what renders the known
    answer where the pairs alone do not give it (the dataset's `answers`), and the folder where measures
    keep what they build once (a classifier)."""
    traits: Traits
    cache_dir: str = field(default_factory=user_cache_dir)
    answers: object = None

    @classmethod
    def of(cls, dataset):
        return cls(dataset.traits, answers=dataset.answers)


class EvalBatch:
    """A batch of test pairs (x, y) with references (x_ref, y_ref), model-range images on the device, and
    the names of the pairs and of their references. Codes are posterior means; translations are in [0, 1]."""

    def __init__(self, model, subject, x, y, x_ref, y_ref, names, generator, num_random=NUM_RANDOM_STYLES,
                 reference_names=None):
        self.model, self.subject, self.names, self.num_random = model, subject, names, num_random
        self.reference_names = reference_names
        self.sources, self.references = (x, y), (x_ref, y_ref)
        self._cache = {}
        # Drawn up front in one order, so the styles do not depend on which measures ask for them first.
        dim = self.code("exclusive", 0).shape[1]
        self._noise = [torch.randn(num_random, x.shape[0], dim, generator=generator).to(x.device) for _ in DOMAINS]

    def __len__(self):
        return len(self.names)

    def cached(self, key, compute):
        """compute() the first time `key` is asked for, then the same value: measures share derived
        values (a known answer, a classifier's labels) through it."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def posterior(self, kind, domain, of="source"):
        """(mean, log-variance) of the `kind` code ("shared": r^d(z^s|.), "exclusive": q(z^d|.)) of the
        sources' or the references' images of `domain`."""
        images = (self.sources if of == "source" else self.references)[domain]
        encode = self.model.shared_code if kind == "shared" else self.model.exclusive_code
        return self.cached(("code", kind, domain, of), lambda: tuple(t.float() for t in encode(images, domain)))

    def code(self, kind, domain, of="source"):
        """The posterior mean, the code translations use."""
        return self.posterior(kind, domain, of)[0]

    def translation(self, src_domain, style="reference"):
        """The sources of src_domain decoded into the other domain with the exclusive code of the
        reference (pair i + 1's image of that domain) or of the partner (the pair's own image of it)."""
        tgt = 1 - src_domain
        return self.cached(("translation", src_domain, style), lambda: unit(self.model.decode(
            self.code("exclusive", tgt, "reference" if style == "reference" else "source"),
            self.code("shared", src_domain), tgt)))

    def random_translations(self, src_domain, count=None):
        """count (all num_random when None) x N x 3 x H x W: the sources decoded into the other domain
        with the first `count` prior draws; each draw is decoded once, when first asked for."""
        tgt = 1 - src_domain
        shared = self.code("shared", src_domain)
        return torch.stack([self.cached(("random", src_domain, k), lambda z=z: unit(
            self.model.decode(z.to(shared.dtype), shared, tgt))) for k, z in enumerate(self._noise[tgt][:count])])

    def image(self, domain, of="source"):
        """The sources' or references' images of `domain` in [0, 1]."""
        return unit((self.sources if of == "source" else self.references)[domain])


class Measure:
    """One measure of an evaluation. Subclasses set `name` and define collect, table and line (and
    summarise, when a report is more than the columns' means)."""
    name = ""

    def applies(self, subject):
        """Whether the measure means something on this Subject."""
        return True

    def collect(self, batch):
        """{column: tensor whose first dimension is the batch's pairs}, on the CPU."""
        raise NotImplementedError

    def summarise(self, columns):
        """The report (a dict of JSON numbers) from the columns concatenated over all pairs; by default
        the mean of every column, and the number of pairs."""
        report = {key: values.float().mean().item() for key, values in columns.items()}
        report["num_pairs"] = len(next(iter(columns.values())))
        return report

    def table(self, report):
        """Lines for the terminal in test mode."""
        raise NotImplementedError

    def line(self, report):
        """A short piece of the one-line in-training summary."""
        raise NotImplementedError

    def scalars(self, report):
        """TensorBoard scalars, tag -> value (the tag is prefixed with `<name>/`)."""
        return {key: value for key, value in report.items() if key != "num_pairs"}


class _WithReference(Dataset):
    """Test pair i with pair i + 1 (cyclically) of the first n as its reference."""

    def __init__(self, dataset, n):
        self.dataset, self.n = dataset, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x, y, name = self.dataset[i]
        x_ref, y_ref, reference = self.dataset[(i + 1) % self.n]
        return x, y, x_ref, y_ref, name, reference


def evaluated_pairs(dataset, max_pairs=0):
    """How many test pairs an evaluation of the first max_pairs (all when 0) reads."""
    return len(dataset) if max_pairs <= 0 else min(max_pairs, len(dataset))


def evaluation_batches(model, dataset, subject, batch_size, device, seed=0, max_pairs=0):
    """EvalBatches over the first max_pairs pairs (all when 0), in dataset order; call inside
    models.iiae.evaluating."""
    n = evaluated_pairs(dataset, max_pairs)
    loader = DataLoader(_WithReference(dataset, n), batch_sampler=balanced_batches(n, batch_size),
                        generator=torch.Generator())  # leaves the global RNG alone
    generator = torch.Generator().manual_seed(seed)
    for x, y, x_ref, y_ref, names, references in loader:
        yield EvalBatch(model, subject, *(t.to(device) for t in (x, y, x_ref, y_ref)), list(names), generator,
                        reference_names=list(references))


def evaluate(model, dataset, measures, subject, batch_size, device, batchnorm="running", seed=0, max_pairs=0,
             on_batch=None):
    """{measure name: report} for the measures that apply to `subject`, from one pass over the test
    pairs. on_batch(i, batch), when given, sees every EvalBatch too (test mode draws its grids there).
    Returns (reports, columns): columns are each measure's per-pair values, concatenated."""
    active = [m for m in measures if m.applies(subject)]
    parts = {m.name: {} for m in active}
    with evaluating(model, batchnorm):
        for i, batch in enumerate(evaluation_batches(model, dataset, subject, batch_size, device, seed, max_pairs)):
            if on_batch is not None:
                on_batch(i, batch)
            for m in active:
                for key, value in m.collect(batch).items():
                    parts[m.name].setdefault(key, []).append(value.detach().cpu())
    columns = {name: {key: torch.cat(values) for key, values in cols.items()} for name, cols in parts.items()}
    reports = {m.name: m.summarise(columns[m.name]) for m in active}
    return reports, columns


def report_by_name(measures):
    """name -> Measure, for the formatting helpers below."""
    return {m.name: m for m in measures}


def scalars(measures, reports):
    """{`<measure name>/<tag>`: value} of every report, as TensorBoard shows them."""
    by_name = report_by_name(measures)
    return {f"{name}/{tag}": value for name, report in reports.items()
            for tag, value in by_name[name].scalars(report).items()}


def log_scalars(writer, measures, reports, step):
    """Every report's scalars to TensorBoard."""
    for tag, value in scalars(measures, reports).items():
        writer.add_scalar(tag, value, step)


def summary_line(measures, reports, step, num_pairs):
    """The one printed line of an in-training evaluation."""
    by_name = report_by_name(measures)
    pieces = [by_name[name].line(report) for name, report in reports.items()]
    return f"evaluation at {step} ({num_pairs} test pairs): " + ", ".join(p for p in pieces if p)


def tables(measures, reports):
    """Test mode's printed tables, one per report."""
    by_name = report_by_name(measures)
    return "\n".join(by_name[name].table(report) for name, report in reports.items())
