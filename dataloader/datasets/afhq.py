"""`AFHQ` (StarGAN v2): `<root>/{train,val}/{cat,dog}/*.jpg`; cat = X, dog = Y, unpaired. The test
split is AFHQ's `val/`. `root` may also be the folder that holds `afhq/` (where download.sh puts it)."""
import os

from dataloader.base import ImageRef, PairDataset, list_images
from dataloader.registry import register

SPLIT_FOLDERS = {"train": "train", "test": "val"}
DOMAINS = ("cat", "dog")  # X, Y


def _dataset_root(root):
    nested = os.path.join(root, "afhq")
    has_splits = any(os.path.isdir(os.path.join(root, s)) for s in SPLIT_FOLDERS.values())
    return nested if not has_splits and os.path.isdir(nested) else root


@register("AFHQ", what="cat = X, dog = Y (StarGAN v2); random partner and the reference port's augmentation "
          "when training", get="`bash download.sh afhq-dataset ./data`", true_pairs=False)
def build(root, split, resolution, data_options, train, traits):
    split_dir = os.path.join(_dataset_root(root), SPLIT_FOLDERS[split])
    folders = [os.path.join(split_dir, domain) for domain in DOMAINS]
    listed = [list_images(folder) for folder in folders]
    x_refs, y_refs = ([ImageRef(os.path.join(folder, n)) for n in names] for folder, names in zip(folders, listed))
    # Training draws a random dog for each cat (and augments); testing takes partners in turn.
    return PairDataset(x_refs, y_refs, listed[0], resolution, traits, augment=train, random_partner=train)
