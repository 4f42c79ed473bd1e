"""Paired translation scores (L1, PSNR, correlation, spread over prior draws) on hand-made images with a
known answer."""
import math

import pytest
import torch

from metrics.evaluation import Measure
from metrics.paired import PSNR_CAP, correlation_per_image, l1_per_image, psnr_per_image, spread_per_image


def images(n=3, seed=0):
    return 0.2 + 0.6 * torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_identical_images_score_zero_and_the_cap():
    y = images()
    assert torch.equal(l1_per_image(y, y), torch.zeros(3))
    assert torch.equal(psnr_per_image(y, y), torch.full((3,), PSNR_CAP))
    assert torch.equal(psnr_per_image(y, y, cap=60.0), torch.full((3,), 60.0))
    assert torch.equal(psnr_per_image(y + 1e-6, y), torch.full((3,), PSNR_CAP))  # 120 dB, capped too


@pytest.mark.parametrize("d", [0.01, 0.1, 0.2])
def test_a_constant_offset(d):
    y = images()
    off = torch.cat([y[:1] + d, y[1:] - d])  # either sign
    assert torch.allclose(l1_per_image(off, y), torch.full((3,), d), atol=1e-6)
    assert torch.allclose(psnr_per_image(off, y), torch.full((3,), -20 * math.log10(d)), atol=1e-3)


def test_psnr_is_per_image():
    y = images(2)
    off = y.clone()
    off[0] += 0.1
    off[1, 0, :4] += 0.5  # 0.5 over a sixth of the values: MSE 0.25 / 6
    assert torch.allclose(psnr_per_image(off, y), torch.tensor([20.0, -10 * math.log10(0.25 / 6)]), atol=1e-3)


def test_correlation_is_one_for_the_answer_and_any_brighter_copy_and_zero_for_a_blank_image():
    y = images()
    assert torch.allclose(correlation_per_image(y, y), torch.ones(3))
    assert torch.allclose(correlation_per_image(0.5 * y + 0.1, y), torch.ones(3))
    assert torch.allclose(correlation_per_image(1 - y, y), -torch.ones(3))
    assert torch.equal(correlation_per_image(torch.ones_like(y), y), torch.zeros(3))


def test_correlation_sees_the_thin_line_that_l1_and_psnr_miss():
    """A 1-pixel dark square ring on white (12 pixels of 64): drawing nothing scores the same L1 and PSNR as
    drawing the ring one pixel to the right (each gets 12 pixels wrong by 1), but correlation 0 against the
    shifted ring's (6 - 12 * 12 / 64) / (12 - 12 * 12 / 64) = 0.385 (hand-computed: 6 pixels overlap)."""
    def ring(left):
        image = torch.ones(1, 1, 8, 8)
        image[..., 2, left:left + 4] = image[..., 5, left:left + 4] = 0
        image[..., 2:6, left] = image[..., 2:6, left + 3] = 0
        return image

    line, shifted, blank = ring(2), ring(3), torch.ones(1, 1, 8, 8)
    assert l1_per_image(blank, line).item() == l1_per_image(shifted, line).item() == 12 / 64
    assert psnr_per_image(blank, line).item() == pytest.approx(psnr_per_image(shifted, line).item())
    assert correlation_per_image(blank, line).item() == 0
    assert correlation_per_image(shifted, line).item() == pytest.approx((6 - 144 / 64) / (12 - 144 / 64))


def test_spread_over_draws():
    y = images()
    assert torch.equal(spread_per_image(torch.stack([y] * 4)), torch.zeros(3))
    d = 0.05
    assert torch.allclose(spread_per_image(torch.stack([y - d, y + d])), torch.full((3,), d), atol=1e-6)
    # Population std of (0, 0, 3d): sqrt(2) d, in the one source whose draws differ.
    third = y.clone()
    third[1] += 3 * d
    spread = spread_per_image(torch.stack([y, y, third]))
    assert torch.allclose(spread, torch.tensor([0.0, math.sqrt(2) * d, 0.0]), atol=1e-6)


def test_a_report_is_the_mean_of_each_column_by_default():
    """What the paired and content measures report: each per-pair column's mean, and the pair count."""
    report = Measure().summarise({"l1": torch.tensor([0.1, 0.3]), "psnr": torch.tensor([20.0, PSNR_CAP]),
                                  "kept": torch.tensor([1.0, 0.0])})
    assert report == pytest.approx({"l1": 0.2, "psnr": 60.0, "kept": 0.5, "num_pairs": 2})
