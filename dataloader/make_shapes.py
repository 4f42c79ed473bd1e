"""Make a paired dataset of random shapes, in the `paired` layout: `<root>/train/`, `val/` and `test/` of
side-by-side PNGs 00001.png, ...; left half (X) = the shape's black outline on white, right half (Y) = the
same shape filled with a striped colour on a coloured background.

    python -m dataloader.make_shapes --root ./data/shapes        4,500 train / 100 val / 500 test pairs

What the two halves share is the shape: its kind (circle, square, triangle, star, hexagon, cross), position,
size and rotation. What only X has is the outline's thickness; what only Y has is the fill colour, the stripes'
angle and period and the background colour. It is data with a known structure unlike the digits': large
flat regions, straight edges, a texture. Train it with `"dataset": "paired"` (configs/paired.json).

The same seed gives the same files; `shapes.json` beside the splits records the seed, so every pair's
parameters, and the right answer of every translation, can be drawn again (`"dataset": "shapes"`). The data appear at `root` only when complete: they are written into a
temporary folder beside it and renamed into place.
"""
import json
import math
import multiprocessing
import os
import time

import numpy as np
from PIL import Image, ImageDraw

from utils.errors import Parser, UserError, run_script, seed
from utils.files import atomic_path, writing

SEED = 0
SIDE = 128  # pixels per half
SPLITS = {"train": 4500, "val": 100, "test": 500}
KINDS = ("circle", "square", "triangle", "star", "hexagon", "cross")
SUPERSAMPLE = 4  # drawn this many times larger, then averaged down: smooth edges, deterministic
CHUNK = 100  # pairs per worker task
PNG_LEVEL = 1  # zlib level 1: a little larger files, written much faster
# What only one domain draws (the style); the rest of a pair's parameters is the shape both share.
STYLE_KEYS = ({"thickness"}, {"fill", "background", "stripe_angle", "stripe_period"})
RECORD = "shapes.json"  # beside the splits: the seed, side and split sizes the parameters are drawn from
RECORD_FORMAT = "iiae-shapes-1"


def outline(kind, rotation):
    """The shape's vertices [(x, y)] on the unit scale (radius 1 around the origin), rotated."""
    if kind == "circle":
        angles, radii = np.linspace(0, 2 * math.pi, 72, endpoint=False), np.ones(72)
    elif kind == "star":
        angles = np.linspace(0, 2 * math.pi, 10, endpoint=False)
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    elif kind == "cross":
        a = 0.35  # half the arm's width
        points = [(a, 1), (a, a), (1, a), (1, -a), (a, -a), (a, -1), (-a, -1), (-a, -a), (-1, -a), (-1, a), (-a, a),
                  (-a, 1)]
        angles = np.array([math.atan2(y, x) for x, y in points])
        radii = np.array([math.hypot(x, y) for x, y in points]) / math.hypot(1, a)
    else:
        corners = {"square": 4, "triangle": 3, "hexagon": 6}[kind]
        angles, radii = np.linspace(0, 2 * math.pi, corners, endpoint=False), np.ones(corners)
    angles = angles + rotation
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def draw_parameters(count, seed=SEED, side=SIDE):
    """Every random choice of `count` pairs, drawn here in one sequence so the files depend on the seed
    alone (not on the worker count): a list of dicts, one per pair."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, len(KINDS), count)
    radius = rng.uniform(0.18, 0.34, count) * side
    margin = radius + side / 32
    centre = np.stack([rng.uniform(margin, side - margin) for _ in range(2)], axis=1)
    rotation = rng.uniform(0, 2 * math.pi, count)
    thickness = rng.uniform(side / 80, side / 18, count)
    fill = rng.integers(0, 256, (count, 3))
    # Each background channel is 64 to 192 levels away from the fill's (mod 256), so the shape always shows.
    background = (fill + rng.integers(64, 193, (count, 3))) % 256
    stripe_angle = rng.uniform(0, math.pi, count)
    stripe_period = rng.uniform(side / 16, side / 5, count)
    return [dict(kind=KINDS[kinds[i]], centre=centre[i], radius=radius[i], rotation=rotation[i],
                 thickness=thickness[i], fill=fill[i], background=background[i], stripe_angle=stripe_angle[i],
                 stripe_period=stripe_period[i]) for i in range(count)]


def _shrink(big, side):
    """Average SUPERSAMPLE x SUPERSAMPLE blocks: a large float array [S*side, S*side, ...] down to side x side."""
    s = SUPERSAMPLE
    return big.reshape(side, s, side, s, *big.shape[2:]).mean(axis=(1, 3))


def _line_and_fill(p, side):
    """(line alpha, fill alpha), side x side x 1 floats in [0, 1]: the outline and the filled shape."""
    big = side * SUPERSAMPLE
    vertices = [tuple(v) for v in (outline(p["kind"], p["rotation"]) * p["radius"] + p["centre"]) * SUPERSAMPLE]
    line = Image.new("L", (big, big), 0)
    # A closed line with round joints: the same thickness at every corner.
    ImageDraw.Draw(line).line(vertices + vertices[:1], fill=255, width=round(p["thickness"] * SUPERSAMPLE),
                              joint="curve")
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).polygon(vertices, fill=255)
    return tuple(_shrink(np.asarray(img, np.float64) / 255, side)[..., None] for img in (line, mask))


def shape_alpha(p, side=SIDE):
    """side x side float in [0, 1]: how much of each pixel the filled shape covers."""
    return _line_and_fill(p, side)[1][..., 0]


def render_halves(p, side=SIDE):
    """(X, Y): the two side x side x 3 uint8 halves of draw_parameters()'s dict."""
    line_alpha, fill_alpha = _line_and_fill(p, side)
    ys, xs = np.mgrid[0:side, 0:side] + 0.5
    along = xs * math.cos(p["stripe_angle"]) + ys * math.sin(p["stripe_angle"])
    dark = (np.floor(along / (p["stripe_period"] / 2)) % 2)[..., None]
    texture = p["fill"] * (1 - 0.45 * dark)  # stripes of the fill colour and a darker shade of it
    x_half = np.repeat(255 * (1 - line_alpha), 3, axis=2)
    y_half = p["background"] * (1 - fill_alpha) + texture * fill_alpha
    return tuple(np.clip(np.rint(half), 0, 255).astype(np.uint8) for half in (x_half, y_half))


def render_pair(p, side=SIDE):
    """One side x 2*side x 3 uint8 pair from draw_parameters()'s dict: X on the left."""
    return np.concatenate(render_halves(p, side), axis=1)


def with_style(shape, style, domain):
    """The parameters of `shape`'s shape drawn in `style`'s style of `domain` (0: X, 1: Y): what
    translating `shape`'s pair into that domain with `style`'s pair as the reference should draw."""
    return {**shape, **{key: style[key] for key in STYLE_KEYS[domain]}}


def _write_chunk(task):
    params, paths, side = task
    for p, path in zip(params, paths):
        Image.fromarray(render_pair(p, side)).save(path, compress_level=PNG_LEVEL)
    return len(paths)


def _worker_count(pairs):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, math.ceil(pairs / CHUNK)))


def generate(out_dir, split_sizes=SPLITS, seed=SEED, side=SIDE):
    """Write `out_dir/<split>/00001.png, ...` for split_sizes e.g. {"train": 4500, "val": 100, "test": 500}.
    Returns the number of pairs written."""
    if side % 8:
        raise ValueError(f"side must be a multiple of 8, got {side}")
    total = sum(split_sizes.values())
    params = draw_parameters(total, seed, side)
    paths = []
    for split, size in split_sizes.items():
        if size:
            os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        paths += [os.path.join(out_dir, split, f"{i:05d}.png") for i in range(1, size + 1)]
    with open(os.path.join(out_dir, RECORD), "w") as f:
        json.dump({"format": RECORD_FORMAT, "seed": seed, "side": side, "splits": dict(split_sizes)}, f, indent=2)
    tasks = [(params[i:i + CHUNK], paths[i:i + CHUNK], side) for i in range(0, total, CHUNK)]
    workers = _worker_count(total)
    if workers == 1:
        return sum(map(_write_chunk, tasks))
    with multiprocessing.Pool(workers) as pool:
        return sum(pool.imap_unordered(_write_chunk, tasks))


def make(root, split_sizes=SPLITS, seed=SEED, side=SIDE):
    """generate() into a temporary folder beside `root`, renamed to `root` when complete (an empty `root` is
    replaced). Returns the pair count."""
    if os.path.isfile(root) or (os.path.isdir(root) and os.listdir(root)):
        raise UserError(f"{root} already exists and is not empty; choose a new --root")
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    with atomic_path(root) as tmp:
        return generate(tmp, split_sizes, seed, side)


def read_parameters(root):
    """({"<split>/<file>": parameters}, side) of the data make() wrote to `root`, drawn again from the seed
    its record names: the right answer of any translation is rendered from them. UserError when `root`
    holds no record this version reads."""
    path = os.path.join(root, RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
        if record.get("format") != RECORD_FORMAT:
            raise ValueError(f"format {record.get('format')!r}, not {RECORD_FORMAT!r}")
        splits, record_seed, side = dict(record["splits"]), int(record["seed"]), int(record["side"])
    except FileNotFoundError:
        raise UserError(f"shapes: {path} not found; the data were not written by this version of "
                        "python -m dataloader.make_shapes (make them again, or read them as \"dataset\": \"paired\")") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"shapes: cannot read {path}: {e}") from None
    params = iter(draw_parameters(sum(splits.values()), record_seed, side))
    return {f"{split}/{i:05d}.png": next(params) for split, size in splits.items() for i in range(1, size + 1)}, side


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="folder to create (must not exist, or be empty)")
    parser.add_argument("--seed", type=seed, default=SEED)
    parser.add_argument("--side", type=int, default=SIDE, help="pixels per half (a multiple of 8)")
    for split, size in SPLITS.items():
        parser.add_argument(f"--{split}", type=int, default=size, help=f"{split} pairs")
    args = parser.parse_args(argv)
    if args.side < 8 or args.side % 8:
        raise UserError(f"--side is {args.side}; use a multiple of 8")
    sizes = {split: getattr(args, split) for split in SPLITS}
    if min(sizes.values()) < 0 or sizes["train"] < 1 or sizes["test"] < 1:
        raise UserError("--train and --test need at least 1 pair, --val at least 0")
    start = time.perf_counter()
    with writing(args.root):
        count = make(args.root, sizes, args.seed, args.side)
    listed = ", ".join(f"{n} {split}" for split, n in sizes.items())
    print(f"wrote {count} shape pairs ({listed}) to {args.root} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    run_script(main)
