"""Export a small inference file: the networks' weights, the resolution and the model section of the
config, without the optimizer state of a checkpoint. translate.py and encode.py accept it as MODEL;
it loads with torch.load(weights_only=True).

    python export.py MODEL [--checkpoint ITER|latest] [--out FILE]

The default FILE is `<iter>-weights.pt` beside the checkpoint (`RUN_DIR/models/`).
"""
import os
import sys

from inference.cli import add_model_arguments, write_file
from inference.model import load_model, weights_state
from utils.checkpoint import torch_save
from utils.errors import Parser, UserError, run_command


def run(argv):
    parser = Parser(description="Write a trained IIAE's weights file (no optimizer state).")
    add_model_arguments(parser, images=False)
    parser.add_argument("--out", metavar="FILE", help="default: <iter>-weights.pt beside the checkpoint")
    args = parser.parse_args(argv)
    loaded = load_model(args.model, args.checkpoint)
    out = args.out or os.path.join(os.path.dirname(loaded.path), f"{loaded.iteration}-weights.pt")
    if os.path.abspath(out) == os.path.abspath(loaded.path):
        raise UserError(f"--out {out} is the file being read; name another")
    write_file(out, lambda f: torch_save(weights_state(loaded), f), own=("-weights.pt",))
    mib = lambda path: os.path.getsize(path) / 2 ** 20
    print(f"wrote {out}: {mib(out):.1f} MiB ({loaded.path}: {mib(loaded.path):.1f} MiB)", flush=True)
    return out


def main(argv=None):
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
