"""Style error, random-style diversity and shape overlap on hand-made MNIST-CDCB-style pairs whose right
answer is known."""
import math

import pytest
import torch

from metrics.fidelity import exemplar_targets
from metrics.style import (colour_spread, diversity, draw_variance, exemplar_style_errors, partner_colour,
                           recovered_shape, region_colour, shape_iou, style_error, style_region, summary)

SIDE = 16
TOP, LEFT, HEIGHT, WIDTH = 4, 5, 6, 4  # the blob digit, clear of the 2-pixel border


def blob(n, shift=0, soft=False):
    """n copies of a rectangular digit (moved `shift` columns right); soft: one pixel at 0.8, one at 0.3."""
    a = torch.zeros(n, 1, SIDE, SIDE)
    a[:, :, TOP:TOP + HEIGHT, LEFT + shift:LEFT + shift + WIDTH] = 1.0
    if soft:
        a[:, :, TOP, LEFT + shift] = 0.8  # inside the digit region (> 0.5)
        a[:, :, TOP - 1, LEFT + shift] = 0.3  # outside it
    return a


def render(a, b, c):
    """x (white digit over background b) and y (digit colour c over black), b and c N x 3."""
    b, c = b[..., None, None], c[..., None, None]
    return b * (1 - a) + a, c * a


def pairs(n, seed, soft=False):
    g = torch.Generator().manual_seed(seed)
    b = 0.8 * torch.rand(n, 3, generator=g)  # not near white, so x alone shows the digit
    c = 0.3 + 0.7 * torch.rand(n, 3, generator=g)
    a = blob(n, soft=soft)
    return (a, b, c, *render(a, b, c))


def test_region_and_its_colour_by_hand():
    a, b, c, x, y = pairs(2, 0, soft=True)
    digit = style_region(x, y, 0)
    assert digit.dtype == torch.bool and digit.shape == (2, 1, SIDE, SIDE)
    assert torch.equal(digit, a > 0.5) and torch.equal(style_region(x, y, 1), a <= 0.5)
    # 24 digit pixels: 23 at 1, one at 0.8
    assert torch.allclose(region_colour(y, digit), c * (23 + 0.8) / 24, atol=1e-6)
    # 232 background pixels: 231 at 0, one at 0.3
    assert torch.allclose(region_colour(x, ~digit), b + (1 - b) * 0.3 / 232, atol=1e-6)
    assert torch.isnan(region_colour(x, torch.zeros_like(digit))).all()


def test_perfect_shifted_and_grey_translations():
    a, b, c, x, y = pairs(4, 1, soft=True)
    ref = [1, 2, 3, 0]
    targets = exemplar_targets(x, y, x[ref], y[ref])
    perfect = exemplar_style_errors(x, y, x[ref], y[ref], targets)
    assert perfect["x2y"].abs().max() < 1e-6 and perfect["y2x"].abs().max() < 1e-6
    shift = torch.tensor([0.1, -0.05, 0.03])[None, :, None, None]
    shifted = exemplar_style_errors(x, y, x[ref], y[ref], {d: t + shift for d, t in targets.items()})
    for direction in ("x2y", "y2x"):
        assert torch.allclose(shifted[direction], torch.full((4,), 0.06), atol=1e-6)
    grey = torch.full_like(x, 0.5)
    errors = exemplar_style_errors(x, y, x[ref], y[ref], {"x2y": grey, "y2x": grey})
    mean_a_digit = (23 + 0.8) / 24  # the right answer's digit is c_ref * a, a averaging this there
    assert torch.allclose(errors["x2y"], (c[ref] * mean_a_digit - 0.5).abs().mean(dim=1), atol=1e-6)
    background = b[ref] + (1 - b[ref]) * 0.3 / 232
    assert torch.allclose(errors["y2x"], (background - 0.5).abs().mean(dim=1), atol=1e-6)


def test_own_colour_yardstick_by_hand():
    a, b, c, x, y = pairs(3, 2)
    ref = [2, 0, 1]
    errors = exemplar_style_errors(x, y, x[ref], y[ref], exemplar_targets(x, y, x[ref], y[ref]))
    assert torch.allclose(errors["x2y_own_colour"], (c - c[ref]).abs().mean(dim=1), atol=1e-6)
    assert torch.allclose(errors["y2x_own_colour"], (b - b[ref]).abs().mean(dim=1), atol=1e-6)
    # With itself as the reference, the source's own colour is the right one.
    own = exemplar_style_errors(x, y, x, y, {"x2y": y, "y2x": x})
    assert max(v.abs().max().item() for v in own.values()) < 1e-6


def test_style_error_takes_only_the_region():
    a, b, c, x, y = pairs(2, 3)
    region = style_region(x, y, 0)
    target = c[..., None, None] * a
    off_region = target + 0.4 * (~region)  # wrong outside the digit only
    assert style_error(off_region, target, region).abs().max() < 1e-6


def test_draw_variance_by_hand():
    a, b, c, x, y = pairs(2, 4)
    region = style_region(x, y, 0)
    identical = torch.stack([c[..., None, None] * a] * 5)
    assert draw_variance(identical, region).abs().max() < 1e-12
    delta = torch.tensor([[0.2, 0.0, 0.1], [0.0, 0.0, 0.3]])  # per source
    draws = torch.stack([c[..., None, None] * a, (c + delta)[..., None, None] * a])
    # unbiased variance of two values delta apart: delta^2 / 2, averaged over R, G, B
    assert torch.allclose(draw_variance(draws, region), (delta ** 2 / 2).mean(dim=1), atol=1e-6)


def test_diversity_is_zero_for_identical_and_one_for_the_real_colours():
    n = 6
    a, b, c, x, y = pairs(n, 5)
    region = style_region(x, y, 0)
    real = partner_colour(x, y, 0)
    assert torch.allclose(real, c, atol=1e-6) and torch.allclose(partner_colour(x, y, 1), b, atol=1e-6)
    assert colour_spread(real).item() == pytest.approx(math.sqrt(c.var(dim=0).mean().item()), rel=1e-5)
    identical = torch.stack([c[..., None, None] * a] * 4)
    assert diversity(draw_variance(identical, region), real) < 1e-5
    # Each source drawn in every real colour: exactly as varied as the real colours.
    every_colour = torch.stack([c[k][None, :, None, None] * a for k in range(n)])
    assert diversity(draw_variance(every_colour, region), real) == pytest.approx(1.0, abs=1e-5)
    # Random styles drawn from the real colours' distribution: about 1.
    g = torch.Generator().manual_seed(6)
    colours = 0.3 + 0.7 * torch.rand(16, n, 3, generator=g)
    random_styles = colours[..., None, None] * a
    many_real = 0.3 + 0.7 * torch.rand(400, 3, generator=g)
    assert diversity(draw_variance(random_styles, region), many_real) == pytest.approx(1.0, abs=0.12)
    # Half as varied (colours squeezed towards their mean) scores half.
    squeezed = (0.65 + (colours - 0.65) / 2)[..., None, None] * a
    half = diversity(draw_variance(squeezed, region), many_real)
    assert half == pytest.approx(diversity(draw_variance(random_styles, region), many_real) / 2, rel=1e-5)


def test_recovered_shape_in_both_domains_whatever_the_colour():
    a, b, c, x, y = pairs(3, 7, soft=True)
    assert torch.allclose(recovered_shape(x, 0), a, atol=1e-6)
    assert torch.allclose(recovered_shape(y, 1), a, atol=1e-6)
    grey_digit = 0.4 * a.expand(-1, 3, -1, -1)
    assert torch.allclose(recovered_shape(grey_digit, 1), a, atol=1e-6)


def test_shape_iou_of_right_wrong_and_ill_determined_answers():
    a, b, c, x, y = pairs(4, 8)
    ref = [1, 2, 3, 0]
    targets = exemplar_targets(x, y, x[ref], y[ref])
    source_digit = style_region(x, y, 0)
    ceiling = {d: shape_iou(targets[name], 1 - d, source_digit) for d, name in enumerate(("x2y", "y2x"))}
    assert torch.equal(ceiling[0], torch.ones(4)) and torch.equal(ceiling[1], torch.ones(4))
    # The digit moved 2 of its 4 columns: intersection 6 x 2, union 6 x 6.
    wrong_x, wrong_y = render(blob(4, shift=2), b[ref], c[ref])
    assert torch.allclose(shape_iou(wrong_y, 1, source_digit), torch.full((4,), 1 / 3))
    assert torch.allclose(shape_iou(wrong_x, 0, source_digit), torch.full((4,), 1 / 3))
    # Elsewhere entirely: 0.
    far_x, _ = render(blob(4, shift=5), b[ref], c[ref])
    assert torch.equal(shape_iou(far_x, 0, source_digit), torch.zeros(4))
    # A white background leaves the X digit invisible: the right answer's own score falls, hence the ceiling.
    white_x, _ = render(a, torch.ones(4, 3), c)
    assert torch.equal(shape_iou(exemplar_targets(x, y, white_x, y)["y2x"], 0, source_digit), torch.zeros(4))


def test_summary_by_hand():
    errors = torch.tensor([0.05, 0.2, 0.1, 0.05])  # exactly 0.1 is not over it
    report = summary(style_errors=errors, own_colour_errors=torch.tensor([0.3, 0.3]),
                     draw_variances=torch.tensor([0.01, 0.03]), real_colours=torch.tensor([[0.0] * 3, [0.4] * 3]),
                     ious=torch.tensor([0.5, 1.0]), iou_ceilings=torch.tensor([1.0, 1.0]))
    assert report["style_error"] == pytest.approx(0.1) and report["style_error_share_over_0.1"] == 0.25
    assert report["own_colour_error"] == pytest.approx(0.3) and report["own_colour_error_share_over_0.1"] == 1.0
    # sqrt(mean(0.01, 0.03)) / sqrt(0.08): the real colours 0.4 apart have unbiased variance 0.08
    assert report["diversity"] == pytest.approx(math.sqrt(0.02 / 0.08), rel=1e-5)
    assert report["iou"] == 0.75 and report["iou_ceiling"] == 1.0
    assert summary(ious=torch.tensor([0.25])) == {"iou": 0.25}
