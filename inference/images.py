"""Users' images: files or folders, any size and mode, fitted to the model's resolution as uint8."""
import os

import numpy as np
import torch
from PIL import Image, ImageOps

from dataloader.base import list_images
from utils.errors import UserError
from utils.images import DECODE_ERRORS, decode_rgb

# crop first: photos are rarely square, and a centre crop neither distorts them nor adds borders.
FITS = ("crop", "stretch", "pad")


def image_paths(inputs, what):
    """The image files `inputs` name: files as given, then each folder's images in name order.
    `what` names the argument in errors (SOURCE, --style)."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            paths += [os.path.join(item, name) for name in list_images(item)]
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise UserError(f"{what}: no such file or folder: {item}")
    return paths


def _fit(img, resolution, fit):
    size = (resolution, resolution)
    if fit == "stretch":
        return np.asarray(img.resize(size, Image.BICUBIC))
    if fit == "crop":
        return np.asarray(ImageOps.fit(img, size, Image.BICUBIC))
    # pad: the whole image, its short side extended by repeating the border pixels, which continues a
    # background better than a fixed colour would.
    small = np.asarray(ImageOps.contain(img, size, Image.BICUBIC))
    h, w = small.shape[:2]
    top, left = (resolution - h) // 2, (resolution - w) // 2
    return np.pad(small, ((top, resolution - h - top), (left, resolution - w - left), (0, 0)), mode="edge")


def read_image(path, resolution, fit="crop"):
    """`path` as a 3 x R x R uint8 tensor, turned upright by its EXIF orientation (phone photos) and fitted."""
    try:
        pixels = _fit(decode_rgb(path), resolution, fit)
    except DECODE_ERRORS as e:
        raise UserError(f"cannot read image {path}: {e}") from None
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).contiguous()


def read_images(paths, resolution, fit="crop"):
    """N x 3 x R x R uint8. All are read before anything is computed or written, so a bad file stops
    the command early and by name."""
    return torch.stack([read_image(p, resolution, fit) for p in paths])
