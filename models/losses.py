"""The IIAE objective (the paper's bound with the seed's loss weights, KL annealing and KL scaling) as
pure functions of tensors and numbers."""
import math

import torch

LOSS_NAMES = ("recon_X_loss", "recon_Y_loss", "cross_recon_X_loss", "cross_recon_Y_loss", "kl_X_loss", "kl_Y_loss",
              "kl_S_loss", "kl_interX_loss", "kl_interY_loss", "total_loss")


def gaussian_kl(mean0, logvar0, mean1=None, logvar1=None):
    """KL(N(mean0, e^logvar0) || N(mean1, e^logvar1)) of diagonal Gaussians, summed over latent
    dimensions and averaged over the batch. mean1/logvar1 default to the standard normal."""
    if mean1 is None:
        mean1, logvar1 = torch.zeros_like(mean0), torch.zeros_like(logvar0)
    per_dim = logvar1 - logvar0 + (torch.exp(logvar0) + (mean0 - mean1) ** 2) / torch.exp(logvar1) - 1
    return 0.5 * per_dim.sum(dim=1).mean()


def kl_annealing(iteration, anneal_iters):
    """a(t) = 1 - exp(-t / anneal_iters); 1 when annealing is off."""
    if anneal_iters <= 0:
        return 1.0
    return 1.0 - math.exp(-iteration / anneal_iters)


def kl_scale(scaling, batch_size, num_pairs):
    """The factor on every KL term: batch/pairs (the seed's scaling, with the pair count fixed) or 1."""
    return batch_size / num_pairs if scaling == "batch_over_dataset" else 1.0


def iiae_loss(outputs, x, y, weights, anneal, scale):
    """Every term of the objective and their weighted total, as a dict keyed by LOSS_NAMES.

    outputs: IIAE.forward's dict; weights: rec, X_kld, S_kld, inter_kld and, when outputs has "cross_recon",
    cross_rec_weight; anneal: a(t); scale: kl_scale. Without "cross_recon" the cross terms are 0.
    """
    # Computed in fp32 whatever precision the networks ran in.
    (mx, lx), (my, ly) = [(m.float(), lv.float()) for m, lv in outputs["exclusive"]]
    (mrx, lrx), (mry, lry) = [(m.float(), lv.float()) for m, lv in outputs["single_shared"]]
    ms, ls = (t.float() for t in outputs["joint_shared"])
    rx, ry = (r.float() for r in outputs["recon"])
    terms = {
        "recon_X_loss": torch.mean(torch.abs(rx - x)),
        "recon_Y_loss": torch.mean(torch.abs(ry - y)),
        "kl_X_loss": scale * gaussian_kl(mx, lx),
        "kl_Y_loss": scale * gaussian_kl(my, ly),
        "kl_S_loss": scale * gaussian_kl(ms, ls),
        "kl_interX_loss": scale * gaussian_kl(ms, ls, mrx, lrx),
        "kl_interY_loss": scale * gaussian_kl(ms, ls, mry, lry),
    }
    cross = outputs.get("cross_recon")
    for name, image, d in (("cross_recon_X_loss", x, 0), ("cross_recon_Y_loss", y, 1)):
        terms[name] = torch.mean(torch.abs(cross[d].float() - image)) if cross else torch.zeros((), device=x.device)
    terms["total_loss"] = (weights["rec"] * (terms["recon_X_loss"] + terms["recon_Y_loss"])
                           + anneal * weights["X_kld"] * (terms["kl_X_loss"] + terms["kl_Y_loss"])
                           + anneal * weights["S_kld"] * terms["kl_S_loss"]
                           + weights["inter_kld"] * (terms["kl_interX_loss"] + terms["kl_interY_loss"]))
    if cross:
        terms["total_loss"] = terms["total_loss"] + weights["cross_rec_weight"] * (
            terms["cross_recon_X_loss"] + terms["cross_recon_Y_loss"])
    return terms
