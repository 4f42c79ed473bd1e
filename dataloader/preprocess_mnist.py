"""Split raw MNIST-CDCB (`<data>/train/`, `<data>/test/` of side-by-side images, left half X) into the
reference port's layout `trainX/ trainY/ testX/ testY/` with the same file names.

    python -m dataloader.preprocess_mnist --data ./MNIST-CDCB

Safe to re-run: finished files are skipped, and each file is written under a temporary name and
renamed, so an interruption never leaves a half-written image. (The MNIST-CDCB dataset also reads
the raw layout directly; this only reproduces the reference port's step.)
"""
import os

from dataloader.base import ImageRef, list_images, read_rgb
from utils.errors import Parser, UserError, run_script
from utils.files import writing
from utils.images import save_atomically

SPLITS = ("train", "test")
HALVES = {"X": "left", "Y": "right"}


def split_images(data, split):
    """Write the X and Y halves of `<data>/<split>/*`; returns (written, skipped) file counts."""
    raw = os.path.join(data, split)
    out_dirs = {domain: os.path.join(data, split + domain) for domain in HALVES}
    for folder in out_dirs.values():
        os.makedirs(folder, exist_ok=True)
    written = skipped = 0
    for name in list_images(raw):
        todo = [d for d in HALVES if not os.path.exists(os.path.join(out_dirs[d], name))]
        skipped += len(HALVES) - len(todo)
        for domain in todo:
            save_atomically(read_rgb(ImageRef(os.path.join(raw, name), HALVES[domain])),
                            os.path.join(out_dirs[domain], name))
            written += 1
    return written, skipped


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="./MNIST-CDCB", help="MNIST-CDCB folder holding train/ and test/")
    args = parser.parse_args(argv)
    splits = [s for s in SPLITS if os.path.isdir(os.path.join(args.data, s))]
    if not splits:
        raise UserError(f"no train/ or test/ folder of raw MNIST-CDCB images in {args.data}")
    for split in splits:
        with writing(args.data):
            written, skipped = split_images(args.data, split)
        print(f"{split}: wrote {written} files to {split}X/ and {split}Y/, skipped {skipped} already there")


if __name__ == "__main__":
    run_script(main)
