"""Make MNIST-CDCB (Gonzalez-Garcia et al., NeurIPS 2018) from MNIST digits, in the download's format:
`<root>/train/` and `<root>/test/` of 512x256 PNGs 00001.png, ...; left half = the white digit on a
uniformly coloured background (X), right half = the same digit in another colour on black (Y); both
colours uniform random RGB, drawn independently. The pixels follow the real data's: the digit upsampled
as TensorFlow 1 resizes, the grey digit pasted through masks (see digit_layers).

    python -m dataloader.make_mnist_cdcb --source committed --root ./demo_data/MNIST-CDCB
        the 5,000 digits committed in dataloader/mnist_5k.npz: 4,500 train / 500 test pairs, offline
    python -m dataloader.make_mnist_cdcb --source torchvision --root ./MNIST-CDCB
        full MNIST through torchvision (needs internet): 60,000 train / 10,000 test pairs

The same seed gives the same files. The data appear at `root` only when complete: they are written
into a temporary folder beside it and renamed into place.
"""
import math
import multiprocessing
import os
import tempfile
import time

import numpy as np
from PIL import Image

from utils.errors import Parser, UserError, run_script, seed
from utils.files import atomic_path, writing

COMMITTED_DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_5k.npz")
COMMITTED_SPLIT = {"train": 450, "test": 50}  # digits per class; the committed file has 500 of each
SEED = 0
SIDE = 256  # pixels per half
CHUNK = 100  # pairs per worker task
# zlib level 1: somewhat larger files than the default level, written much faster.
PNG_LEVEL = 1


def _upsampling(source=28, side=SIDE, a=-0.75):
    """(taps, weights), each side x 4: TensorFlow 1's `resize_bicubic` (align_corners=False), which the
    real data's pixels follow. Keys' cubic with a = -0.75 (it rings: a dark fringe beside a bright
    stroke); source coordinate = target x scale, without the half-pixel offset (the digit sits half a
    source pixel up and left of where a centre-aligned resize puts it); taps beyond the edge repeat the
    edge pixel."""
    def weight(t):
        t = abs(t)
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1 if t <= 1 else (a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
                                                                       if t < 2 else 0.0)
    taps, weights = np.zeros((side, 4), np.intp), np.zeros((side, 4), np.float32)
    for row in range(side):
        position = row * source / side
        first = math.floor(position) - 1
        for k, tap in enumerate(range(first, first + 4)):
            taps[row, k], weights[row, k] = min(max(tap, 0), source - 1), weight(position - tap)
    return taps, weights


TAPS, WEIGHTS = _upsampling()
# The real pairs' X half pastes the grey digit D over the background through a mask of the pixels
# brighter than half; their Y half colours D through a mask of every lit pixel and leaves D grey outside it.
X_MASK_LEVEL, Y_MASK_LEVEL = 127, 0


def upsample(image):
    """A 28 x 28 float image at 256 x 256 as TAPS and WEIGHTS say, clipped to [0, 1]. Four taps a pixel
    rather than a matrix product: many tiny products in worker processes ran BLAS's threads against each
    other, several times slower."""
    rows = (image[TAPS] * WEIGHTS[:, :, None]).sum(1)
    return np.clip((rows[:, TAPS] * WEIGHTS).sum(-1), 0, 1)


def digit_layers(digit):
    """4 x 256 x 256 float32 layers of a 28 x 28 uint8 digit, each linear in the pixels so that they can be
    resized before compositing: the X mask m, D m, the grey digit D (in [0, 1]) and D n (n: the Y mask)."""
    grey = upsample(digit.astype(np.float32) / 255)
    x_mask, y_mask = (upsample((digit > level).astype(np.float32)) for level in (X_MASK_LEVEL, Y_MASK_LEVEL))
    return np.stack([x_mask, grey * x_mask, grey, grey * y_mask])


def compose(layers, colour, domain):
    """A pair's half from digit_layers (4 x H x W, numpy or torch, values in [0, 1]) and an RGB colour in
    [0, 1] shaped to broadcast against H x W (3 x 1 x 1): domain 0 = X, the white digit over the
    background colour; 1 = Y, the digit in the colour over black."""
    x_mask, grey_x, grey, grey_y = layers[0], layers[1], layers[2], layers[3]
    if domain == 0:
        return colour * (1 - x_mask) + grey_x
    return grey + (colour - 1) * grey_y


def render_pair(digit, background, foreground):
    """One 256 x 512 x 3 uint8 pair from a 28 x 28 digit and two RGB colours (0-255), drawn as the real
    data are (see upsample and digit_layers)."""
    layers = digit_layers(digit)[..., None]  # 4 x H x W x 1: each half comes out H x W x 3
    pair = np.empty((SIDE, 2 * SIDE, 3), np.uint8)
    for domain, colour in enumerate((background, foreground)):
        half = compose(layers, np.asarray(colour, np.float32) / 255, domain)
        np.rint(np.clip(half * 255, 0, 255), out=half)
        pair[:, domain * SIDE:(domain + 1) * SIDE] = half
    return pair


def _write_chunk(task):
    digits, colours, paths = task
    for digit, (background, foreground), path in zip(digits, colours, paths):
        Image.fromarray(render_pair(digit, background, foreground)).save(path, compress_level=PNG_LEVEL)
    return len(paths)


def _worker_count(pairs):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, math.ceil(pairs / CHUNK)))


def generate(digits, out_dir, split_sizes, seed=SEED):
    """Write `out_dir/<split>/00001.png, ...` from uint8 digits [N, 28, 28] taken in order, split_sizes
    e.g. {"train": 4500, "test": 500}. Colours are drawn here, not in the workers, so the files do not
    depend on the worker count. Returns the number of pairs written."""
    total = sum(split_sizes.values())
    if digits.ndim != 3 or digits.dtype != np.uint8 or len(digits) < total:
        raise ValueError(f"need at least {total} uint8 digits [N, 28, 28], got {digits.dtype} {digits.shape}")
    colours = np.random.default_rng(seed).integers(0, 256, (total, 2, 3), dtype=np.uint8)
    paths = []
    for split, size in split_sizes.items():
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        paths += [os.path.join(out_dir, split, f"{i:05d}.png") for i in range(1, size + 1)]
    tasks = [(digits[i:i + CHUNK], colours[i:i + CHUNK], paths[i:i + CHUNK]) for i in range(0, total, CHUNK)]
    workers = _worker_count(total)
    if workers == 1:
        return sum(map(_write_chunk, tasks))
    with multiprocessing.Pool(workers) as pool:
        return sum(pool.imap_unordered(_write_chunk, tasks))


def committed_split(per_class=COMMITTED_SPLIT, seed=SEED):
    """(images, labels, {split: indices}) of the committed file, the indices in `generate`'s order. The file
    is sorted by class, so the split is drawn per class (every class in both splits) and then shuffled."""
    with np.load(COMMITTED_DIGITS) as data:
        images, labels = data["images"], data["labels"]
    rng = np.random.default_rng(seed)
    chosen = {split: [] for split in per_class}
    for digit_class in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit_class))
        start = 0
        for split, count in per_class.items():
            chosen[split].append(members[start:start + count])
            start += count
    return images, labels, {split: rng.permutation(np.concatenate(parts)) for split, parts in chosen.items()}


def committed_digits(per_class=COMMITTED_SPLIT, seed=SEED):
    """Digits of the committed file ordered for `generate`, and their split sizes."""
    images, _, order = committed_split(per_class, seed)
    return images[np.concatenate(list(order.values()))], {split: len(o) for split, o in order.items()}


def torchvision_digits(download_dir):
    """Full MNIST in its official order: 60,000 train then 10,000 test digits."""
    from torchvision.datasets import MNIST  # only this source needs torchvision
    try:
        parts = [MNIST(download_dir, train=train, download=True).data.numpy() for train in (True, False)]
    except (OSError, RuntimeError) as e:  # urllib's errors are OSErrors; torchvision raises RuntimeError
        raise UserError(f"could not download MNIST with torchvision (needs internet): {e}; "
                        "--source committed works offline") from None
    return np.concatenate(parts), {"train": len(parts[0]), "test": len(parts[1])}


def make(root, digits, split_sizes, seed=SEED):
    """generate() into a temporary folder beside `root`, renamed to `root` when complete (an empty `root`
    is replaced). Returns the pair count. When `root` got data from another process meanwhile (another
    torchrun rank), theirs is kept."""
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    try:
        with atomic_path(root) as tmp:
            return generate(digits, tmp, split_sizes, seed)
    except OSError:
        if os.path.isdir(root) and os.listdir(root):
            return sum(split_sizes.values())
        raise


def _load_source(source, root, seed):
    if source == "committed":
        return committed_digits(seed=seed)
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{os.path.basename(os.path.abspath(root))}.mnist-download-",
                                     dir=parent) as download_dir:
        return torchvision_digits(download_dir)


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=("committed", "torchvision"), default="committed",
                        help="committed: the 5,000 digits in dataloader/mnist_5k.npz; torchvision: full MNIST")
    parser.add_argument("--root", required=True, help="folder to create (must not exist, or be empty)")
    parser.add_argument("--seed", type=seed, default=SEED, help="seed of the colours (and of the committed split)")
    args = parser.parse_args(argv)
    if os.path.isfile(args.root) or (os.path.isdir(args.root) and os.listdir(args.root)):
        raise UserError(f"{args.root} already exists and is not empty; choose a new --root")
    with writing(args.root):
        digits, split_sizes = _load_source(args.source, args.root, args.seed)
        start = time.perf_counter()
        count = make(args.root, digits, split_sizes, args.seed)
    sizes = ", ".join(f"{n} {split}" for split, n in split_sizes.items())
    print(f"wrote {count} MNIST-CDCB pairs ({sizes}) to {args.root} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    run_script(main)
