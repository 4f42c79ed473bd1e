"""Translation fidelity: targets and scores on hand-made MNIST-CDCB-style pairs with a known answer."""
import pytest
import torch
from torch import nn

from dataloader.base import DIGIT_ON_COLOUR, Traits
from metrics.evaluation import Subject, evaluate
from metrics.fidelity import KnownAnswer, background_colour, digit_colour, digit_shape, exemplar_targets, l1_per_image

SIDE = 16


def make_pairs(n, generator):
    """Pairs rendered exactly like MNIST-CDCB: a blob digit a, background b, digit colour c."""
    a = torch.zeros(n, 1, SIDE, SIDE)
    for i in range(n):
        top, left = torch.randint(3, 8, (2,), generator=generator).tolist()
        a[i, :, top:top + 6, left:left + 4] = 1.0
        a[i, :, top + 1:top + 5, left + 1:left + 3] = 0.5  # some intermediate intensities
    b = torch.rand(n, 3, 1, 1, generator=generator)
    c = 0.2 + 0.8 * torch.rand(n, 3, 1, 1, generator=generator)
    return a, b, c, b * (1 - a) + a, c * a


def test_colours_and_shape_are_recovered():
    a, b, c, x, y = make_pairs(6, torch.Generator().manual_seed(0))
    assert torch.allclose(background_colour(x), b.flatten(1))
    assert torch.allclose(digit_colour(y), c.flatten(1))
    assert torch.allclose(digit_shape(x, y), a, atol=1e-6)


def test_targets_by_hand():
    a, b, c, x, y = make_pairs(4, torch.Generator().manual_seed(1))
    ref = [1, 2, 3, 0]
    targets = exemplar_targets(x, y, x[ref], y[ref])
    assert torch.allclose(targets["x2y"], c[ref] * a, atol=1e-6)
    assert torch.allclose(targets["y2x"], b[ref] * (1 - a) + a, atol=1e-6)
    # With itself as reference, the answer is the pair's own other image.
    own = exemplar_targets(x, y, x, y)
    assert torch.allclose(own["x2y"], y, atol=1e-6) and torch.allclose(own["y2x"], x, atol=1e-6)


def test_l1_per_image():
    images = torch.zeros(2, 3, 2, 2)
    targets = torch.stack([torch.full((3, 2, 2), 0.25), torch.zeros(3, 2, 2)])
    targets[1, 0, 0, 0] = 1.2
    assert l1_per_image(images, targets).tolist() == pytest.approx([0.25, 0.1])


class Oracle(nn.Module):
    """Translates perfectly: the exclusive code is the colour, the shared code the digit shape."""

    def __init__(self, error=0.0):
        super().__init__()
        self.error = error

    def exclusive_code(self, image, domain):
        unit = (image + 1) / 2
        colour = background_colour(unit) if domain == 0 else digit_colour(unit)
        return colour, torch.zeros_like(colour)

    def shared_code(self, image, domain):
        unit = (image + 1) / 2
        if domain == 0:
            b = background_colour(unit)[..., None, None]
            a = ((unit - b) / (1 - b).clamp_min(1e-6)).amax(dim=1, keepdim=True).clamp(0, 1)
        else:
            a = (unit / digit_colour(unit)[..., None, None]).amax(dim=1, keepdim=True).clamp(0, 1)
        return a.flatten(1), torch.zeros_like(a.flatten(1))

    def decode(self, colour, shape, domain):
        a, colour = shape.view(-1, 1, SIDE, SIDE), colour[..., None, None]
        image = colour * (1 - a) + a if domain == 0 else colour * a
        return image * 2 - 1 + self.error


class Pairs(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x * 2 - 1, y * 2 - 1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i], f"{i:05d}"


def known_answer_report(model, data, batch_size, max_pairs=0):
    reports, _ = evaluate(model, data, [KnownAnswer()], Subject(Traits(True, DIGIT_ON_COLOUR)), batch_size, "cpu",
                          max_pairs=max_pairs)
    return reports["translation"]


def test_report_of_a_perfect_and_a_shifted_model():
    _, b, c, x, y = make_pairs(5, torch.Generator().manual_seed(2))
    # b in [0.1, 0.9] so the oracle can read the shape from x alone
    x = (0.1 + 0.8 * b) * (1 - digit_shape(x, y)) + digit_shape(x, y)
    data = Pairs(x, y)
    report = known_answer_report(Oracle(), data, batch_size=2)
    assert report["num_pairs"] == 5
    assert report["x2y_l1"] < 1e-5 and report["y2x_l1"] < 1e-5
    ref = [1, 2, 3, 4, 0]
    targets = exemplar_targets(x, y, x[ref], y[ref])
    assert report["x2y_copy_source_l1"] == pytest.approx(l1_per_image(x, targets["x2y"]).mean().item(), abs=1e-6)
    assert report["x2y_copy_reference_l1"] == pytest.approx(l1_per_image(y[ref], targets["x2y"]).mean().item(),
                                                            abs=1e-6)
    assert report["y2x_copy_reference_l1"] == pytest.approx(l1_per_image(x[ref], targets["y2x"]).mean().item(),
                                                            abs=1e-6)
    # An output 0.1 too bright everywhere (0.2 in [-1, 1]) scores 0.1; max_pairs limits the set.
    shifted = known_answer_report(Oracle(error=0.2), data, batch_size=3, max_pairs=4)
    assert shifted["num_pairs"] == 4 and shifted["x2y_l1"] == pytest.approx(0.1, abs=1e-5)
