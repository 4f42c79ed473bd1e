"""What translate.py, encode.py and export.py share: their common options and outputs that appear only
when complete."""
import argparse
import os
import sys

from inference.images import FITS
from inference.model import inference_device, load_model
from utils.checkpoint import is_checkpoint_name
from utils.errors import UserError
from utils.files import atomic_path, cannot_write, remove_stale
from utils.rundir import run_holding


def at_least(minimum, maximum=None):
    """An argparse type: an integer >= minimum (and <= maximum when given)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
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
    if loaded.model_section["eval_batchnorm"] == "batch":
        print(f"warning: {loaded.path} is evaluated with batch statistics (model.eval_batchnorm: batch); here "
              "each image uses the running averages, which may translate and encode it worse", file=sys.stderr)
    return loaded


def staged_folder(final, write):
    """Call write(folder) on a temporary sibling of `final`, then rename it to `final` (which must be
    missing or empty), so an error or an interruption leaves nothing half-written under that name. A
    failed write (a full disk, a read-only file system) is one line."""
    try:
        _remove_stale(final)
        with atomic_path(final) as staging:
            os.makedirs(staging)
            write(staging)
    except OSError as e:
        raise cannot_write(final, e) from None


def check_out(path, own=()):
    """UserError unless --out `path` may be written: in a run (its folder, models/, results folders) it may
    not replace an existing file, except one whose name ends as those the command itself writes there
    (`own`: export's `-weights.pt`), nor take a checkpoint's name, which resume would load as one."""
    run_dir = run_holding(path)
    if run_dir is None:
        return
    name = os.path.basename(path)
    if os.path.lexists(path) and not name.endswith(tuple(own)):
        raise UserError(f"--out {path} is a file of the run {run_dir}; an output never replaces a run's "
                        "checkpoints, configs or results: name a new file")
    if is_checkpoint_name(name) and os.path.basename(os.path.dirname(os.path.abspath(path))) == "models":
        raise UserError(f"--out {path} is named like a checkpoint of the run {run_dir}, which resume would take "
                        "for one: name another file")


def write_file(path, write, own=()):
    """write(binary file) into path atomically, its folder created: a failed write keeps what was there
    and is one line. check_out(path, own) first."""
    if os.path.isdir(path):
        raise UserError(f"cannot write {path}: it is a folder; name a file")
    check_out(path, own)
    try:
        _remove_stale(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            write(f)
    except OSError as e:
        raise cannot_write(path, e) from None


def _remove_stale(path):
    """Remove the temporaries of `path` that a killed earlier call left (a SIGKILL skips every cleanup)."""
    folder, name = os.path.split(os.path.abspath(path))
    removed = remove_stale(folder, name)
    if removed:
        print(f"removed {len(removed)} partial output(s) a killed run left in {folder}", flush=True)
