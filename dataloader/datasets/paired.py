"""`paired`: pix2pix-style sets (Facades, Maps, ...) of side-by-side A|B images in `<root>/train/`
and `<root>/test/` (or `<root>/val/` when a set ships no test split). `data.x_half` says which
half is domain X.

Also home of the two ways other paired datasets list their files: halves of side-by-side
images, and X / Y folders paired by file name.
"""
import os

from dataloader.base import ImageRef, PairDataset, list_images
from dataloader.registry import register
from utils.errors import UserError

OTHER_HALF = {"left": "right", "right": "left"}


def side_by_side(folder, x_half):
    """(x_refs, y_refs, names): the `x_half` of each image in `folder` is X, the other half Y."""
    names = list_images(folder)
    x_refs, y_refs = ([ImageRef(os.path.join(folder, n), half) for n in names]
                      for half in (x_half, OTHER_HALF[x_half]))
    return x_refs, y_refs, names


def pair_by_name(x_dir, y_dir):
    """(x_refs, y_refs, names) of the files present under the same name in both folders. Listing order
    is never trusted, and a file without its partner is an error: it means a broken or partial copy."""
    listed = {folder: list_images(folder) for folder in (x_dir, y_dir)}
    for here, there in ((x_dir, y_dir), (y_dir, x_dir)):
        alone = sorted(set(listed[here]) - set(listed[there]))
        if alone:
            raise UserError(f"{os.path.join(here, alone[0])} has no file of the same name in {there} "
                            f"({len(alone)} such files in {here})")
    names = listed[x_dir]
    x_refs, y_refs = ([ImageRef(os.path.join(folder, n)) for n in names] for folder in (x_dir, y_dir))
    return x_refs, y_refs, names


def _split_folder(root, split):
    candidates = [split, "val"] if split == "test" else [split]
    for name in candidates:
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            return folder
    raise UserError(f"paired: no {' or '.join(c + '/' for c in candidates)} folder in {root}")


@register("paired")
def build(root, split, resolution, data_options, train):
    x_refs, y_refs, names = side_by_side(_split_folder(root, split), data_options.x_half)
    return PairDataset(x_refs, y_refs, names, resolution, paired=True)
