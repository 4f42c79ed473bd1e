"""The IIAE objective (the paper's bound with the reference port's loss weights, KL annealing and KL scaling) as
pure functions of tensors and numbers."""
import math

import torch

# The training section's keys that weigh the objective's terms, used under these names.
LOSS_WEIGHTS = ("rec_weight", "X_kld_weight", "S_kld_weight", "inter_kld_weight", "cross_rec_weight",
                "marginal_kld_weight")
LOSS_NAMES = ("recon_X_loss", "recon_Y_loss", "cross_recon_X_loss", "cross_recon_Y_loss", "kl_X_loss", "kl_Y_loss",
              "kl_S_loss", "kl_interX_loss", "kl_interY_loss", "marginal_kl_X_loss", "marginal_kl_Y_loss",
              "total_loss")
# training.rec_loss: the per-pixel distance of the reconstruction terms, averaged over pixels and channels.
DISTANCES = {"l1": lambda a, b: torch.mean(torch.abs(a - b)), "l2": lambda a, b: torch.mean((a - b) ** 2)}


def gaussian_kl(mean0, logvar0, mean1=None, logvar1=None):
    """KL(N(mean0, e^logvar0) || N(mean1, e^logvar1)) of diagonal Gaussians, summed over latent
    dimensions and averaged over the batch. mean1/logvar1 default to the standard normal."""
    if mean1 is None:
        mean1, logvar1 = torch.zeros_like(mean0), torch.zeros_like(logvar0)
    per_dim = logvar1 - logvar0 + (torch.exp(logvar0) + (mean0 - mean1) ** 2) / torch.exp(logvar1) - 1
    return 0.5 * per_dim.sum(dim=1).mean()


def marginal_kl(mean, logvar):
    """KL(N(m, S) || N(0, I)) for the batch's aggregate posterior, the mixture of the N posteriors
    N(mean_i, e^logvar_i) (N x D), where m and S are that mixture's mean and covariance. It is 0 when the
    codes of the batch together spread like the prior, whatever each one's own variance, so unlike the
    per-pair KL it does not push each code to carry less: it moves the codes the decoder has learnt to
    where draws from the prior fall."""
    n, dim = mean.shape
    centre = mean.mean(dim=0)
    offsets = mean - centre
    cov = offsets.T @ offsets / n + torch.diag(torch.exp(logvar).mean(dim=0))
    return 0.5 * (torch.trace(cov) + centre @ centre - dim - torch.logdet(cov))


def kl_annealing(iteration, anneal_iters):
    """a(t) = 1 - exp(-t / anneal_iters); 1 when annealing is off."""
    if anneal_iters <= 0:
        return 1.0
    return 1.0 - math.exp(-iteration / anneal_iters)


def kl_scale(scaling, batch_size, num_pairs):
    """The factor on every KL term: batch/pairs (the reference port's scaling, with the pair count fixed) or 1."""
    return batch_size / num_pairs if scaling == "batch_over_dataset" else 1.0


def kl_scaling_warning(scaling, batch_size, processes, num_pairs, named=True):
    """The line a run prints first when its KL factor depends on the dataset's size, or when its config names
    no kl_scaling (the reference port's configs do not, and its objective was batch_over_dataset); None
    otherwise. batch_size: per process, as in the config."""
    factor = kl_scale("batch_over_dataset", batch_size * processes, num_pairs)
    share = f"batch {batch_size} x {processes} process{'es' if processes != 1 else ''} / {num_pairs} training pairs"
    if scaling == "batch_over_dataset":
        return (f"warning: model.kl_scaling \"batch_over_dataset\" (the reference port's) multiplies every KL term "
                f"by {share} = {factor:.6g}, so this config's objective changes with the dataset's size: on 10 times "
                f"the pairs the KL terms weigh 10 times less. \"kl_scaling\": \"none\" with every KL weight times "
                f"{factor:.6g} is this objective at any size.")
    if not named:
        return (f"note: this config names no model.kl_scaling, so its KL weights act on the plain KL (\"none\"); "
                f"the reference port multiplied every KL term by {share} = {factor:.6g}, so here they weigh "
                f"{1 / factor:.3g} times as much as in the reference port. Set \"kl_scaling\": \"batch_over_dataset\" "
                f"in the model section for the reference port's objective, or \"none\" for this one.")
    return None


def iiae_loss(outputs, x, y, weights, anneal, scale, rec_loss="l1"):
    """Every term of the objective and their weighted total, as a dict keyed by LOSS_NAMES.

    outputs: IIAE.forward's dict; weights: {name: value} for LOSS_WEIGHTS; anneal: a(t); scale: kl_scale;
    rec_loss: a key of DISTANCES, for the reconstruction and cross terms.
    Without "cross_recon" in outputs (cross_rec_weight 0) the cross terms are 0; with marginal_kld_weight 0 or
    absent the marginal terms are 0 (not computed). The marginal terms are properties of the batch as a whole,
    so neither the annealing nor the per-pair KL scale applies to them.
    """
    # Computed in fp32 whatever precision the networks ran in.
    (mx, lx), (my, ly) = [(m.float(), lv.float()) for m, lv in outputs["exclusive"]]
    (mrx, lrx), (mry, lry) = [(m.float(), lv.float()) for m, lv in outputs["single_shared"]]
    ms, ls = (t.float() for t in outputs["joint_shared"])
    rx, ry = (r.float() for r in outputs["recon"])
    distance = DISTANCES[rec_loss]
    terms = {
        "recon_X_loss": distance(rx, x),
        "recon_Y_loss": distance(ry, y),
        "kl_X_loss": scale * gaussian_kl(mx, lx),
        "kl_Y_loss": scale * gaussian_kl(my, ly),
        "kl_S_loss": scale * gaussian_kl(ms, ls),
        "kl_interX_loss": scale * gaussian_kl(ms, ls, mrx, lrx),
        "kl_interY_loss": scale * gaussian_kl(ms, ls, mry, lry),
    }
    zero = torch.zeros((), device=x.device)
    marginal_weight = weights.get("marginal_kld_weight", 0)
    for name, (mean, logvar) in (("marginal_kl_X_loss", (mx, lx)), ("marginal_kl_Y_loss", (my, ly))):
        terms[name] = marginal_kl(mean, logvar) if marginal_weight > 0 else zero
    cross = outputs.get("cross_recon")
    for name, image, d in (("cross_recon_X_loss", x, 0), ("cross_recon_Y_loss", y, 1)):
        terms[name] = distance(cross[d].float(), image) if cross else zero
    terms["total_loss"] = (weights["rec_weight"] * (terms["recon_X_loss"] + terms["recon_Y_loss"])
                           + anneal * weights["X_kld_weight"] * (terms["kl_X_loss"] + terms["kl_Y_loss"])
                           + anneal * weights["S_kld_weight"] * terms["kl_S_loss"]
                           + weights["inter_kld_weight"] * (terms["kl_interX_loss"] + terms["kl_interY_loss"])
                           + marginal_weight * (terms["marginal_kl_X_loss"] + terms["marginal_kl_Y_loss"]))
    if cross:
        terms["total_loss"] = terms["total_loss"] + weights["cross_rec_weight"] * (
            terms["cross_recon_X_loss"] + terms["cross_recon_Y_loss"])
    return terms
