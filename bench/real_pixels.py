"""Compare the MNIST-CDCB generator's pixels with real pairs': what the model sees of a digit's stroke,
placement and colour, measured the same way on both.

    python -m bench.real_pixels                                  # real: bench/real_mnist_cdcb/dev
    python -m bench.real_pixels --real DIR --pairs 200

Per pair, at 256 px: X's digit alpha a_X is the projection of x - b on 255 - b (b: the background, the
median colour), Y's a_Y its brightness over that of its 50 brightest pixels. Printed as the mean over
pairs, real beside generated: the share of pixels with a > 0.5 and a > 0.1 in each half (stroke width),
the digit's centre (mean row and column of a_X > 0.5, in image heights), the ringing (largest amount by
which x falls below the background), the correlation of a_X with a_Y (1 when both halves draw one
shape), how far X's channels disagree on the alpha, and a_Y against a_X in four bands of a_X (how the
two halves' edges relate).
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

from dataloader.make_mnist_cdcb import committed_digits, render_pair
from utils.errors import UserError, run_script

BANDS = (0.1, 0.3, 0.5, 0.7)  # a_X in [lo, lo + 0.2)
NAMES = ("X share a > 0.5", "Y share a > 0.5", "X share a > 0.1", "Y share a > 0.1", "centre row", "centre column",
         "ringing below background (0-255)", "a_X, a_Y correlation", "X channels' alpha disagreement",
         *(f"mean a_Y where a_X in [{lo:.1f}, {lo + 0.2:.1f})" for lo in BANDS))


def pair_measures(pair):
    """The measures of one 256 x 512 x 3 pair (float), and its (a_X, a_Y) for the bands."""
    x, y = pair[:, :256], pair[:, 256:]
    background = np.median(x.reshape(-1, 3), 0)
    room = 255 - background
    a_x = ((x - background) * room).sum(-1) / max((room * room).sum(), 1e-6)
    brightness = y.sum(-1)
    a_y = brightness / max(np.sort(brightness.ravel())[-50:].mean(), 1e-6)
    rows, cols = np.nonzero(a_x > 0.5)
    channels = [(x[..., c] - background[c]) / room[c] for c in range(3) if room[c] > 60]
    lit = channels[0] > 0.1 if channels else None
    disagreement = (np.mean([np.abs(a - channels[0])[lit].mean() for a in channels[1:]])
                    if len(channels) > 1 and lit.any() else np.nan)
    values = [(a_x > 0.5).mean(), (a_y > 0.5).mean(), (a_x > 0.1).mean(), (a_y > 0.1).mean(),
              rows.mean() / 256 if len(rows) else np.nan, cols.mean() / 256 if len(cols) else np.nan,
              (background - x).max(), np.corrcoef(a_x.ravel(), a_y.ravel())[0, 1], disagreement]
    return values, a_x.ravel(), a_y.ravel()


def summary(pairs):
    """NAMES' values: means over pairs, then the bands over all pixels."""
    per_pair, a_x, a_y = zip(*map(pair_measures, pairs))
    a_x, a_y = np.concatenate(a_x), np.concatenate(a_y)
    bands = [a_y[(a_x >= lo) & (a_x < lo + 0.2)].mean() for lo in BANDS]
    return [*np.nanmean(np.array(per_pair), 0), *bands]


def real_pairs(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.png")))
    if not files:
        raise UserError(f"no .png pairs in {folder}")
    return [np.asarray(Image.open(f).convert("RGB"), float) for f in files]


def generated_pairs(count, seed):
    digits, _ = committed_digits()
    colours = np.random.default_rng(seed).integers(0, 256, (count, 2, 3))
    return [render_pair(d, *c).astype(float) for d, c in zip(digits[-count:], colours)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", default=os.path.join("bench", "real_mnist_cdcb", "dev"),
                        help="folder of real 512 x 256 MNIST-CDCB pairs")
    parser.add_argument("--pairs", type=int, default=100, help="generated pairs (committed test-split digits)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated pairs' colours")
    args = parser.parse_args()
    real = real_pairs(args.real)
    rows = zip(NAMES, summary(real), summary(generated_pairs(args.pairs, args.seed)))
    print(f"{'measure':42s} {'real':>7s} {'generated':>9s}   ({len(real)} real, {args.pairs} generated pairs)")
    for name, r, g in rows:
        print(f"{name:42s} {r:7.3f} {g:9.3f}")


if __name__ == "__main__":
    run_script(main)
