"""Content agreement: the digit classifier's rendering, training, cache, and agreement of translations."""
import os

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from dataloader.make_mnist_cdcb import committed_digits, committed_split, render_pair
from metrics import content
from tests.recording import one_thread  # noqa: F401 (fixture)
from tests.small import SMALL_CLASSIFIER
from utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")

RES = 32


@pytest.fixture(scope="module")
def small_classifier(one_thread):
    return content.train_classifier(RES, **SMALL_CLASSIFIER)


def test_rendering_follows_the_data():
    """A committed digit rendered at the resolution is, up to rounding, the MNIST-CDCB pair's halves as
    the loader reads them (rendered at 256 px, then resized)."""
    images, _, order = committed_split()
    digit = images[order["train"][0]]
    background, foreground = (30, 200, 90), (250, 120, 10)
    pair = Image.fromarray(render_pair(digit, background, foreground))
    a = content.digit_layers(digit[None], RES)
    for domain, (box, colour) in enumerate((((0, 0, 256, 256), background), ((256, 0, 512, 256), foreground))):
        loaded = TF.pil_to_tensor(pair.crop(box).resize((RES, RES), Image.BICUBIC)).float() / 255
        ours = content.render(a, torch.tensor([colour]) / 255, domain)[0]
        assert (loaded - ours).abs().mean() < 0.002 and (loaded - ours).abs().max() < 0.1


class BrightnessLabel(nn.Module):
    """A known classifier: the label is the first pixel's red value times 10, rounded down."""

    def forward(self, images):
        return nn.functional.one_hot((images[:, 0, 0, 0] * 10).long().clamp(0, 9), 10).float()


def test_agreement_counts_label_matches():
    sources = torch.tensor([0.05, 0.35, 0.55, 0.75])[:, None, None, None].expand(-1, 3, 4, 4)
    same_labels = sources + 0.02  # same tenth
    other_labels = sources + 0.1
    classifier = BrightnessLabel()
    assert content.content_agreement(classifier, sources, sources) == 1.0
    assert content.content_agreement(classifier, sources, same_labels) == 1.0
    assert content.content_agreement(classifier, sources, other_labels) == 0.0
    mixed = torch.cat([same_labels[:2], other_labels[2:]])
    assert content.label_agreement(classifier, sources, mixed).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_small_classifier_labels_both_domains_and_tells_digits_apart(small_classifier):
    accuracy = content.held_out_accuracy(small_classifier, RES, per_class=20)
    assert accuracy["x"] > 0.7 and accuracy["y"] > 0.7
    images, labels, order = committed_split()
    test = order["test"]
    ones, zeros = test[labels[test] == 1][:20], test[labels[test] == 0][:20]
    g = torch.Generator().manual_seed(1)
    x_ones = content.render(content.digit_layers(images[ones], RES), torch.rand(20, 3, generator=g), 0)
    y_ones = content.render(content.digit_layers(images[ones], RES), torch.rand(20, 3, generator=g), 1)
    y_zeros = content.render(content.digit_layers(images[zeros], RES), torch.rand(20, 3, generator=g), 1)
    assert content.content_agreement(small_classifier, x_ones, x_ones) == 1.0
    assert content.content_agreement(small_classifier, x_ones, y_ones) > 0.8  # the real pair
    assert content.content_agreement(small_classifier, x_ones, y_zeros) < 0.15  # another digit


def test_the_classifier_sees_only_the_demo_training_digits():
    """The split is the demo data's: training digits are MNIST-CDCB-demo's training pairs, in order."""
    demo_digits, sizes = committed_digits()
    train, train_labels = content.split_digits("train")
    test, test_labels = content.split_digits("test")
    assert np.array_equal(train, demo_digits[:sizes["train"]]) and np.array_equal(test, demo_digits[sizes["train"]:])
    assert torch.equal(torch.bincount(train_labels), torch.full((10,), 450))
    few, few_labels = content.split_digits("test", per_class=2)
    assert torch.equal(torch.bincount(few_labels), torch.full((10,), 2)) and len(few) == 20


def test_training_is_deterministic_and_keeps_the_global_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = content.train_classifier(RES, per_class=5, epochs=1)
        assert torch.equal(torch.rand(3), expected) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    b = content.train_classifier(RES, per_class=5, epochs=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not a.training


def test_cache_trains_once_then_loads(tmp_path, monkeypatch):
    calls, train = [], content.train_classifier

    def fast_train(resolution):
        calls.append(resolution)
        return train(resolution, per_class=5, epochs=1)

    monkeypatch.setattr(content, "train_classifier", fast_train)
    cache = tmp_path / "cache"
    first = content.digit_classifier(RES, str(cache))
    assert calls == [RES] and os.listdir(cache) == [os.path.basename(content.cache_path(RES, str(cache)))]
    second = content.digit_classifier(RES, str(cache))
    assert calls == [RES] and not second.training
    images = torch.rand(4, 3, RES, RES)
    assert torch.equal(content.predict(first, images), content.predict(second, images))
    assert torch.equal(first(images), second(images))


@pytest.mark.parametrize("write", [lambda p: torch.save({"not": torch.zeros(1)}, p), lambda p: p.write_bytes(b"junk")])
def test_unreadable_cache_names_the_file(tmp_path, write):
    path = tmp_path / os.path.basename(content.cache_path(RES, str(tmp_path)))
    write(path)
    with pytest.raises(UserError, match=str(path)):
        content.digit_classifier(RES, str(tmp_path))
    assert path.exists()
