"""translate.py, encode.py, export.py and `main.py --test RUN_DIR` on a tiny trained run and on images
of every kind the tests make themselves."""
import csv
import errno
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import encode
import export
import main
import translate
from inference.codes import encode as encode_codes, translations
from inference.images import read_image, read_images
from inference.model import load_model
from tests.conftest import ROOT, run_dirs
from tests.recording import one_thread, tiny_config  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

R = 32


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A run directory trained 2 iterations through main.py, with checkpoints 1 and 2."""
    root = tmp_path_factory.mktemp("translate")
    config = root / "config.json"
    config.write_text(json.dumps(tiny_config(tiny_data, root / "runs", training={"model_save_freq": 1})))
    assert main.main([str(config)]) == 0
    (run_dir,) = run_dirs(root / "runs")
    return run_dir


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Images of several sizes and modes: xs/ holds three sources, refs/ two references."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    colour = lambda h, w, c=3: rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)
    os.makedirs(root / "xs")
    os.makedirs(root / "refs")
    Image.fromarray(colour(40, 64)).save(root / "xs" / "wide.jpg")
    Image.fromarray(colour(50, 30, 1)).save(root / "xs" / "grey.png")
    Image.fromarray(colour(32, 32, 4)).save(root / "xs" / "rgba.png")
    Image.fromarray(colour(20, 20)).convert("P").save(root / "refs" / "palette.png")
    Image.fromarray(colour(100, 90)).save(root / "refs" / "big.png")
    return root


def pixels(path):
    return np.asarray(Image.open(path)).astype(int)


def fails(command, args, capsys, message):
    """command.main(args) exits non-zero with one `error:` line containing message."""
    code = command.main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and "\n" not in err, err
    assert message in err, err


# ---- translate.py --------------------------------------------------------------------------------
def test_one_image_one_reference_into_a_new_folder_each_call(run, images):
    args = [run, images / "xs" / "wide.jpg", "--to", "y", "--style", images / "refs" / "big.png"]
    assert translate.main([str(a) for a in args]) == 0
    out = os.path.join(run, "translations")
    assert sorted(os.listdir(out)) == ["grid.jpg", "wide__big.png"]
    image = Image.open(os.path.join(out, "wide__big.png"))
    assert image.size == (R, R) and image.mode == "RGB"
    assert Image.open(os.path.join(out, "grid.jpg")).size == (2 * (R + 2) + 2, 2 * (R + 2) + 2)
    # A second call keeps the first one's folder.
    assert translate.main([str(a) for a in args]) == 0
    assert sorted(os.listdir(os.path.join(run, "translations_2"))) == ["grid.jpg", "wide__big.png"]


def test_folder_of_three_sources_with_two_references(run, images, tmp_path):
    out = tmp_path / "out"
    assert translate.main([run, str(images / "xs"), "--to", "x", "--style", str(images / "refs"),
                           "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted(["grid.jpg"] + [f"{s}__{r}.png" for s in ("grey", "rgba", "wide")
                                                              for r in ("big", "palette")])
    # Sources down (one row each plus the references' row), styles across (plus the sources' column).
    assert Image.open(out / "grid.jpg").size == (3 * (R + 2) + 2, 4 * (R + 2) + 2)


def test_random_styles_are_reproducible_by_seed(run, images, tmp_path):
    source = str(images / "xs" / "grey.png")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert translate.main([run, source, "--to", "y", "--random", "2", "--seed", str(seed),
                               "--out", str(tmp_path / name)]) == 0
    assert sorted(os.listdir(tmp_path / "a")) == ["grey__rand1.png", "grey__rand2.png", "grid.jpg"]
    assert Image.open(tmp_path / "a" / "grid.jpg").size == (3 * (R + 2) + 2, R + 4)  # no references' row
    assert np.array_equal(pixels(tmp_path / "a" / "grey__rand1.png"), pixels(tmp_path / "b" / "grey__rand1.png"))
    assert not np.array_equal(pixels(tmp_path / "a" / "grey__rand1.png"), pixels(tmp_path / "c" / "grey__rand1.png"))
    # Neither --style nor --random: one random style.
    assert translate.main([run, source, "--to", "y", "--out", str(tmp_path / "d")]) == 0
    assert sorted(os.listdir(tmp_path / "d")) == ["grey__rand1.png", "grid.jpg"]


def test_interpolation_runs_from_the_first_reference_to_the_second(run, images, tmp_path):
    refs = [str(images / "refs" / "big.png"), str(images / "refs" / "palette.png")]
    source = str(images / "xs" / "wide.jpg")
    assert translate.main([run, source, "--to", "y", "--style", *refs, "--out", str(tmp_path / "ends")]) == 0
    assert translate.main([run, source, "--to", "y", "--style", *refs, "--interpolate", "4",
                           "--out", str(tmp_path / "line")]) == 0
    names = [f"wide__big_to_palette_{k}.png" for k in range(1, 5)]
    assert sorted(os.listdir(tmp_path / "line")) == ["grid.jpg"] + names
    first, last = pixels(tmp_path / "line" / names[0]), pixels(tmp_path / "line" / names[-1])
    assert np.abs(first - pixels(tmp_path / "ends" / "wide__big.png")).max() <= 1
    assert np.abs(last - pixels(tmp_path / "ends" / "wide__palette.png")).max() <= 1
    assert Image.open(tmp_path / "line" / "grid.jpg").size == (5 * (R + 2) + 2, 2 * (R + 2) + 2)


def test_a_single_image_translates_as_it_does_in_a_batch(run, images):
    loaded = load_model(run)
    sources = read_images([str(images / "xs" / n) for n in ("grey.png", "rgba.png", "wide.jpg")], R)
    style = encode_codes(loaded.model, read_images([str(images / "refs" / "big.png")], R), 1, "exclusive", 4)[0]
    assert not loaded.model.training

    def translated(batch):
        shared = encode_codes(loaded.model, batch, 0, "shared", len(batch))[0]
        return shared, torch.stack([image for _, _, image in translations(loaded.model, shared, style, 1, len(batch))])

    (shared_alone, alone), (shared_together, together) = translated(sources[1:2]), translated(sources)
    assert torch.allclose(shared_alone[0], shared_together[1], atol=1e-6)
    assert torch.allclose(alone[0], together[1], atol=1e-5)
    # The images differ, so equality is not that of a model that ignores its input.
    assert not torch.allclose(shared_together[0], shared_together[1], atol=1e-4)


def test_images_of_any_mode_and_size_become_rgb_at_the_resolution(tmp_path):
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[:, :10] = (255, 0, 0, 255)  # opaque red left half, transparent (black underneath) right half
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    grey16 = np.full((8, 8), 65535, np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / "grey.jpg")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255])
    palette.save(tmp_path / "palette.png", transparency=1)
    for fit in ("crop", "stretch", "pad"):
        image = read_image(str(tmp_path / "rgba.png"), 16, fit)
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8
    stretched = read_image(str(tmp_path / "rgba.png"), 16, "stretch")
    assert stretched[:, 8, 0].tolist() == [255, 0, 0] and stretched[:, 8, -1].tolist() == [255, 255, 255]
    # pad keeps the whole image and repeats its border rows; crop keeps the centre square.
    padded = read_image(str(tmp_path / "rgba.png"), 16, "pad")
    assert torch.equal(padded[:, 0], padded[:, 4]) and padded[:, 8, 0].tolist() == [255, 0, 0]
    cropped = read_image(str(tmp_path / "rgba.png"), 16, "crop")
    assert cropped[:, 8, 1].tolist() == [255, 0, 0] and cropped[:, 8, -2].tolist() == [255, 255, 255]
    assert read_image(str(tmp_path / "grey16.png"), 16).unique().tolist() == [255]
    assert read_image(str(tmp_path / "grey.jpg"), 16).shape == (3, 16, 16)
    red = read_image(str(tmp_path / "cmyk.jpg"), 16).float().mean(dim=(1, 2))
    assert red[0] > 200 and red[1:].max() < 50
    assert read_image(str(tmp_path / "palette.png"), 16).unique().tolist() == [255]  # transparent blue on white


# ---- errors: one line, non-zero exit, nothing written ----------------------------------------------
@pytest.fixture
def unchanged(run):
    """The run directory's entries before a failing call: no output folder, partial or not, may appear."""
    before = sorted(os.listdir(run))
    yield
    assert sorted(os.listdir(run)) == before


def test_unreadable_image(run, images, tmp_path, capsys, unchanged):
    bad = tmp_path / "xs"
    shutil.copytree(images / "xs", bad)
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    fails(translate, [run, bad, "--to", "y"], capsys, f"cannot read image {bad / 'broken.png'}")


def test_folder_without_images(run, tmp_path, capsys, unchanged):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures")
    fails(translate, [run, tmp_path / "empty", "--to", "y"], capsys, f"no images")
    fails(translate, [run, tmp_path / "nothing", "--to", "y"], capsys, f"SOURCE: no such file or folder: {tmp_path / 'nothing'}")


def test_sources_whose_outputs_would_share_a_name(run, images, tmp_path, capsys, unchanged):
    Image.open(images / "xs" / "grey.png").save(tmp_path / "grey.jpg")
    fails(translate, [run, images / "xs", tmp_path / "grey.jpg", "--to", "y"], capsys,
          f"SOURCE: {images / 'xs' / 'grey.png'} and {tmp_path / 'grey.jpg'} would both name their outputs 'grey'")


@pytest.mark.parametrize("change,message", [
    ({"resolution": 64}, "was saved at resolution 32 but"),
    ({"model": {"shared_dim": 16}}, "saved for another network shape"),
])
def test_checkpoint_of_another_network(run, images, tmp_path, capsys, change, message):
    other = tmp_path / "run"
    shutil.copytree(run, other)
    config = json.loads((other / "config.json").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (other / "config.json").write_text(json.dumps(config))
    fails(translate, [other, images / "xs", "--to", "y"], capsys, message)
    assert sorted(os.listdir(other)) == sorted(os.listdir(run))


@pytest.mark.parametrize("extra,message", [
    (["--style", "REFS", "XS/grey.png", "--interpolate", "3"], "--interpolate needs exactly two --style references, got 3"),
    (["--style", "REFS/big.png", "--interpolate", "3"], "--interpolate needs exactly two --style references, got 1"),
    (["--random", "2", "--interpolate", "3"], "--interpolate K needs --style"),
    (["--style", "REFS", "--random", "2"], "argument --random: not allowed with argument --style"),
    (["--style", "REFS", "--interpolate", "1"], "argument --interpolate: must be at least 2, got 1"),
    (["--random", "0"], "argument --random: must be at least 1, got 0"),
    (["--checkpoint", "7"], "checkpoint for iteration 7 not found"),
    (["--checkpoint", "last"], "argument --checkpoint: expected an iteration number or latest"),
    (["--device", "tpu"], "--device tpu: use auto, cpu, cuda or cuda:N"),
    (["--fit", "zoom"], "argument --fit: invalid choice: 'zoom'"),
])
def test_bad_options(run, images, capsys, unchanged, extra, message):
    extra = [a.replace("REFS", str(images / "refs")).replace("XS", str(images / "xs")) for a in extra]
    fails(translate, [run, images / "xs", "--to", "y", *extra], capsys, message)


def test_output_folder_must_be_new_and_a_file_model_takes_no_checkpoint(run, images, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "old.png").write_bytes(b"")
    fails(translate, [run, images / "xs", "--to", "y", "--out", tmp_path / "taken"], capsys,
          f"--out {tmp_path / 'taken'} already exists")
    fails(translate, [os.path.join(run, "models", "2-checkpoint.pt"), images / "xs", "--to", "y", "--checkpoint", "1",
                      "--out", tmp_path / "new"], capsys, "--checkpoint picks a checkpoint of a run directory")
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_an_interrupted_call_leaves_no_output_folder(run, images, tmp_path, monkeypatch):
    def crash(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(translate, "grid_image", crash)
    assert translate.main([run, str(images / "xs"), "--to", "y", "--out", str(tmp_path / "out")]) == 130
    assert os.listdir(tmp_path) == []


def test_the_command_line_prints_one_line(run, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "translate.py"), run, str(tmp_path / "broken.jpg"),
                             "--to", "x"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot read image {tmp_path / 'broken.jpg'}: ")
    assert result.stderr.count("\n") == 1


# ---- the weights file ----------------------------------------------------------------------------
def test_weights_file_translates_like_the_run(run, images, tmp_path, capsys):
    weights = tmp_path / "w.pt"
    assert export.main([run, "--checkpoint", "1", "--out", str(weights)]) == 0
    state = torch.load(weights, weights_only=True)
    assert state["iteration"] == 1 and state["resolution"] == R and state["model_config"]["shared_dim"] == 8
    assert "optimizers" not in state
    assert os.path.getsize(weights) < os.path.getsize(os.path.join(run, "models", "1-checkpoint.pt")) / 2
    common = [str(images / "xs"), "--to", "y", "--style", str(images / "refs")]
    assert translate.main([str(weights), *common, "--out", str(tmp_path / "w")]) == 0
    assert translate.main([run, "--checkpoint", "1", *common, "--out", str(tmp_path / "r")]) == 0
    for name in os.listdir(tmp_path / "r"):
        assert np.array_equal(pixels(tmp_path / "w" / name), pixels(tmp_path / "r" / name)), name
    # The default name sits beside the checkpoint; a checkpoint file is also a MODEL.
    assert export.main([os.path.join(run, "models", "2-checkpoint.pt")]) == 0
    assert os.path.isfile(os.path.join(run, "models", "2-weights.pt"))
    os.remove(os.path.join(run, "models", "2-weights.pt"))
    capsys.readouterr()
    fails(export, [weights, "--out", weights], capsys, "is the file being read")
    # A model meant to be evaluated with batch statistics says that one image at a time may be worse.
    state["model_config"]["eval_batchnorm"] = "batch"
    torch.save(state, tmp_path / "batch.pt")
    assert translate.main([str(tmp_path / "batch.pt"), *common, "--out", str(tmp_path / "b")]) == 0
    assert "warning: " in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"junk")
    fails(translate, [tmp_path / "junk.pt", images / "xs", "--to", "y"], capsys, "cannot load checkpoint")


# ---- encode.py -----------------------------------------------------------------------------------
def test_encode_writes_every_code_of_every_image(run, images, tmp_path):
    out = tmp_path / "new" / "codes.npz"  # its folder is created
    assert encode.main([run, str(images / "xs"), str(images / "refs" / "big.png"), "--domain", "x",
                        "--out", str(out)]) == 0
    codes = np.load(out)
    paths = [str(images / "xs" / n) for n in ("grey.png", "rgba.png", "wide.jpg")] + [str(images / "refs" / "big.png")]
    assert list(codes["names"]) == paths
    assert sorted(codes.files) == sorted(["names", "shared_x_mean", "shared_x_logvar", "exclusive_x_mean",
                                          "exclusive_x_logvar"])
    assert codes["shared_x_mean"].shape == (4, 8) and codes["exclusive_x_logvar"].shape == (4, 8)
    loaded = load_model(run)
    mean = encode_codes(loaded.model, read_images(paths[1:2], R), 0, "shared", 1)[0]
    assert np.allclose(codes["shared_x_mean"][1], mean[0].numpy(), atol=1e-5)


def test_search_ranks_the_other_domain_by_shared_code(run, images, tmp_path, capsys):
    gallery = tmp_path / "gallery.npz"
    assert encode.main([run, str(images / "refs"), str(images / "xs"), "--domain", "y", "--out", str(gallery)]) == 0
    query = str(images / "xs" / "wide.jpg")
    assert encode.main([run, query, "--domain", "x", "--search", str(images / "refs"), str(images / "xs"),
                        "--top-k", "3", "--out", str(tmp_path / "m.json")]) == 0
    assert encode.main([run, query, "--domain", "x", "--search", str(gallery), "--top-k", "3",
                        "--out", str(tmp_path / "m.csv")]) == 0
    (result,) = json.loads((tmp_path / "m.json").read_text())
    assert result["query"] == query and len(result["matches"]) == 3
    distances = [m["distance"] for m in result["matches"]]
    assert distances == sorted(distances)
    codes = np.load(gallery)
    queries = encode_codes(load_model(run).model, read_images([query], R), 0, "shared", 1)[0].double()
    expected = torch.cdist(queries, torch.from_numpy(codes["shared_y_mean"]).double())[0]
    assert [m["name"] for m in result["matches"]] == [codes["names"][i] for i in expected.argsort()[:3]]
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert [(r["query"], r["rank"], r["match"]) for r in rows] == [(query, str(k + 1), m["name"])
                                                                   for k, m in enumerate(result["matches"])]
    capsys.readouterr()
    fails(encode, [run, query, "--domain", "y", "--search", gallery, "--out", tmp_path / "x.json"], capsys,
          "holds no 'names' and 'shared_x_mean'")
    fails(encode, [run, query, "--domain", "x", "--search", gallery, "--out", tmp_path / "m.txt"], capsys,
          "matches are written as .json or .csv")
    fails(encode, [run, query, "--domain", "x", "--top-k", "2", "--out", tmp_path / "c.npz"], capsys,
          "--top-k applies to --search")


# ---- main.py --test RUN_DIR ----------------------------------------------------------------------
def test_main_tests_a_run_directory(run):
    assert main.main(["--test", run]) == 0
    assert json.load(open(os.path.join(run, "results", "retrieval.json")))["iteration"] == 2
    assert main.main(["--test", run, "--set", "test.test_iters=1"]) == 0
    assert json.load(open(os.path.join(run, "results_2", "retrieval.json")))["iteration"] == 1


# ---- crafted checkpoint and weights fields -----------------------------------------------------------
_CRAFTED = [
    ("iteration", "four", "'iteration' is \"four\", not an iteration number"),
    ("iteration", -3, "'iteration' is -3, not an iteration number"),
    ("config", "[1,2]", "'config' holds no JSON object"),
    ("config", "not json{", "'config' holds no JSON object"),
    ("config", "[" * 100000, "'config' holds no JSON object"),
    ("model", "weights", "'model' is not a set of named tensors"),
    ("model", {"exclusive.0.head.weight": "x"}, "'model' is not a set of named tensors"),
]


# A weights file carries no config text: its model section is a dict, checked as a config.
@pytest.mark.parametrize("kind,field,value,message", [("checkpoint", *c) for c in _CRAFTED] +
                         [("weights", *c) for c in _CRAFTED if c[0] != "config"])
def test_crafted_fields_are_one_line(run, images, tmp_path, capsys, kind, field, value, message):
    source = os.path.join(run, "models", "1-checkpoint.pt")
    if kind == "weights":
        assert export.main([run, "--checkpoint", "1", "--out", str(tmp_path / "w.pt")]) == 0
        source = tmp_path / "w.pt"
    state = torch.load(source, weights_only=True)
    state[field] = value
    crafted = tmp_path / f"crafted-{kind}.pt"
    torch.save(state, crafted)
    for command, args in ((translate, [crafted, images / "xs", "--to", "y", "--out", tmp_path / "out"]),
                          (export, [crafted, "--out", tmp_path / "again.pt"]),
                          (encode, [crafted, images / "xs", "--domain", "x", "--out", tmp_path / "c.npz"])):
        fails(command, args, capsys, f"{crafted}: {message}")
    assert sorted(os.listdir(tmp_path)) == sorted([crafted.name] + (["w.pt"] if kind == "weights" else []))


def test_a_crafted_checkpoint_in_a_run_is_one_line_for_every_command(run, tmp_path, capsys):
    other = tmp_path / "run"
    shutil.copytree(run, other)
    path = other / "models" / "2-checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["iteration"] = "four"
    torch.save(state, path)
    fails(export, [other, "--out", tmp_path / "w.pt"], capsys, f"{path}: 'iteration' is \"four\"")
    assert main.main(["--test", str(other)]) == 2
    assert f"{path}: 'iteration' is \"four\"" in capsys.readouterr().err
    assert main.main(["--resume", str(other), "--set", "training.max_iters=3"]) == 2
    assert f"{path}: 'iteration' is \"four\"" in capsys.readouterr().err


# ---- signals and write errors ------------------------------------------------------------------------
class _Unhandled(Exception):
    pass


@pytest.fixture
def sigterm_guard():
    """SIGTERM raises _Unhandled unless the command under test installs its own handler (the default
    action would kill the test process)."""
    import signal

    def unhandled(signum, frame):
        raise _Unhandled("the command left SIGTERM to its default action")
    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_stops_translate_like_ctrl_c_and_leaves_no_staging_folder(run, images, tmp_path, capsys,
                                                                          monkeypatch, sigterm_guard):
    import signal
    real_save, saved = translate.save_image, []

    def save_then_terminated(grid, path):
        real_save(grid, path)
        saved.append(path)
        if len(saved) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(translate, "save_image", save_then_terminated)
    code = translate.main([run, str(images / "xs"), "--to", "y", "--random", "3", "--out", str(tmp_path / "out")])
    assert code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "error: interrupted by SIGTERM\n"
    assert len(saved) == 2 and os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM).__name__ == "unhandled"  # put back


def test_a_later_call_removes_what_a_killed_one_left(run, images, tmp_path, capsys):
    """A SIGKILL leaves the hidden staging folder (or an output file's temporary); the next call writing
    the same output removes those whose writer is gone, and keeps a running one's."""
    from tests.test_files import _dead_pid
    other = tmp_path / "run"
    shutil.copytree(run, other)
    from utils.rundir import fresh_name
    out = os.path.basename(fresh_name(str(other), "translations"))  # where both calls write
    dead, live = f".{out}.tmp-{_dead_pid()}-0123abcd", f".{out}.tmp-{os.getpid()}-0123abcd"
    for name in (dead, live):
        (other / name).mkdir()
        (other / name / "wide__rand1.png").write_bytes(b"partial")
    assert translate.main([str(other), str(images / "xs"), "--to", "y"]) == 0
    assert "removed 1 partial output(s) a killed run left" in capsys.readouterr().out
    assert not (other / dead).exists() and (other / live).exists() and (other / out / "grid.jpg").exists()
    stale = tmp_path / f".c.npz.tmp-{_dead_pid()}-0123abcd"
    stale.write_bytes(b"partial")
    assert encode.main([run, str(images / "xs"), "--domain", "x", "--out", str(tmp_path / "c.npz")]) == 0
    assert not stale.exists()


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_and_leaves_nothing(run, images, tmp_path, capsys, monkeypatch):
    common = [str(images / "xs"), "--to", "y"]
    with monkeypatch.context() as patch:
        patch.setattr(Image.Image, "save", lambda image, fp, *a, **k: (open(fp, "wb").write(b"part"), _disk_full()))
        fails(translate, [run, *common, "--out", tmp_path / "out"], capsys,
              f"cannot write {tmp_path / 'out'}: No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(np, "savez", lambda f, **arrays: (f.write(b"part"), _disk_full()))
        fails(encode, [run, str(images / "xs"), "--domain", "x", "--out", tmp_path / "c.npz"], capsys,
              f"cannot write {tmp_path / 'c.npz'}: No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", lambda obj, f: (f.write(b"part"), _disk_full()))
        fails(export, [run, "--out", tmp_path / "w.pt"], capsys, f"cannot write {tmp_path / 'w.pt'}: No space left on device")
    assert os.listdir(tmp_path) == []


def test_a_read_only_file_system_is_one_line(run, images, tmp_path, capsys, monkeypatch):
    """Making the temporary fails, and so does removing it (EROFS): the line names the first failure."""
    from utils import files
    real_mkdir, real_remove = os.mkdir, os.remove

    def read_only(real):
        def call(path, *args, **kwargs):
            if str(path).startswith(str(tmp_path / "ro")):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real(path, *args, **kwargs)
        return call
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(files.os, "mkdir", read_only(real_mkdir))
    monkeypatch.setattr(files.os, "remove", read_only(real_remove))
    fails(translate, [run, images / "xs", "--to", "y", "--out", tmp_path / "ro" / "out"], capsys,
          f"cannot write {tmp_path / 'ro' / 'out'}: Read-only file system")


def test_out_under_a_file_or_naming_a_folder_is_one_line(run, images, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir.npz").mkdir()
    (tmp_path / "adir.pt").mkdir()
    (tmp_path / "adir.pt" / "mine").write_text("mine")
    under = tmp_path / "afile"
    fails(translate, [run, images / "xs", "--to", "y", "--out", under / "out"], capsys,
          f"cannot write {under / 'out'}: {under} is a file, not a folder")
    fails(encode, [run, images / "xs", "--domain", "x", "--out", under / "c.npz"], capsys,
          f"cannot write {under / 'c.npz'}: {under} is a file, not a folder")
    fails(export, [run, "--out", under / "deeper" / "w.pt"], capsys,
          f"cannot write {under / 'deeper' / 'w.pt'}: {under} is a file, not a folder")
    fails(encode, [run, images / "xs", "--domain", "x", "--out", tmp_path / "adir.npz"], capsys,
          f"cannot write {tmp_path / 'adir.npz'}: it is a folder; name a file")
    fails(export, [run, "--out", tmp_path / "adir.pt"], capsys, f"cannot write {tmp_path / 'adir.pt'}: it is a folder")
    assert (under.read_text(), os.listdir(tmp_path / "adir.pt")) == ("mine", ["mine"])
    assert sorted(os.listdir(tmp_path)) == ["adir.npz", "adir.pt", "afile"]


# ---- galleries, names and numbers from elsewhere ---------------------------------------------------------
def _gallery(path, names, means, **extra):
    np.savez(path, names=np.array(names), shared_y_mean=means, **extra)
    return path


@pytest.mark.parametrize("kind,message", [
    ("fewer names", "--search GALLERY: 2 names for 3 codes"),
    ("more names", "--search GALLERY: 4 names for 3 codes"),
    ("string means", "--search GALLERY: its 'shared_y_mean' are not numbers"),
    ("numeric names", "--search GALLERY: its 'names' are not file names"),
    ("no codes", "--search GALLERY: it holds no codes"),
    ("nan codes", "--search GALLERY: it holds codes that are not finite"),
    ("npy renamed", "--search GALLERY: not a codes .npz of encode.py or test mode (one array: an .npy file?)"),
])
def test_a_gallery_that_does_not_hold_what_it_should_is_one_line(run, images, tmp_path, capsys, kind, message):
    gallery = tmp_path / "gallery.npz"
    means = np.zeros((3, 8), np.float32)
    if kind == "fewer names":
        _gallery(gallery, ["a", "b"], means)
    elif kind == "more names":
        _gallery(gallery, ["a", "b", "c", "d"], means)
    elif kind == "string means":
        _gallery(gallery, ["a", "b", "c"], np.full((3, 8), "x"))
    elif kind == "numeric names":
        _gallery(gallery, [1, 2, 3], means)
    elif kind == "no codes":
        _gallery(gallery, np.array([], str), np.zeros((0, 8), np.float32))
    elif kind == "nan codes":
        _gallery(gallery, ["a", "b", "c"], np.full((3, 8), np.nan, np.float32))
    else:
        np.save(tmp_path / "codes.npy", means)
        os.rename(tmp_path / "codes.npy", gallery)
    fails(encode, [run, images / "xs" / "wide.jpg", "--domain", "x", "--search", gallery, "--out", tmp_path / "m.json"],
          capsys, message.replace("GALLERY", str(gallery)))
    assert not (tmp_path / "m.json").exists()


def test_file_names_that_are_not_utf8_are_written_as_they_are(run, images, tmp_path):
    """A name of raw bytes (os.fsdecode gives it surrogates) cannot be encoded as UTF-8: the CSV gets the
    file system's own bytes back, JSON its escapes."""
    folder = tmp_path / "gallery"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1, as an old camera or archive wrote it
    shutil.copy(images / "refs" / "big.png", os.path.join(folder, name))
    query = str(images / "xs" / "wide.jpg")
    for out in ("m.csv", "m.json", "c.npz"):
        args = [run, query, "--domain", "x", "--search", str(folder), "--out", str(tmp_path / out)]
        if out == "c.npz":
            args = [run, str(folder), "--domain", "y", "--out", str(tmp_path / out)]
        assert encode.main(args) == 0, out
    assert os.fsencode(os.path.join(folder, name)) in (tmp_path / "m.csv").read_bytes()
    assert json.loads((tmp_path / "m.json").read_text())[0]["matches"][0]["name"] == os.path.join(folder, name)
    assert list(np.load(tmp_path / "c.npz")["names"]) == [os.path.join(folder, name)]


@pytest.mark.parametrize("seed,message", [
    ("99999999999999999999999", "argument --seed: must be in [0, 2^64), got 99999999999999999999999"),
    ("-1", "argument --seed: must be in [0, 2^64), got -1"),
    ("x", "argument --seed: expected an integer, got 'x'"),
])
def test_a_seed_out_of_range_is_one_line(run, images, tmp_path, capsys, seed, message):
    fails(translate, [run, images / "xs", "--to", "y", "--random", "2", "--seed", seed, "--out", tmp_path / "o"],
          capsys, message)
    assert translate.main([run, str(images / "xs" / "wide.jpg"), "--to", "y", "--seed", str(2 ** 64 - 1),
                           "--out", str(tmp_path / "top")]) == 0
