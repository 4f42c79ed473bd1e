"""`MNIST-CDCB-demo`: MNIST-CDCB made on first use from the 5,000 MNIST digits committed in
dataloader/mnist_5k.npz (4,500 train / 500 test pairs), so a demo runs offline with no download.
A missing or empty `path_to_data` is filled (about half a minute on two cores); after that it reads
exactly like MNIST-CDCB."""
import os
import time

from dataloader import make_mnist_cdcb
from dataloader.base import DIGIT_ON_COLOUR
from dataloader.datasets import mnist_cdcb
from dataloader.registry import register
from utils.errors import UserError

SPLIT_PER_CLASS = make_mnist_cdcb.COMMITTED_SPLIT  # digits per class and split; tests make it smaller


def _ensure_data(root):
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"MNIST-CDCB-demo: path_to_data {root} is a file, not a folder")
    if os.path.isdir(root) and os.listdir(root):
        if not any(mnist_cdcb.has_split(root, split) for split in ("train", "test")):
            raise UserError(f"MNIST-CDCB-demo: {root} is neither empty nor MNIST-CDCB data; "
                            "point path_to_data to a new folder to generate the demo data there")
        return
    start = time.perf_counter()
    digits, split_sizes = make_mnist_cdcb.committed_digits(SPLIT_PER_CLASS)
    count = make_mnist_cdcb.make(root, digits, split_sizes)
    print(f"MNIST-CDCB-demo: no data in {root}, generated {count} pairs from the committed MNIST digits "
          f"in {time.perf_counter() - start:.1f} s")


@register("MNIST-CDCB-demo", what="the same format, built offline on first use from the 5,000 committed digits",
          get="nothing to do", known_answer=DIGIT_ON_COLOUR, creates_root=True)
def build(root, split, resolution, data_options, train, traits):
    _ensure_data(root)
    return mnist_cdcb.build(root, split, resolution, data_options, train, traits)
