"""Translation scores for any paired dataset. Pair i's two images show one content, so x_i translated with
y_i itself as the style reference should give y_i, and y_i with x_i should give x_i: the partner image is
the right answer. L1 and PSNR reward a blank image where the partner is mostly blank (thin dark lines on
white score well drawn all white), so the correlation with the partner is reported too: 0 for a flat image.
And random styles should differ: the spread of outputs over prior draws shows a collapsed exclusive code
as 0. Images are in [0, 1], N x C x H x W.
"""
import torch

from metrics.evaluation import DIRECTIONS, NUM_RANDOM_STYLES, Measure
from metrics.fidelity import l1_per_image

PSNR_CAP = 100.0  # dB, for identical images (MSE 0); 8-bit images one level apart in every value score 48


def psnr_per_image(images, targets, cap=PSNR_CAP):
    """N: peak signal-to-noise ratio in dB, 10 log10(1 / MSE) with each image's MSE over all its values
    (peak 1), at most `cap`."""
    mse = (images - targets).square().flatten(1).mean(dim=1)
    return (-10 * torch.log10(mse)).clamp(max=cap)


def correlation_per_image(images, targets):
    """N: Pearson correlation over all of each image's values with its target's: 1 for the target itself
    or any brighter or contrastier copy of it, -1 for its negative, 0 for a flat image (defined so)."""
    a, b = (t.flatten(1) - t.flatten(1).mean(dim=1, keepdim=True) for t in (images, targets))
    norms = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(norms > 0, (a * b).sum(dim=1) / norms.clamp(min=1e-12), torch.zeros_like(norms))


def spread_per_image(draws):
    """N: the mean over pixels and channels of the population standard deviation (divided by K) over K prior
    draws (K x N x C x H x W, one source per column): 0 when every draw gives the same image; two draws 2d
    apart everywhere give d."""
    return draws.std(dim=0, correction=0).flatten(1).mean(dim=1)



class PairedTranslation(Measure):
    """For any paired dataset: each source translated with its own partner as the style reference, scored
    against that partner (L1, PSNR, correlation), beside copying the source and decoding with a random
    style; and the spread of the random styles' outputs, 0 when the exclusive code has collapsed."""
    name = "paired"

    def applies(self, subject):
        return subject.traits.true_pairs

    def collect(self, batch):
        columns = {}
        for src, direction in enumerate(DIRECTIONS):
            partner = batch.image(1 - src)
            draws = batch.random_translations(src)
            for label, images in (("", batch.translation(src, "partner")), ("copy_source_", batch.image(src)),
                                  ("random_style_", draws[0])):
                columns[f"{direction}_{label}l1"] = l1_per_image(images, partner)
                columns[f"{direction}_{label}psnr"] = psnr_per_image(images, partner)
                columns[f"{direction}_{label}correlation"] = correlation_per_image(images, partner)
            columns[f"{direction}_random_spread"] = spread_per_image(draws)
        return columns

    def table(self, report):
        lines = ["translation to the partner image (each source with its own partner as the style reference; "
                 "pixels in [0, 1]; correlation 0 for a blank image):",
                 f"{'':>24} {'L1 X2Y':>7} {'L1 Y2X':>7} {'PSNR X2Y':>9} {'PSNR Y2X':>9} {'corr X2Y':>9} "
                 f"{'corr Y2X':>9}"]
        for label, key in (("model", ""), ("copy source", "copy_source_"), ("random style", "random_style_")):
            lines.append(f"{label:>24} {report[f'x2y_{key}l1']:>7.3f} {report[f'y2x_{key}l1']:>7.3f} "
                         f"{report[f'x2y_{key}psnr']:>9.2f} {report[f'y2x_{key}psnr']:>9.2f} "
                         f"{report[f'x2y_{key}correlation']:>9.3f} {report[f'y2x_{key}correlation']:>9.3f}")
        lines.append(f"{f'spread of {NUM_RANDOM_STYLES} random styles':>24} {report['x2y_random_spread']:>7.3f} "
                     f"{report['y2x_random_spread']:>7.3f}   (0: every random style gives the same image)")
        return "\n".join(lines)

    def line(self, report):
        return (f"paired L1 {report['x2y_l1']:.3f} / {report['y2x_l1']:.3f}, correlation "
                f"{report['x2y_correlation']:.3f} / {report['y2x_correlation']:.3f}, random-style spread "
                f"{report['x2y_random_spread']:.3f} / {report['y2x_random_spread']:.3f}")
