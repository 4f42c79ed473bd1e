"""Content of translations: does the translation show the source's digit? A small digit classifier labels
both; the real pair (x_i, y_i) scored the same way is the ceiling.

The classifier is trained once per resolution on the committed MNIST digits of the demo's training split
(dataloader/mnist_5k.npz, never its test digits), each rendered in both domains with fresh random colours
every epoch as the data generator draws them: X a white digit over a uniform background, Y a coloured
digit on black. One network serves both domains, so a translation and its source are labelled by the
same function and a disagreement is the translation's, not that of two classifiers. Images are in
[0, 1], N x 3 x H x W.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dataloader.base import DIGIT_ON_COLOUR
from dataloader.make_mnist_cdcb import committed_split, compose
from dataloader.make_mnist_cdcb import digit_layers as mnist_cdcb_layers
from metrics.cached_network import load_or_train
from metrics.evaluation import DIRECTIONS, NUM_RANDOM_STYLES, Measure

INPUT_SIDE = 32  # the network sees every image area-resized to this: MNIST digits are 28 px, so nothing is lost
EPOCHS = 5  # where held-out accuracy levels off (docs/measurements.md)
BATCH = 64  # digits per step, each in both domains
LEARNING_RATE = 2e-3
SEED = 0
# Names the rendering the classifier learnt in its cache file, so that one trained on another is not reused.
RENDERING = "tf1-masks"


class DigitClassifier(nn.Module):
    """Three stride-2 conv + ReLU layers (5x5 to 16 channels, 3x3 to 32 and 64) and a linear layer: 10
    logits. Strided convolutions rather than conv + max-pool: a training step took an eighth of the CPU time,
    for about the same held-out accuracy."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for width, kernel in ((16, 5), (32, 3), (64, 3)):
            layers += [nn.Conv2d(channels, width, kernel, stride=2, padding=kernel // 2), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * (INPUT_SIDE // 8) ** 2, 10)

    def forward(self, images):
        images = F.adaptive_avg_pool2d(images.float(), INPUT_SIDE)
        # Each image standardised: the random colours give every image its own contrast.
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) / images.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
        return self.head(self.features(images).flatten(1))


def digit_layers(digits, resolution):
    """N x 4 x R x R float: the layers of uint8 28 x 28 digits (make_mnist_cdcb.digit_layers, at the
    rendered side) resized as the data are (bicubic to the resolution). Compositing is linear in them, so
    resizing the layers and then compositing is resizing the rendered image."""
    def resize(layer):
        return np.asarray(Image.fromarray(layer.astype(np.float32), "F").resize((resolution, resolution),
                                                                               Image.BICUBIC))
    return torch.from_numpy(np.stack([[resize(layer) for layer in mnist_cdcb_layers(d)] for d in digits]))


def render(layers, colours, domain):
    """N x 3 x R x R: digit_layers (N x 4 x R x R) drawn in domain 0 (white over the background colour)
    or 1 (the digit colour over black), colours N x 3."""
    return compose(layers.transpose(0, 1)[:, :, None], colours[..., None, None], domain)


def split_digits(split, per_class=None):
    """(uint8 N x 28 x 28 digits, N labels) of one split of the committed digits, in the demo data's order;
    per_class keeps the first of each class (tests)."""
    images, labels, order = committed_split()
    indices = order[split]
    if per_class is not None:
        indices = np.concatenate([indices[labels[indices] == k][:per_class] for k in range(10)])
    return images[indices], torch.from_numpy(labels[indices].astype(np.int64))


def train_classifier(resolution, per_class=None, epochs=EPOCHS, seed=SEED):
    """A DigitClassifier trained on the committed training digits (per_class of each class; all when None)
    rendered at `resolution` in both domains, deterministic for a seed. Returned in eval mode."""
    digits, labels = split_digits("train", per_class)
    layers = digit_layers(digits, resolution)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the caller's global random state is left as it was
        torch.manual_seed(seed)
        model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = epochs * -(-len(layers) // BATCH)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    model.train()
    threads = torch.get_num_threads()
    # Convolutions this small gain little from more threads, and on a busy CPU threads waiting on each
    # other make a step many times slower (docs/measurements.md).
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():  # also when the first evaluation that needs it runs under no_grad
            _train(model, optimizer, decay, layers, labels, epochs, generator)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _train(model, optimizer, decay, layers, labels, epochs, generator):
    for _ in range(epochs):
        order = torch.randperm(len(layers), generator=generator)
        for start in range(0, len(layers), BATCH):
            batch = order[start:start + BATCH]
            colours = torch.rand(2, len(batch), 3, generator=generator)
            images = torch.cat([render(layers[batch], colours[d], d) for d in (0, 1)])
            loss = F.cross_entropy(model(images), labels[batch].repeat(2))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            decay.step()


def cache_path(resolution, cache_dir):
    return os.path.join(cache_dir, f"digit_classifier_{RENDERING}_{resolution}px.pt")


def digit_classifier(resolution, cache_dir):
    """The classifier for `resolution`, loaded from `<cache_dir>/digit_classifier_<rendering>_<res>px.pt`,
    or trained (train_classifier) and saved there when absent; on the CPU, in eval mode."""
    return load_or_train(cache_path(resolution, cache_dir), DigitClassifier, lambda: train_classifier(resolution),
                         "a digit classifier")


@torch.no_grad()
def predict(classifier, images):
    """N: the classifier's digit label of each image."""
    return classifier(images).argmax(dim=1)


def label_agreement(classifier, sources, translations):
    """N float: 1 where the translation gets the source's label, else 0 (per pair, for summing over batches)."""
    return (predict(classifier, sources) == predict(classifier, translations)).float()


def content_agreement(classifier, sources, translations):
    """The fraction of pairs whose translation gets the source's label."""
    return label_agreement(classifier, sources, translations).mean().item()


def held_out_accuracy(classifier, resolution, per_class=None, seed=SEED):
    """{"x": accuracy, "y": accuracy} on the committed test-split digits (never trained on) rendered in
    each domain with seeded random colours."""
    digits, labels = split_digits("test", per_class)
    layers = digit_layers(digits, resolution)
    colours = torch.rand(2, len(layers), 3, generator=torch.Generator().manual_seed(seed))
    return {name: (predict(classifier, render(layers, colours[d], d)) == labels).float().mean().item()
            for d, name in enumerate(("x", "y"))}


class Content(Measure):
    """How often the digit classifier gives a translation the source's label, with the reference's style
    and with random styles, both ways, beside its agreement on the real pair (x_i, y_i), the ceiling.
    The classifier is trained on first use and kept in the subject's cache folder."""
    name = "content"

    def __init__(self):
        self._classifiers = {}

    def applies(self, subject):
        return subject.traits.known_answer == DIGIT_ON_COLOUR

    def _classifier(self, batch):
        key = (batch.sources[0].shape[-1], batch.subject.cache_dir, batch.sources[0].device)
        if key not in self._classifiers:
            self._classifiers[key] = digit_classifier(key[0], key[1]).to(key[2])
        return self._classifiers[key]

    def collect(self, batch):
        classifier = self._classifier(batch)
        columns = {"real_pair": label_agreement(classifier, batch.image(0), batch.image(1))}
        for src, direction in enumerate(DIRECTIONS):
            source = batch.image(src)
            columns[direction] = label_agreement(classifier, source, batch.translation(src))
            columns[f"{direction}_random"] = torch.stack([label_agreement(classifier, source, draw)
                                                          for draw in batch.random_translations(src)]).mean(dim=0)
        return columns

    def table(self, report):
        return "\n".join([
            "digit kept (the digit classifier gives the translation the source's label):",
            f"{'':>28} {'X2Y':>7} {'Y2X':>7}",
            f"{'reference style':>28} {report['x2y']:>7.3f} {report['y2x']:>7.3f}",
            f"{f'{NUM_RANDOM_STYLES} random styles':>28} {report['x2y_random']:>7.3f} {report['y2x_random']:>7.3f}",
            f"{'the real pair (ceiling)':>28} {report['real_pair']:>7.3f}"])

    def line(self, report):
        return (f"digit kept {report['x2y']:.3f} / {report['y2x']:.3f} (random styles {report['x2y_random']:.3f} / "
                f"{report['y2x_random']:.3f})")
