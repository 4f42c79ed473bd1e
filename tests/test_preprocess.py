"""preprocess_mnist and preprocess_cars on tiny data in the real layouts: outputs, idempotence,
atomic writes, and one-line errors."""
import os
import runpy
import sys

import numpy as np
import pytest
from PIL import Image

from dataloader import preprocess_cars, preprocess_mnist
from dataloader.registry import build_dataset
from tests.fakedata import make_mnist_cdcb
from utils import images
from utils.config import build_config
from utils.errors import UserError


def options(name):
    return build_config({"dataset": name, "path_to_data": "x"}).data


def files(folder):
    return sorted(os.listdir(folder))


# preprocess_mnist

def test_preprocess_mnist_splits_halves_and_is_idempotent(tmp_path, capsys):
    root = make_mnist_cdcb(tmp_path, n_train=4, n_test=2, size=16)
    preprocess_mnist.main(["--data", root])
    assert "train: wrote 8 files" in capsys.readouterr().out
    for split, count in (("train", 4), ("test", 2)):
        for domain, half in (("X", slice(0, 16)), ("Y", slice(16, 32))):
            assert files(tmp_path / (split + domain)) == files(tmp_path / split)
            raw = np.asarray(Image.open(tmp_path / split / "00002.png"))
            np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / (split + domain) / "00002.png")),
                                          raw[:, half])
    os.remove(tmp_path / "trainY" / "00003.png")  # as if interrupted before this file
    preprocess_mnist.main(["--data", root])
    out = capsys.readouterr().out
    assert "train: wrote 1 files to trainX/ and trainY/, skipped 7" in out and "test: wrote 0" in out
    assert len(build_dataset("MNIST-CDCB", root, "train", 16, options("MNIST-CDCB"), False)) == 4


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        images.save_atomically(Image.new("RGB", (4, 4)), str(tmp_path / "a.png"))
    assert os.listdir(tmp_path) == []


def test_preprocess_mnist_without_raw_folders(tmp_path):
    with pytest.raises(UserError, match=f"no train/ or test/ .* in {tmp_path}"):
        preprocess_mnist.main(["--data", str(tmp_path)])


# preprocess_cars

def write_car_mat(folder, car_id, size=16):
    """A .mat in Reed et al.'s layout; pixel values encode (car, azimuth, elevation)."""
    scipy_io = pytest.importorskip("scipy.io")
    im = np.zeros((size, size, 3, 24, 4), np.uint8)
    im[:, :, 0] = np.arange(24)[:, None] * 10 + np.arange(4)  # azimuth * 10 + elevation
    im[:, :, 1] = car_id
    os.makedirs(folder, exist_ok=True)
    scipy_io.savemat(os.path.join(folder, f"car_{car_id:03d}_mesh.mat"), {"im": im})


def pixel(path):
    return np.asarray(Image.open(path))[0, 0, :2].tolist()


def test_preprocess_cars_split_counts_and_views(tmp_path, capsys):
    raw = tmp_path / "cars"
    for car_id in (1, 192):
        write_car_mat(raw, car_id)
    preprocess_cars.main(["--raw", str(raw), "--out", str(raw)])
    assert "train: 1 cars, 92 pairs" in capsys.readouterr().out
    for split, car_id in (("train", 1), ("test", 192)):
        for domain in "XY":
            names = files(raw / (split + domain))
            assert len(names) == 4 * 23 and all(n.startswith(f"car_{car_id:03d}_") for n in names)
        assert pixel(raw / f"{split}X" / f"car_{car_id:03d}_e2_a05.png") == [2, car_id]  # front view
        assert pixel(raw / f"{split}Y" / f"car_{car_id:03d}_e2_a05.png") == [52, car_id]  # azimuth 5
    preprocess_cars.main(["--raw", str(raw), "--out", str(raw)])
    assert "(0 files written now)" in capsys.readouterr().out
    dataset = build_dataset("Cars", str(raw), "test", 16, options("Cars"), False)
    assert len(dataset) == 92


def test_preprocess_cars_options(tmp_path):
    for car_id in (1, 2, 3):
        write_car_mat(tmp_path, car_id)
    report = preprocess_cars.preprocess(str(tmp_path), str(tmp_path / "out"),
                                        {"train": {1, 2}, "test": {3}}, elevations=[1])
    assert report == {"train": (2, 2 * 23 * 2), "test": (1, 23 * 2)}
    assert files(tmp_path / "out" / "testY")[0] == "car_003_e1_a01.png"
    with pytest.raises(UserError, match=r"car ids \[2\] are in both"):
        preprocess_cars.preprocess(str(tmp_path), str(tmp_path / "out"), {"train": {1, 2}, "test": {2}}, [0])


def test_preprocess_cars_bad_inputs_are_named(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    with pytest.raises(UserError, match="cars folder not found"):
        preprocess_cars.find_cars(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=f"no car_NNN_mesh.mat files in {tmp_path}"):
        preprocess_cars.find_cars(str(tmp_path))
    path = str(tmp_path / "car_001_mesh.mat")
    scipy_io.savemat(path, {"images": np.zeros((2, 2, 3, 24, 4), np.uint8)})
    with pytest.raises(UserError, match=f"{path} has no 'im' array"):
        preprocess_cars.load_renderings(path)
    scipy_io.savemat(path, {"im": np.zeros((2, 2, 3, 24), np.uint8)})
    with pytest.raises(UserError, match=r"expected uint8 H x W x 3 x 24 x 4"):
        preprocess_cars.load_renderings(path)
    with pytest.raises(UserError, match="car ids 'x-1'"):
        preprocess_cars.parse_ids("x-1")


def run_script(module, argv, monkeypatch):
    """Run `python -m module ARGV` in this process (a subprocess would spend seconds importing torch);
    returns its exit status."""
    monkeypatch.setattr(sys, "argv", [module] + argv)
    monkeypatch.delitem(sys.modules, module)  # as `python -m` runs it: not imported before
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    return stopped.value.code


def test_preprocess_cars_cli_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    missing = str(tmp_path / "nowhere")
    assert run_script("dataloader.preprocess_cars", ["--raw", missing], monkeypatch) == 2
    assert capsys.readouterr().err == f"error: cars folder not found: {missing}\n"


def test_make_mnist_cdcb_cli_refuses_non_empty_root(tmp_path, monkeypatch, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    assert run_script("dataloader.make_mnist_cdcb", ["--root", str(tmp_path)], monkeypatch) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} already exists and is not empty; choose a new --root\n"
    assert os.listdir(tmp_path) == ["old.txt"]
