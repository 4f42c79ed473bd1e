"""Turn Reed et al.'s car renderings (`car_NNN_mesh.mat`, key `im`: H x W x 3 x 24 azimuths x 4
elevations) into the `Cars` dataset: `<out>/<split>X/` and `<out>/<split>Y/` with the same file names
`car_NNN_eE_aAA.png`, where Y is azimuth AA (1-23) and X the front view (azimuth 0) of the same car and
elevation E. The official split is car ids 1-191 for training and 192-199 for testing.

    python -m dataloader.preprocess_cars --raw ./data/cars --out ./data/cars

Needs scipy. Safe to re-run: finished files are skipped and every file is written atomically.
"""
import os
import re

import numpy as np
from PIL import Image

from utils.errors import Parser, UserError, run_script
from utils.images import save_atomically

MAT_NAME = re.compile(r"^car_(\d+)_mesh\.mat$")
AZIMUTHS, ELEVATIONS = 24, 4
FRONT = 0  # azimuth of domain X


def parse_ids(text):
    """'1-191' or '1,5,7-9' -> set of ints."""
    ids = set()
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            ids.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise UserError(f"car ids '{text}': expected numbers and ranges such as 1-191 or 1,5,7-9") from None
    return ids


def find_cars(raw):
    """{car id: .mat path} in `raw`."""
    if not os.path.isdir(raw):
        raise UserError(f"cars folder not found: {raw}")
    cars = {int(m.group(1)): os.path.join(raw, m.group(0)) for m in map(MAT_NAME.match, os.listdir(raw)) if m}
    if not cars:
        raise UserError(f"no car_NNN_mesh.mat files in {raw}")
    return cars


def load_renderings(path):
    """The `im` array of one .mat file, checked: uint8 H x W x 3 x 24 x 4."""
    try:
        import scipy.io
    except ImportError:
        raise UserError("preprocess_cars needs scipy: pip install scipy") from None
    try:
        images = scipy.io.loadmat(path).get("im")
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if images is None:
        raise UserError(f"{path} has no 'im' array")
    if images.ndim != 5 or images.shape[2:] != (3, AZIMUTHS, ELEVATIONS) or images.dtype != np.uint8:
        raise UserError(f"{path}: 'im' is {images.dtype} {images.shape}, "
                        f"expected uint8 H x W x 3 x {AZIMUTHS} x {ELEVATIONS}")
    return images


def pair_name(car_id, elevation, azimuth):
    return f"car_{car_id:03d}_e{elevation}_a{azimuth:02d}.png"


def write_car(car_id, mat_path, out, split, elevations):
    """Write one car's pairs; the .mat is read only when some file is missing. Returns files written."""
    folders = {domain: os.path.join(out, split + domain) for domain in ("X", "Y")}
    todo = [(domain, elevation, azimuth)
            for elevation in elevations for azimuth in range(AZIMUTHS) if azimuth != FRONT
            for domain in folders
            if not os.path.exists(os.path.join(folders[domain], pair_name(car_id, elevation, azimuth)))]
    if not todo:
        return 0
    images = load_renderings(mat_path)
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    for domain, elevation, azimuth in todo:
        # X holds the front view under every Y's name, so that both folders pair by file name.
        shown = FRONT if domain == "X" else azimuth
        view = np.ascontiguousarray(images[:, :, :, shown, elevation])
        save_atomically(Image.fromarray(view), os.path.join(folders[domain], pair_name(car_id, elevation, azimuth)))
    return len(todo)


def preprocess(raw, out, splits, elevations):
    """splits: {"train": ids, "test": ids}. Returns {split: (cars, files written)}."""
    cars = find_cars(raw)
    overlap = set.intersection(*splits.values())
    if overlap:
        raise UserError(f"car ids {sorted(overlap)[:5]} are in both the train and the test split")
    report = {}
    for split, ids in splits.items():
        chosen = sorted(set(cars) & ids)
        report[split] = (len(chosen), sum(write_car(c, cars[c], out, split, elevations) for c in chosen))
    return report


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", default="./data/cars", help="folder of car_NNN_mesh.mat files")
    parser.add_argument("--out", default="./data/cars", help="dataset folder to write (the config's path_to_data)")
    parser.add_argument("--train-ids", default="1-191", help="car ids of the training split")
    parser.add_argument("--test-ids", default="192-199", help="car ids of the test split")
    parser.add_argument("--elevations", default="0-3", help=f"elevations to use, of 0-{ELEVATIONS - 1}")
    args = parser.parse_args(argv)
    elevations = sorted(parse_ids(args.elevations))
    if not set(elevations) <= set(range(ELEVATIONS)):
        raise UserError(f"--elevations '{args.elevations}': choose from 0-{ELEVATIONS - 1}")
    splits = {"train": parse_ids(args.train_ids), "test": parse_ids(args.test_ids)}
    for split, (cars, written) in preprocess(args.raw, args.out, splits, elevations).items():
        per_car = len(elevations) * (AZIMUTHS - 1)
        print(f"{split}: {cars} cars, {cars * per_car} pairs in {split}X/ and {split}Y/ ({written} files written now)")


if __name__ == "__main__":
    run_script(main)
