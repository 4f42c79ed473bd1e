"""`MNIST-CDCB` (Gonzalez-Garcia et al., NeurIPS 2018): X = white digit on a coloured background,
Y = the same digit coloured on black.

Two layouts are read: the reference port's preprocessed `<split>X/` + `<split>Y/` (same file names), preferred
when present, and the raw download `<split>/` of 512x256 side-by-side images (left half X).
"""
import os

from dataloader.base import DIGIT_ON_COLOUR, PairDataset, pair_by_name, side_by_side
from dataloader.registry import register
from utils.errors import UserError


def _preprocessed_folders(root, split):
    return [os.path.join(root, split + domain) for domain in ("X", "Y")]


def has_split(root, split):
    """Whether `root` holds `split` in either layout."""
    folders = _preprocessed_folders(root, split) + [os.path.join(root, split)]
    return any(os.path.isdir(f) for f in folders)


def list_pairs(root, split):
    """(x_refs, y_refs, names) of `split`. One preprocessed folder without its twin is reported by
    pair_by_name, rather than silently falling back to the raw layout."""
    preprocessed = _preprocessed_folders(root, split)
    if any(os.path.isdir(f) for f in preprocessed):
        return pair_by_name(*preprocessed)
    raw = os.path.join(root, split)
    if os.path.isdir(raw):
        return side_by_side(raw, x_half="left")
    raise UserError(f"MNIST-CDCB: neither {split}/ nor {split}X/ + {split}Y/ in {root}")


@register("MNIST-CDCB", what="X = white digit on a coloured background, Y = the same digit coloured on black "
          "(Gonzalez-Garcia et al. 2018)",
          get="`bash download_mnist_cdcb.sh ./MNIST-CDCB`, or `python -m dataloader.make_mnist_cdcb --source "
              "torchvision --root ./MNIST-CDCB` (full 60k/10k MNIST through torchvision)",
          known_answer=DIGIT_ON_COLOUR)
def build(root, split, resolution, data_options, train, traits):
    return PairDataset(*list_pairs(root, split), resolution, traits)
