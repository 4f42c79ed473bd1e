"""Translation scores for any paired dataset. Pair i's two images show one content, so x_i translated with
y_i itself as the style reference should give y_i, and y_i with x_i should give x_i: the partner image is
the right answer. And random styles should differ: the spread of outputs over prior draws shows a
collapsed exclusive code as 0. Images are in [0, 1], N x C x H x W.
"""
import torch

from metrics.fidelity import l1_per_image  # noqa: F401 (the per-image L1 of these scores)

PSNR_CAP = 100.0  # dB, for identical images (MSE 0); 8-bit images one level apart in every value score 48


def psnr_per_image(images, targets, cap=PSNR_CAP):
    """N: peak signal-to-noise ratio in dB, 10 log10(1 / MSE) with each image's MSE over all its values
    (peak 1), at most `cap`."""
    mse = (images - targets).square().flatten(1).mean(dim=1)
    return (-10 * torch.log10(mse)).clamp(max=cap)


def spread_per_image(draws):
    """N: the mean over pixels and channels of the population standard deviation (divided by K) over K prior
    draws (K x N x C x H x W, one source per column): 0 when every draw gives the same image; two draws 2d
    apart everywhere give d."""
    return draws.std(dim=0, correction=0).flatten(1).mean(dim=1)


def summary(l1=None, psnr=None, spread=None):
    """{"l1", "psnr", "spread"}: the mean of each per-pair value concatenated over batches (any left None is
    skipped). PSNR is averaged per image in dB, so identical images count at the cap."""
    return {name: values.float().mean().item()
            for name, values in (("l1", l1), ("psnr", psnr), ("spread", spread)) if values is not None}

