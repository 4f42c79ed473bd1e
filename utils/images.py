"""Image files: decoded to RGB whatever their mode, grids (each row one kind of image, each column one item
of the batch) and images saved whole or not at all."""
import os
import stat

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2.functional import to_pil_image
from torchvision.utils import make_grid

from utils.files import atomic_path


# What decoding a damaged, unsupported or oversized file raises (PIL refuses images of more than twice
# Image.MAX_IMAGE_PIXELS, 179 M pixels, as possible decompression bombs).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _to_8_bits(img):
    """Grey images of more than 8 bits as 8-bit "L": convert() would clip them at 255 instead of scaling.
    I;16 and I (what Pillow makes of 16-bit sources) span 0..65535; F (floating point) spans 0..1."""
    if img.mode.startswith("I;16") or img.mode == "I":
        scale = 257
    elif img.mode == "F":
        scale = 1 / 255
    else:
        return img
    values = np.asarray(img, dtype=np.float64) / scale
    return Image.fromarray(values.round().clip(0, 255).astype(np.uint8), "L")


def to_rgb(img):
    """An RGB copy of a PIL image of any mode: more than 8 bits scaled (not clipped), transparent pixels
    composited onto white (dropping alpha would show whatever colour they hide)."""
    img = _to_8_bits(img)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img)
    return img.convert("RGB")


_NOT_REGULAR = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"),
                (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def open_image(path):
    """Image.open of the file at `path`, which must be a regular one: opening a FIFO (`mkfifo
    DATA/train/pipe.png`) would wait forever for a writer, a device would be read without end. Raises
    OSError (one of DECODE_ERRORS) for anything else."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = next((kind for test, kind in _NOT_REGULAR if test(mode)), "special file")
        raise OSError(f"not a regular file but a {kind}")
    return Image.open(path)


def decode_rgb(path):
    """The image file at `path` as an RGB PIL image, turned upright by its EXIF orientation (phone photos):
    the one decoding of training data, test data and users' images. Raises one of DECODE_ERRORS."""
    with open_image(path) as img:
        ImageOps.exif_transpose(img, in_place=True)  # no copy: the decoded image is this call's own
        return to_rgb(img)


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
