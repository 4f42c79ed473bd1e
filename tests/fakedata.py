"""Tiny datasets in the real on-disk formats, written by the tests themselves."""
import os

import numpy as np
from PIL import Image


def write_side_by_side(folder, count, size=32, seed=0, start=1):
    """`count` MNIST-CDCB-style A|B PNGs (2*size x size): a bright square on a random colour | the same
    square in a random colour on black. Names 00001.png, ... like the real set."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        mask = np.zeros((size, size), bool)
        top, left = rng.integers(0, size // 2, 2)
        mask[top:top + size // 2, left:left + size // 2] = True
        x = np.where(mask[..., None], 255, bg).astype(np.uint8)
        y = np.where(mask[..., None], fg, 0).astype(np.uint8)
        Image.fromarray(np.concatenate([x, y], axis=1)).save(os.path.join(folder, f"{i:05d}.png"))


def make_mnist_cdcb(root, n_train=8, n_test=4, size=32):
    """Raw MNIST-CDCB layout: root/train, root/test."""
    write_side_by_side(os.path.join(root, "train"), n_train, size, seed=1)
    write_side_by_side(os.path.join(root, "test"), n_test, size, seed=2)
    return str(root)
