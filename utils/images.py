"""Image files: grids (each row one kind of image, each column one item of the batch) and images saved
whole or not at all."""
import os

import torch
from PIL import Image
from torchvision.transforms.v2.functional import to_pil_image
from torchvision.utils import make_grid

from utils.files import atomic_path


def grid_image(rows):
    """rows: list of B x 3 x H x W tensors in [-1, 1], all with the same B -> 3 x H' x W' in [0, 1]."""
    grid = make_grid(torch.cat([r.detach().float().cpu() for r in rows]), nrow=rows[0].shape[0], padding=2)
    return (grid.clamp(-1, 1) + 1) / 2


def save_image(grid, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_atomically(to_pil_image((grid * 255).round().to(torch.uint8)), path, quality=95)


def save_grid(rows, path):
    save_image(grid_image(rows), path)


def save_atomically(image, path, **options):
    """Save a PIL image in the format its extension names (with the format's `options`), under a temporary
    name renamed at the end, so a full disk leaves no half image. Not fsynced: preprocessing writes tens of
    thousands of them (3 ms more each), and one lost to a power cut is named by the training start-up scan."""
    with atomic_path(path, fsync=False) as tmp:
        image.save(tmp, format=Image.registered_extensions()[os.path.splitext(path)[1].lower()], **options)
