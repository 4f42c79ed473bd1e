"""What translate.py, encode.py and export.py share: their common options and outputs that appear only
when complete."""
import argparse
import os
import sys

from inference.images import FITS
from inference.model import inference_device, load_model
from utils.files import atomic_path

def at_least(minimum):
    """An argparse type: an integer >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _iteration(text):
    if text == "latest":
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an iteration number or latest, got '{text}'")
    return int(text)


def add_model_arguments(parser, images=True):
    """MODEL and --checkpoint; with images, also how they are read and computed."""
    parser.add_argument("model", metavar="MODEL",
                        help="a run directory, a checkpoint file or a weights file written by export.py")
    parser.add_argument("--checkpoint", metavar="ITER|latest", type=_iteration,
                        help="a run directory's checkpoint to use (default: latest, the newest that loads)")
    if images:
        parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
        parser.add_argument("--fit", choices=FITS, default="crop",
                            help="how an image that is not R x R becomes one: crop (default) the centre "
                                 "square, stretch the whole image, or pad the short side by repeating "
                                 "the border")
        parser.add_argument("--batch-size", type=at_least(1), default=16, metavar="N",
                            help="images per network call (default 16)")


def model_from(args):
    loaded = load_model(args.model, args.checkpoint, inference_device(args.device))
    if loaded.model_config["eval_batchnorm"] == "batch":
        print(f"warning: {loaded.path} is evaluated with batch statistics (model.eval_batchnorm: batch); here "
              "each image uses the running averages, which may translate and encode it worse", file=sys.stderr)
    return loaded


def staged_folder(final, write):
    """Call write(folder) on a temporary sibling of `final`, then rename it to `final` (which must be
    missing or empty), so an error or an interruption leaves nothing half-written under that name."""
    with atomic_path(final) as staging:
        os.makedirs(staging)
        write(staging)


def write_file(path, write):
    """write(binary file) into path atomically, its folder created: a failed write keeps what was there."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
