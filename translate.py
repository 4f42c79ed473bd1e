"""Translate your own images with a trained model.

    python translate.py MODEL SOURCE... --to {x,y} [--style REF... [--interpolate K] | --random N] [--out DIR]

MODEL is a run directory, a checkpoint or a weights file (export.py). `--to y` reads the sources as
domain X and draws them in domain Y with each reference's style, with N styles drawn from the prior,
or, with --interpolate, with K styles moving from the first reference to the second; `--to x` the
other way. Without --style or --random: one random style. Writes `<source stem>__<style>.png` per
source and style, and grid.jpg (sources down, styles across, references along the top).
"""
import os
import sys
import time
from typing import NamedTuple, Optional

import torch

from dataloader.base import to_model_range
from inference.cli import add_model_arguments, at_least, model_from, staged_folder
from inference.codes import encode, interpolated_styles, random_styles, translations
from inference.images import image_paths, read_images
from utils.errors import Parser, UserError, run_command, seed
from utils.images import grid_image, save_image
from utils.rundir import fresh_name

# grid.jpg shows at most this many sources and styles: an overview that stays small at any count.
GRID_MAX = 16
# --random and --interpolate draw at most this many styles: each is an image per source, and a count
# given by mistake (10^9) would allocate the codes until memory runs out.
MAX_STYLES = 10000


def parse_args(argv):
    parser = Parser(description="Translate images into domain X or Y with a trained IIAE.")
    add_model_arguments(parser)
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="images or folders of images of the domain translated from")
    parser.add_argument("--to", required=True, choices=("x", "y"),
                        help="the domain translated into; the sources are of the other one")
    styles = parser.add_mutually_exclusive_group()
    styles.add_argument("--style", nargs="+", metavar="REF",
                        help="images or folders of the target domain; each gives a style (its exclusive code)")
    styles.add_argument("--random", type=at_least(1, MAX_STYLES), metavar="N",
                        help=f"N styles drawn from the prior (default 1, at most {MAX_STYLES})")
    parser.add_argument("--interpolate", type=at_least(2, MAX_STYLES), metavar="K",
                        help="with exactly two --style references: K styles from the first to the second")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random styles (default 0)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder, new or empty (default: translations/ in the run directory, "
                             "or in the working directory for a file MODEL; translations_2/ ... when taken)")
    args = parser.parse_args(argv)
    if args.interpolate and not args.style:
        raise UserError("--interpolate K needs --style with two references")
    if args.out and os.path.exists(args.out) and not (os.path.isdir(args.out) and not os.listdir(args.out)):
        raise UserError(f"--out {args.out} already exists and is not an empty folder; name a new one")
    return args


def stems(paths, what):
    """File names without extension, which name the outputs; two alike would overwrite each other."""
    seen = {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            raise UserError(f"{what}: {seen[stem]} and {path} would both name their outputs '{stem}'; rename one")
        seen[stem] = path
    return list(seen)


class Styles(NamedTuple):
    codes: torch.Tensor   # K x exclusive_dim
    names: list           # one per style, in output file names
    tops: Optional[list]  # the reference tile above each style's column in grid.jpg; None for random styles


def styles_of(args, loaded, target):
    if not args.style:
        count = args.random or 1
        return Styles(random_styles(count, loaded.model_section["exclusive_dim"], args.seed),
                      [f"rand{k:0{len(str(count))}d}" for k in range(1, count + 1)], None)
    paths = image_paths(args.style, "--style")
    if args.interpolate and len(paths) != 2:
        raise UserError(f"--interpolate needs exactly two --style references, got {len(paths)}")
    refs = read_images(paths, loaded.resolution, args.fit)
    names = stems(paths, "--style")
    codes = encode(loaded.model, refs, target, "exclusive", args.batch_size)[0]
    refs = list(to_model_range(refs))
    if not args.interpolate:
        return Styles(codes, names, refs)
    k = args.interpolate
    return Styles(interpolated_styles(codes[0], codes[1], k),
                  [f"{names[0]}_to_{names[1]}_{i:0{len(str(k))}d}" for i in range(1, k + 1)],
                  [refs[0]] + [torch.ones_like(refs[0])] * (k - 2) + [refs[1]])


def write_translations(folder, model, target, sources, source_names, shared, styles, batch_size):
    """One PNG per (source, style) and grid.jpg into folder."""
    shown = min(len(sources), GRID_MAX)
    rows = [[to_model_range(sources[i])] for i in range(shown)]
    for i, j, image in translations(model, shared, styles.codes, target, batch_size):
        save_image((image + 1) / 2, os.path.join(folder, f"{source_names[i]}__{styles.names[j]}.png"))
        if i < shown and j < GRID_MAX:
            rows[i].append(image)
    if styles.tops is not None:
        rows.insert(0, [torch.ones_like(rows[0][0])] + styles.tops[:GRID_MAX])
    save_image(grid_image([torch.stack(row) for row in rows]), os.path.join(folder, "grid.jpg"))


def run(argv):
    args = parse_args(argv)
    started = time.monotonic()
    loaded = model_from(args)
    target = "xy".index(args.to)
    paths = image_paths(args.sources, "SOURCE")
    source_names = stems(paths, "SOURCE")
    sources = read_images(paths, loaded.resolution, args.fit)
    styles = styles_of(args, loaded, target)
    out = args.out or fresh_name(loaded.run_dir or ".", "translations")
    shared = encode(loaded.model, sources, 1 - target, "shared", args.batch_size)[0]
    staged_folder(out, lambda folder: write_translations(folder, loaded.model, target, sources, source_names,
                                                         shared, styles, args.batch_size))
    print(f"translated {len(sources)} images x {len(styles.names)} styles into {args.to.upper()} with "
          f"{loaded.path} in {time.monotonic() - started:.1f} s: {out}", flush=True)
    return out


def main(argv=None):
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
