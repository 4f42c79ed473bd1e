import os

import numpy as np
import pytest
from PIL import Image

from dataloader import make_shapes
from dataloader.registry import build_dataset
from utils.config import build_config
from utils.errors import UserError

SIZES = {"train": 3, "val": 1, "test": 2}


def files(root):
    return {os.path.relpath(os.path.join(d, n), root): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(root) for n in names}


def test_same_seed_same_files_in_the_paired_layout(tmp_path):
    make_shapes.make(tmp_path / "a", SIZES, seed=5, side=32)
    make_shapes.make(tmp_path / "b", SIZES, seed=5, side=32)
    make_shapes.make(tmp_path / "c", SIZES, seed=6, side=32)
    a = files(tmp_path / "a")
    assert sorted(a) == ["shapes.json", "test/00001.png", "test/00002.png", "train/00001.png", "train/00002.png",
                         "train/00003.png", "val/00001.png"]
    assert a == files(tmp_path / "b")
    assert all(a[name] != data for name, data in files(tmp_path / "c").items() if name.endswith(".png"))
    with Image.open(tmp_path / "a" / "train" / "00001.png") as image:
        assert image.size == (64, 32) and image.mode == "RGB"
    # The `paired` dataset reads it as it is written: train/ for training, test/ for testing.
    cfg = build_config({"dataset": "paired", "path_to_data": str(tmp_path / "a")})
    for split, count in (("train", 3), ("test", 2)):
        dataset = build_dataset("paired", str(tmp_path / "a"), split, 32, cfg.data, train=False)
        assert len(dataset) == count and dataset[0][0].shape == (3, 32, 32)


def test_the_outline_in_x_surrounds_the_filled_shape_in_y(tmp_path):
    """X is the outline of the shape Y fills: the dark pixels of X and the pixels of Y that are not the
    background span the same box, up to the line's thickness; X is white elsewhere."""
    side = 64
    make_shapes.make(tmp_path / "s", {"train": 6}, seed=1, side=side)
    params = make_shapes.draw_parameters(6, seed=1, side=side)
    for i, p in enumerate(params, start=1):
        pair = np.asarray(Image.open(tmp_path / "s" / "train" / f"{i:05d}.png")).astype(int)
        x, y = pair[:, :side], pair[:, side:]
        line = x.min(axis=2) < 128
        shape = np.abs(y - p["background"]).max(axis=2) > 24
        assert line.sum() > side and shape.sum() > side, p["kind"]
        boxes = [np.array([ys.min(), ys.max(), xs.min(), xs.max()]) for ys, xs in map(np.nonzero, (line, shape))]
        assert np.abs(boxes[0] - boxes[1]).max() <= p["thickness"] / 2 + 2, (p["kind"], boxes)
        assert (x[~line] >= 128).all() and (x == x[..., :1]).all()  # grey levels only
        # Inside the shape Y is the fill colour or its darker stripe (0.55 of it).
        median = np.median(y[shape], axis=0)
        assert (median >= 0.55 * p["fill"] - 3).all() and (median <= p["fill"] + 3).all(), (median, p["fill"])


def test_the_data_appear_only_when_complete(tmp_path, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty"):
        make_shapes.main(["--root", str(tmp_path / "full"), "--train", "1", "--test", "1"])
    assert os.listdir(tmp_path / "full") == ["x.txt"]

    def broken(task):
        raise OSError("disk full")
    monkeypatch.setattr(make_shapes, "_write_chunk", broken)
    with pytest.raises(OSError):
        make_shapes.make(tmp_path / "new", {"train": 2, "test": 1}, side=32)
    assert os.listdir(tmp_path) == ["full"]
