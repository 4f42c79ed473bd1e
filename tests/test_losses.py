import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from models.losses import (LOSS_NAMES, gaussian_kl, iiae_loss, kl_annealing, kl_scale, kl_scaling_warning,
                           marginal_kl)


def _normal(mean, logvar):
    return Normal(mean, torch.exp(0.5 * logvar))


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m0, l0, m1, l1 = (torch.randn(5, 7, generator=g, dtype=torch.float64) for _ in range(4))
    expected = kl_divergence(_normal(m0, l0), _normal(m1, l1)).sum(dim=1).mean()
    assert torch.allclose(gaussian_kl(m0, l0, m1, l1), expected)
    standard = kl_divergence(_normal(m0, l0), Normal(torch.zeros_like(m0), torch.ones_like(m0))).sum(1).mean()
    assert torch.allclose(gaussian_kl(m0, l0), standard)


def test_kl_hand_computed():
    # KL(N(1, e^0) || N(0, 1)) = 0.5 * (1 + 1 - 1 - 0) = 0.5 per dimension; 2 dims, batch mean.
    assert gaussian_kl(torch.ones(3, 2), torch.zeros(3, 2)).item() == pytest.approx(1.0)
    assert gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0


def test_annealing_and_scaling():
    assert kl_annealing(0, 25000) == 0.0
    assert kl_annealing(25000, 25000) == pytest.approx(1 - math.exp(-1))
    assert kl_annealing(123, 0) == 1.0
    assert kl_scale("batch_over_dataset", 16, 4000) == pytest.approx(0.004)
    assert kl_scale("none", 16, 4000) == 1.0


def test_size_dependent_scaling_warns_with_the_global_factor():
    # 8 per process x 2 processes over 100 pairs: 16 / 100 = 0.16.
    text = kl_scaling_warning("batch_over_dataset", 8, 2, 100)
    assert text.startswith("warning: model.kl_scaling \"batch_over_dataset\"")
    assert "batch 8 x 2 processes / 100 training pairs = 0.16," in text
    assert "changes with the dataset's size" in text and "every KL weight times 0.16 " in text
    assert "= 0.00355556," in kl_scaling_warning("batch_over_dataset", 16, 1, 4500)
    assert kl_scaling_warning("none", 16, 1, 4500) is None


def test_a_config_naming_no_scaling_is_told_the_factor_to_the_reference_port():
    # The reference port's sample config names no kl_scaling: 16 / 4,500 there, so 4,500 / 16 = 281.25 here.
    text = kl_scaling_warning("none", 16, 1, 4500, named=False)
    assert text.startswith("note: this config names no model.kl_scaling")
    assert "batch 16 x 1 process / 4500 training pairs = 0.00355556," in text
    assert "weigh 281 times as much as in the reference port" in text
    assert '"kl_scaling": "batch_over_dataset"' in text
    assert kl_scaling_warning("batch_over_dataset", 16, 1, 4500, named=False).startswith("warning:")


def test_total_loss_by_hand():
    """Two-dimensional codes with values chosen so every KL is easy to compute by hand."""
    b = 2
    ones, zeros = torch.ones(b, 2), torch.zeros(b, 2)
    outputs = {
        "exclusive": [(ones, zeros), (zeros, zeros)],           # KL: 1.0 and 0.0
        "joint_shared": (2 * ones, zeros),                      # KL to N(0,I): 0.5 * 4 * 2 = 4.0
        "single_shared": [(ones, zeros), (2 * ones, zeros)],    # KL(q||r_x) = 0.5*1*2 = 1.0, KL(q||r_y) = 0
        "recon": [torch.full((b, 3, 2, 2), 0.5), torch.zeros(b, 3, 2, 2)],
    }
    x, y = torch.zeros(b, 3, 2, 2), torch.ones(b, 3, 2, 2)     # L1: 0.5 and 1.0
    weights = {"rec_weight": 10.0, "X_kld_weight": 2.0, "S_kld_weight": 3.0, "inter_kld_weight": 5.0}
    terms = iiae_loss(outputs, x, y, weights, anneal=0.5, scale=0.25)
    assert set(terms) == set(LOSS_NAMES)
    assert terms["recon_X_loss"].item() == pytest.approx(0.5)
    assert terms["recon_Y_loss"].item() == pytest.approx(1.0)
    assert terms["kl_X_loss"].item() == pytest.approx(0.25)
    assert terms["kl_Y_loss"].item() == pytest.approx(0.0)
    assert terms["kl_S_loss"].item() == pytest.approx(1.0)
    assert terms["kl_interX_loss"].item() == pytest.approx(0.25)
    assert terms["kl_interY_loss"].item() == pytest.approx(0.0)
    expected = 10 * 1.5 + 0.5 * 2 * 0.25 + 0.5 * 3 * 1.0 + 5 * 0.25
    assert terms["total_loss"].item() == pytest.approx(expected)


def test_cross_reconstruction_term_by_hand():
    """The cross terms are the L1 of the decodings through the other domain's shared code, weighted by
    cross_rec_weight; without them in the outputs they are 0 and the weight is not needed."""
    b = 2
    zeros = torch.zeros(b, 2)
    outputs = {
        "exclusive": [(zeros, zeros), (zeros, zeros)],
        "joint_shared": (zeros, zeros),
        "single_shared": [(zeros, zeros), (zeros, zeros)],
        "recon": [torch.zeros(b, 3, 2, 2), torch.ones(b, 3, 2, 2)],
    }
    x, y = torch.zeros(b, 3, 2, 2), torch.ones(b, 3, 2, 2)     # reconstructions exact
    weights = {"rec_weight": 10.0, "X_kld_weight": 2.0, "S_kld_weight": 3.0, "inter_kld_weight": 5.0}
    plain = iiae_loss(outputs, x, y, weights, anneal=1.0, scale=1.0)
    assert plain["cross_recon_X_loss"].item() == 0 and plain["total_loss"].item() == 0
    cross_x = torch.zeros(b, 3, 2, 2)
    cross_x[:, :, 0, 0] = 0.8                                   # L1 to x: 0.8 on a quarter of the pixels = 0.2
    cross_y = torch.full((b, 3, 2, 2), 0.4)                    # L1 to y: 0.6
    outputs["cross_recon"] = [cross_x, cross_y]
    terms = iiae_loss(outputs, x, y, {**weights, "cross_rec_weight": 7.0}, anneal=1.0, scale=1.0)
    assert set(terms) == set(LOSS_NAMES)
    assert terms["cross_recon_X_loss"].item() == pytest.approx(0.2)
    assert terms["cross_recon_Y_loss"].item() == pytest.approx(0.6)
    assert terms["total_loss"].item() == pytest.approx(7.0 * 0.8)


def test_marginal_kl_is_the_kl_of_the_mixtures_moments():
    """Against torch.distributions, with the mixture's mean and covariance estimated from draws of the
    mixture itself (pick a pair, then draw from its posterior)."""
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(6, 3, generator=g, dtype=torch.float64) * 2 + 1
    logvar = torch.randn(6, 3, generator=g, dtype=torch.float64) * 0.5
    pick = torch.randint(0, 6, (400_000,), generator=g)
    draws = mean[pick] + torch.randn(400_000, 3, generator=g, dtype=torch.float64) * torch.exp(0.5 * logvar[pick])
    fitted = MultivariateNormal(draws.mean(dim=0), torch.cov(draws.T))
    prior = MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    assert marginal_kl(mean, logvar).item() == pytest.approx(kl_divergence(fitted, prior).item(), abs=0.02)


def test_codes_that_spread_like_the_prior_have_no_marginal_kl():
    # Sharp posteriors at the four corners (+-1, +-1): the mixture has mean 0 and covariance I (up to the
    # tiny posterior variance), so the marginal KL is about 0 while each pair's own KL is 1.
    mean = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    logvar = torch.full((4, 2), -20.0)
    assert marginal_kl(mean, logvar).item() == pytest.approx(0.0, abs=1e-4)
    assert gaussian_kl(mean, logvar).item() > 10
    # Twice that spread: covariance 4 I, KL = 0.5 (tr 4I - 2 - log det 4I) = 0.5 (8 - 2 - 2 log 16) per batch.
    assert marginal_kl(2 * mean, logvar).item() == pytest.approx(0.5 * (8 - 2 - math.log(16)), abs=1e-4)


def test_marginal_terms_enter_the_total_unannealed_and_unscaled():
    b = 4
    corners = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    zeros = torch.zeros(b, 2)
    outputs = {
        "exclusive": [(2 * corners, torch.full((b, 2), -20.0)), (zeros, zeros)],
        "joint_shared": (zeros, zeros),
        "single_shared": [(zeros, zeros), (zeros, zeros)],
        "recon": [torch.zeros(b, 3, 2, 2), torch.ones(b, 3, 2, 2)],
    }
    x, y = torch.zeros(b, 3, 2, 2), torch.ones(b, 3, 2, 2)
    weights = {"rec_weight": 1.0, "X_kld_weight": 0.0, "S_kld_weight": 0.0, "inter_kld_weight": 0.0}
    off = iiae_loss(outputs, x, y, weights, anneal=0.5, scale=0.25)
    assert off["marginal_kl_X_loss"].item() == 0 and off["total_loss"].item() == 0
    terms = iiae_loss(outputs, x, y, {**weights, "marginal_kld_weight": 3.0}, anneal=0.5, scale=0.25)
    expected_x = 0.5 * (8 - 2 - math.log(16))
    assert terms["marginal_kl_X_loss"].item() == pytest.approx(expected_x, abs=1e-4)
    # z^y: every posterior N(0, 1), so the mixture is the prior itself.
    assert terms["marginal_kl_Y_loss"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["total_loss"].item() == pytest.approx(3.0 * expected_x, abs=1e-3)


def test_l2_reconstruction_is_the_mean_squared_error_in_every_reconstruction_term():
    """rec_loss "l2": recon and cross terms are torch's mean squared error; on a hand-made pair where half
    the pixels are off by 0.5 and half exact, L1 gives 0.25 and L2 0.125."""
    torch.manual_seed(0)
    b = 3
    zeros = torch.zeros(b, 2)
    x, y = torch.randn(b, 3, 4, 4), torch.randn(b, 3, 4, 4)
    rx, ry, cx, cy = (torch.randn(b, 3, 4, 4) for _ in range(4))
    outputs = {"exclusive": [(zeros, zeros), (zeros, zeros)], "joint_shared": (zeros, zeros),
               "single_shared": [(zeros, zeros), (zeros, zeros)], "recon": [rx, ry], "cross_recon": [cx, cy]}
    weights = {"rec_weight": 2.0, "X_kld_weight": 0.0, "S_kld_weight": 0.0, "inter_kld_weight": 0.0,
               "cross_rec_weight": 3.0}
    terms = iiae_loss(outputs, x, y, weights, anneal=1.0, scale=1.0, rec_loss="l2")
    mse = torch.nn.functional.mse_loss
    for name, output, image in (("recon_X_loss", rx, x), ("recon_Y_loss", ry, y),
                                ("cross_recon_X_loss", cx, x), ("cross_recon_Y_loss", cy, y)):
        assert terms[name].item() == pytest.approx(mse(output, image).item())
    assert terms["total_loss"].item() == pytest.approx(
        2 * (mse(rx, x) + mse(ry, y)).item() + 3 * (mse(cx, x) + mse(cy, y)).item())

    half = torch.zeros(1, 3, 2, 2)
    half[..., 0] = 0.5
    outputs = {"exclusive": [(zeros[:1], zeros[:1])] * 2, "joint_shared": (zeros[:1], zeros[:1]),
               "single_shared": [(zeros[:1], zeros[:1])] * 2, "recon": [half, half]}
    blank = torch.zeros(1, 3, 2, 2)
    assert iiae_loss(outputs, blank, blank, weights, 1.0, 1.0)["recon_X_loss"].item() == pytest.approx(0.25)
    assert iiae_loss(outputs, blank, blank, weights, 1.0, 1.0, "l2")["recon_X_loss"].item() == pytest.approx(0.125)
