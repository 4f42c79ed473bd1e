"""`paired`: pix2pix-style sets (Facades, Maps, ...) of side-by-side A|B images in `<root>/train/`
and `<root>/test/` (or `<root>/val/` when a set ships no test split). `data.x_half` says which
half is domain X.
"""
import os

from dataloader.base import PairDataset, side_by_side
from dataloader.registry import register
from utils.errors import UserError


def split_folder(root, split):
    """The folder that holds `split`: `test/`, or `val/` when there is no `test/`."""
    candidates = [split, "val"] if split == "test" else [split]
    for name in candidates:
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            return folder
    raise UserError(f"paired: no {' or '.join(c + '/' for c in candidates)} folder in {root}")


@register("paired", what="pix2pix-style side-by-side A\\|B images (Facades, Maps, edges2shoes...) in `train/` and "
          "`test/` (or `val/`); `data.x_half` picks the half that is X",
          get="your own (see [Train on your own paired data](#train-on-your-own-paired-data)); generated shapes read "
              "this way too, without their known answer (`shapes`)")
def build(root, split, resolution, data_options, train, traits):
    x_refs, y_refs, names = side_by_side(split_folder(root, split), data_options.x_half)
    return PairDataset(x_refs, y_refs, names, resolution, traits)
