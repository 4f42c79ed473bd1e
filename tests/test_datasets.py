"""Datasets on tiny data written by the tests: shapes, ranges, pairing by name, domain halves,
unpaired partners, error messages, and the generated demo data."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from dataloader import make_mnist_cdcb
from dataloader.datasets import demo
from dataloader.registry import build_dataset
from tests.fakedata import make_mnist_cdcb as write_raw_mnist_cdcb
from utils.config import build_config
from utils.errors import UserError

RES = 32


def build(name, root, split="train", train=False, **data):
    options = build_config({"dataset": name, "path_to_data": str(root), "data": data}).data
    return build_dataset(name, str(root), split, RES, options, train)


def as_uint8(image):
    """Model-range tensor -> H x W x 3 uint8 array, to compare with the files."""
    return ((image + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def write_solid(path, colour, size=RES):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour, np.uint8)).save(path)


def check_item(dataset, index):
    x, y, name = dataset[index]
    for image in (x, y):
        assert image.shape == (3, RES, RES) and image.dtype == torch.float32
        assert image.min() >= -1 and image.max() <= 1
    return x, y, name


# MNIST-CDCB

def test_mnist_cdcb_raw_layout_left_half_is_x(tmp_path):
    root = write_raw_mnist_cdcb(tmp_path, n_train=6, n_test=3, size=RES)
    assert len(build("MNIST-CDCB", root)) == 6 and len(build("MNIST-CDCB", root, "test")) == 3
    dataset = build("MNIST-CDCB", root)
    for index in range(len(dataset)):
        x, y, name = check_item(dataset, index)
        pair = np.asarray(Image.open(os.path.join(root, "train", name)))
        np.testing.assert_array_equal(as_uint8(x), pair[:, :RES])
        np.testing.assert_array_equal(as_uint8(y), pair[:, RES:])
        assert (x == 1).all(0).any()  # X: a white digit on a coloured background
        assert (y == -1).all(0).float().mean() > 0.5  # Y: a coloured digit on black


def write_preprocessed(root, split, names_x, names_y):
    """Solid images whose colour encodes the name and the domain, to check what is paired with what."""
    for domain, names in (("X", names_x), ("Y", names_y)):
        for name in names:
            write_solid(os.path.join(root, split + domain, name), (int(name[0]) * 20, 200 * (domain == "Y"), 7))


def test_mnist_cdcb_prefers_preprocessed_layout_and_pairs_by_name(tmp_path):
    root = write_raw_mnist_cdcb(tmp_path)
    names = ["3.png", "1.png", "2.png"]
    write_preprocessed(root, "train", names, list(reversed(names)))
    dataset = build("MNIST-CDCB", root)
    assert len(dataset) == 3
    for index in range(3):
        x, y, name = check_item(dataset, index)
        assert as_uint8(x)[0, 0].tolist() == [int(name[0]) * 20, 0, 7]
        assert as_uint8(y)[0, 0].tolist() == [int(name[0]) * 20, 200, 7]


@pytest.mark.parametrize("names_y, alone, folder", [(["1.png"], "2.png", "trainY"),
                                                    (["1.png", "2.png", "5.png"], "5.png", "trainX")])
def test_mnist_cdcb_file_without_partner_is_named(tmp_path, names_y, alone, folder):
    write_preprocessed(tmp_path, "train", ["1.png", "2.png"], names_y)
    with pytest.raises(UserError, match=f"{alone} has no file of the same name in .*{folder}"):
        build("MNIST-CDCB", tmp_path)


def test_mnist_cdcb_half_preprocessed_names_missing_folder(tmp_path):
    write_preprocessed(tmp_path, "train", ["1.png"], [])
    with pytest.raises(UserError, match="trainY"):
        build("MNIST-CDCB", tmp_path)


def test_missing_root_split_and_empty_folder_are_named(tmp_path):
    with pytest.raises(UserError, match="path_to_data.*nowhere"):
        build("MNIST-CDCB", tmp_path / "nowhere")
    with pytest.raises(UserError, match=f"train/.*{tmp_path}"):
        build("MNIST-CDCB", tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match=f"no images.*{tmp_path / 'train'}"):
        build("MNIST-CDCB", tmp_path)


def test_undecodable_image_is_named(tmp_path):
    root = write_raw_mnist_cdcb(tmp_path, n_train=2, n_test=1)
    bad = os.path.join(root, "train", "00002.png")
    with open(bad, "wb") as f:
        f.write(b"not a png")
    dataset = build("MNIST-CDCB", root)
    check_item(dataset, 0)
    with pytest.raises(UserError, match=f"cannot decode image {bad}"):
        dataset[1]
    with pytest.raises(UserError, match=bad):
        dataset.scan()


# Cars

def test_cars_pairs_by_name_and_explains_missing_folder(tmp_path):
    with pytest.raises(UserError, match="trainX not found.*preprocess_cars"):
        build("Cars", tmp_path)
    names = [f"car_001_e0_a{a:02d}.png" for a in (1, 2)] + ["car_002_e0_a01.png"]
    for domain, green in (("X", 0), ("Y", 1)):
        for i, name in enumerate(names):
            write_solid(os.path.join(tmp_path, "testX" if domain == "X" else "testY", name), (i * 50, green, 0))
    dataset = build("Cars", tmp_path, "test")
    assert dataset.names == sorted(names)
    for index in range(len(dataset)):
        x, y, name = check_item(dataset, index)
        assert as_uint8(x)[0, 0, 0] == as_uint8(y)[0, 0, 0] == names.index(name) * 50
        assert (as_uint8(x)[0, 0, 1], as_uint8(y)[0, 0, 1]) == (0, 1)


# AFHQ

def write_afhq(base, counts):
    """counts: {(split, domain): n}; cat i is red i*10, dog j green j*10, to recognise partners."""
    for (split, domain), count in counts.items():
        for i in range(count):
            colour = (i * 10, 0, 0) if domain == "cat" else (0, i * 10, 0)
            write_solid(os.path.join(base, split, domain, f"flickr_{domain}_{i:06d}.jpg"), colour)


def test_afhq_unpaired_cat_to_dog(tmp_path):
    write_afhq(tmp_path / "afhq", {("train", "cat"): 4, ("train", "dog"): 3, ("val", "cat"): 2, ("val", "dog"): 2})
    for root in (tmp_path, tmp_path / "afhq"):  # the folder holding afhq/ works too
        train = build("AFHQ", root, "train", train=True)
        assert len(train) == 4 and not train.traits.true_pairs and train.augment and train.random_partner
    assert all(n.startswith("flickr_cat") for n in train.names)
    partners = set()
    for index in range(len(train)):
        x, y, _ = check_item(train, index)
        assert as_uint8(x)[..., 1].max() <= 8  # a cat (red), give or take JPEG
        assert as_uint8(y)[..., 0].max() <= 8  # a dog (green)
        partners.add(round(float(as_uint8(y)[..., 1].mean()) / 10))
    assert partners <= {0, 1, 2}
    test = build("AFHQ", tmp_path, "test", train=False)  # AFHQ's val/
    assert len(test) == 2 and not test.augment and not test.random_partner
    assert [round(float(as_uint8(test[i][1])[..., 1].mean()) / 10) for i in range(2)] == [0, 1]


def test_afhq_missing_domain_folder_is_named(tmp_path):
    write_afhq(tmp_path, {("train", "cat"): 1})
    with pytest.raises(UserError, match=os.path.join("train", "dog")):
        build("AFHQ", tmp_path)


# paired (pix2pix style)

def write_ab(folder, count):
    """A|B images: A half red i*30, B half blue i*30."""
    os.makedirs(folder)
    for i in range(count):
        a, b = np.zeros((2, RES, RES, 3), np.uint8)
        a[..., 0], b[..., 2] = i * 30, i * 30
        Image.fromarray(np.concatenate([a, b], 1)).save(os.path.join(folder, f"{i}.png"))


@pytest.mark.parametrize("x_half, x_channel", [("left", 0), ("right", 2)])
def test_paired_x_half_and_val_fallback(tmp_path, x_half, x_channel):
    write_ab(tmp_path / "train", 3)
    write_ab(tmp_path / "val", 2)
    assert len(build("paired", tmp_path, "test", x_half=x_half)) == 2
    dataset = build("paired", tmp_path, x_half=x_half)
    x, y, name = check_item(dataset, 2)
    assert as_uint8(x)[0, 0, x_channel] == 60 and as_uint8(y)[0, 0, 2 - x_channel] == 60


def test_paired_without_test_or_val_names_root(tmp_path):
    write_ab(tmp_path / "train", 1)
    with pytest.raises(UserError, match=f"no test/ or val/ folder in {tmp_path}"):
        build("paired", tmp_path, "test")


# What a dataset declares decides the measures

def test_measures_follow_what_a_new_dataset_declares(tmp_path, monkeypatch):
    """A dataset registered with true pairs and a known answer gets every measure, one without a known answer
    the true-pair ones, one of random partners retrieval alone, with nothing in metrics/ naming them."""
    from dataloader import registry
    from dataloader.base import DIGIT_ON_COLOUR
    from dataloader.datasets import mnist_cdcb
    from metrics.evaluation import Subject
    from metrics.measures import MEASURES
    registry.dataset_names()
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    write_raw_mnist_cdcb(tmp_path, n_train=2, n_test=2, size=RES)
    declared = {"digits-again": {"known_answer": DIGIT_ON_COLOUR}, "true-pairs": {},
                "random-partners": {"true_pairs": False}}
    for name, traits in declared.items():
        registry.register(name, what="", get="", **traits)(mnist_cdcb.build)
    applying = {name: {m.name for m in MEASURES if m.applies(Subject.of(build(name, tmp_path, "test")))}
                for name in declared}
    assert applying == {"digits-again": {"retrieval", "translation", "style", "content", "paired"},
                        "true-pairs": {"retrieval", "paired"}, "random-partners": {"retrieval"}}
    assert "digits-again" in registry.markdown_table()


def test_the_readme_lists_every_dataset_as_registered():
    from dataloader.registry import markdown_table
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"),
                  encoding="utf-8").read()
    assert markdown_table() in readme, "regenerate the README's table of datasets with: python -m dataloader.registry"


def test_a_known_answer_must_be_one_the_measures_know():
    from dataloader.base import Traits
    with pytest.raises(ValueError, match="not one of"):
        Traits(True, "hand-drawn")


# MNIST-CDCB-demo and its generator

@pytest.fixture
def small_demo(monkeypatch):
    """One digit per class and split: 10 train and 10 test pairs."""
    monkeypatch.setattr(demo, "SPLIT_PER_CLASS", {"train": 1, "test": 1})


def test_demo_generates_missing_root_once(tmp_path, small_demo, capsys):
    root = tmp_path / "demo_data"
    dataset = build("MNIST-CDCB-demo", root)
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"MNIST-CDCB-demo: no data in {root}, generated 20 pairs") and line.endswith(" s")
    assert len(dataset) == 10 and len(build("MNIST-CDCB-demo", root, "test")) == 10
    assert capsys.readouterr().out == ""  # the second build reads what is there
    x, y, _ = check_item(dataset, 0)
    assert (x == 1).all(0).any() and (y == -1).all(0).float().mean() > 0.5
    assert sorted(os.listdir(tmp_path)) == ["demo_data"]  # no temporary folder left beside it


def test_demo_fills_empty_root_and_refuses_unrelated_folder(tmp_path, small_demo):
    (tmp_path / "empty").mkdir()
    assert len(build("MNIST-CDCB-demo", tmp_path / "empty")) == 10
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="neither empty nor MNIST-CDCB data"):
        build("MNIST-CDCB-demo", tmp_path / "other")


def test_interrupted_demo_generation_leaves_nothing(tmp_path, small_demo, monkeypatch):
    real_generate = make_mnist_cdcb.generate

    def interrupted(digits, out_dir, split_sizes, seed):
        real_generate(digits[:3], out_dir, {"train": 3}, seed)  # some files written, then a Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(make_mnist_cdcb, "generate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build("MNIST-CDCB-demo", tmp_path / "demo_data")
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(make_mnist_cdcb, "generate", real_generate)
    assert len(build("MNIST-CDCB-demo", tmp_path / "demo_data")) == 10


def test_generate_format_and_reproducibility(tmp_path, monkeypatch):
    digits, sizes = make_mnist_cdcb.committed_digits({"train": 1, "test": 0})
    assert digits.shape == (10, 28, 28) and sizes == {"train": 10, "test": 0}
    split_sizes = {"train": 4, "test": 2}
    make_mnist_cdcb.generate(digits, tmp_path / "a", split_sizes, seed=3)
    # Several worker processes must give the same files as one.
    monkeypatch.setattr(make_mnist_cdcb, "CHUNK", 2)
    monkeypatch.setattr(make_mnist_cdcb, "_worker_count", lambda pairs: 2)
    make_mnist_cdcb.generate(digits, tmp_path / "b", split_sizes, seed=3)
    for split, count in split_sizes.items():
        names = sorted(os.listdir(tmp_path / "a" / split))
        assert names == [f"{i:05d}.png" for i in range(1, count + 1)] == sorted(os.listdir(tmp_path / "b" / split))
        for name in names:
            assert (tmp_path / "a" / split / name).read_bytes() == (tmp_path / "b" / split / name).read_bytes()
    pair = np.asarray(Image.open(tmp_path / "a" / "train" / "00001.png"))
    assert pair.shape == (256, 512, 3)
    x, y = pair[:, :256].astype(int), pair[:, 256:].astype(int)
    background = x[0, 0]
    assert (x[:10] == background).all() and (y[:10] == 0).all()  # away from the digit: a uniform background, black
    core = (x == 255).all(-1)  # the digit's core is white in X ...
    colours, counts = np.unique(y[core], axis=0, return_counts=True)
    foreground = colours[counts.argmax()]  # ... and mostly one other colour in Y
    assert core.sum() > 100 and counts.max() > 0.8 * core.sum() and (foreground != background).any()


def test_committed_digits_file():
    with np.load(make_mnist_cdcb.COMMITTED_DIGITS) as data:
        assert data["images"].shape == (5000, 28, 28) and data["images"].dtype == np.uint8
        assert np.bincount(data["labels"]).tolist() == [500] * 10
    digits, sizes = make_mnist_cdcb.committed_digits()
    assert sizes == {"train": 4500, "test": 500} and len(digits) == 5000


def test_torchvision_download_failure_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(UserError, match="could not download MNIST.*--source committed"):
        make_mnist_cdcb.torchvision_digits(str(tmp_path))


# Image modes: what the training reader and translate.py decode, by one function

def _ramp(size=RES):
    """size x 2*size uint8 grey values covering 0..255: a ramp | its reverse (X | Y of a side-by-side file)."""
    ramp = (np.arange(size * size) * 256 // (size * size)).astype(np.uint8).reshape(size, size)
    return np.concatenate([ramp, ramp[::-1, ::-1]], axis=1)


def test_a_16_bit_ramp_trains_on_the_values_of_its_8_bit_version(tmp_path):
    """convert("RGB") clips 16-bit grey at 255 (99.6 % of this ramp became white); the reader scales it."""
    grey = _ramp()
    for name, pixels in (("8bit", grey), ("16bit", grey.astype(np.uint16) * 257)):
        folder = tmp_path / name / "train"
        folder.mkdir(parents=True)
        Image.fromarray(pixels).save(folder / "00001.png")
        (tmp_path / name / "test").mkdir()
        Image.fromarray(pixels).save(tmp_path / name / "test" / "00001.png")
    assert Image.open(tmp_path / "16bit" / "train" / "00001.png").mode == "I;16"
    eight, sixteen = build("MNIST-CDCB", tmp_path / "8bit"), build("MNIST-CDCB", tmp_path / "16bit")
    for a, b in zip(eight[0][:2], sixteen[0][:2]):
        assert torch.equal(a, b)
    x = as_uint8(sixteen[0][0])
    assert np.array_equal(x[..., 0], grey[:, :RES]) and (x == 255).mean() < 0.01
    from dataloader.cache import cached
    cache = cached(sixteen, "memory", str(tmp_path / "cache"), verbose=False)
    assert torch.equal(cache[0][0], eight[0][0])


def _mode_files(folder):
    """{file: the RGB pixels it must decode to} for the modes a data set or a user's folder may hold."""
    grey = _ramp()
    expected = {}
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")
    expected["grey16.png"] = np.repeat(grey[..., None], 3, axis=2)
    Image.fromarray(grey.astype(np.int32) * 257, "I").save(folder / "int32.tif")  # a 16-bit range in mode I
    expected["int32.tif"] = expected["grey16.png"]
    Image.fromarray(grey.astype(np.float32) / 255, "F").save(folder / "float.tif")  # floats in [0, 1]
    expected["float.tif"] = expected["grey16.png"]
    alpha = np.where(np.arange(2 * RES) < RES, 255, 0).astype(np.uint8)[None].repeat(RES, 0)
    Image.fromarray(np.stack([grey, alpha], axis=-1), "LA").save(folder / "la.png")
    expected["la.png"] = np.where(alpha[..., None] == 255, expected["grey16.png"], 255).astype(np.uint8)
    palette = Image.fromarray((grey // 128).astype(np.uint8), "P")  # index 0 (transparent) or 1 (blue)
    palette.putpalette([0, 0, 0, 0, 0, 255])
    palette.save(folder / "palette.png", transparency=0)
    expected["palette.png"] = np.where((grey // 128)[..., None] == 1, [0, 0, 255], 255).astype(np.uint8)
    return expected


def test_every_image_mode_decodes_to_its_own_colours_in_training_and_in_translate(tmp_path):
    from dataloader.base import ImageRef, load_uint8
    from inference.images import read_image
    for name, pixels in _mode_files(tmp_path).items():
        path = str(tmp_path / name)
        trained = load_uint8(ImageRef(path), RES * 2)  # the whole file, stretched to a square
        assert torch.equal(trained, read_image(path, RES * 2, "stretch")), name
        left = load_uint8(ImageRef(path, "left"), RES).permute(1, 2, 0).numpy()
        assert np.abs(left.astype(int) - pixels[:, :RES]).max() <= 1, name


def test_an_image_too_large_to_decode_safely_is_a_bad_file(tmp_path, monkeypatch):
    """PIL's DecompressionBombError (a 20000 x 9000 image by default; here the limit is lowered) is one
    line naming the file, and data.skip_bad_files skips it."""
    from dataloader.base import ImageRef, load_uint8
    root = write_raw_mnist_cdcb(tmp_path, n_train=4, n_test=2)
    huge = os.path.join(root, "train", "00002.png")
    Image.new("RGB", (8 * RES, 4 * RES)).save(huge)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3 * RES * RES)  # the others have 2 x RES^2 pixels
    dataset = build("MNIST-CDCB", root)
    with pytest.raises(UserError, match=f"cannot decode image {huge}: Image size .*data.skip_bad_files"):
        dataset.scan()
    with pytest.raises(UserError, match=f"cannot decode image {huge}"):
        load_uint8(ImageRef(huge, "left"), RES)
    with pytest.warns(UserWarning, match="skipped 1 unreadable image files; 3 items remain"):
        assert dataset.scan(skip_bad_files=True) == 1
    assert [dataset[i][2] for i in range(len(dataset))] == ["00001.png", "00003.png", "00004.png"]


def test_generated_mnist_cdcb_pixels_follow_the_real_pairs():
    """The generator draws what the committed real pairs show (their dev/ part): stroke width, placement
    and the ringing beside a stroke, which the previous generator missed (centre 0.517, no ringing)."""
    from bench.real_pixels import NAMES, generated_pairs, real_pairs, summary
    real = dict(zip(NAMES, summary(real_pairs(os.path.join("bench", "real_mnist_cdcb", "dev")))))
    generated = dict(zip(NAMES, summary(generated_pairs(30, seed=1))))
    for name, tolerance in (("X share a > 0.5", 0.01), ("Y share a > 0.5", 0.01), ("centre row", 0.005),
                            ("centre column", 0.005), ("ringing below background (0-255)", 10),
                            ("X channels' alpha disagreement", 0.02)):
        assert abs(real[name] - generated[name]) < tolerance, name
