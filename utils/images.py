"""Image grids saved as JPEG: each row one kind of image, each column one item of the batch."""
import os

import torch
from torchvision.utils import make_grid
from torchvision.transforms.v2.functional import to_pil_image


def save_grid(rows, path):
    """rows: list of B x 3 x H x W tensors in [-1, 1], all with the same B."""
    batch = rows[0].shape[0]
    grid = make_grid(torch.cat([r.detach().float().cpu() for r in rows]), nrow=batch, padding=2)
    image = to_pil_image(((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    image.save(path, quality=95)
