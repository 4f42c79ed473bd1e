"""Issue 27: run-directory files behind symlinks, outputs that would replace a run's files, resume
changes of the learning rate, non-finite weights, write errors torch disguises, and more bad input."""
import os

import pytest
import torch

import main
from tests.conftest import run_dirs
from tests.fakedata import make_mnist_cdcb

NARROW = {"encoder_channels": [8, 8, 8, 8], "decoder_channels": [16, 8, 8, 8], "shared_dim": 8, "shared_hidden": 16}


@pytest.fixture
def trained_run(write_config, tmp_path):
    """A run of one iteration with the narrow network, and its config."""
    config = write_config(model=NARROW, training={"max_iters": 1, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    return run


def _last_error(capsys):
    err = capsys.readouterr().err.strip()
    return err.splitlines()[-1] if err else ""


@pytest.mark.parametrize("name", [".training.lock", "log.txt"])
def test_a_run_file_that_is_a_symlink_is_refused_and_its_target_untouched(trained_run, tmp_path, capsys, name):
    notes = tmp_path / "notes"
    notes.write_text("my notes\n")
    link = os.path.join(trained_run, name)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(notes, link)
    capsys.readouterr()
    assert main.main(["--resume", trained_run, "--set", "training.max_iters=2"]) == 2
    assert _last_error(capsys) == (f"error: {link} is a symbolic link; files in a run directory are never "
                                   "written through one: remove it")
    assert notes.read_text() == "my notes\n"
    assert os.path.islink(link)


def test_out_never_replaces_or_poses_as_a_run_s_checkpoint_config_or_results(write_config, tiny_data, tmp_path,
                                                                              capsys):
    import encode
    import export
    config = write_config(model=NARROW, training={"max_iters": 2, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    models = os.path.join(run, "models")
    features = os.path.join(run, "results", "features.npz")
    with open(features, "wb") as f:
        f.write(b"test mode's codes")
    image = os.path.join(tiny_data, "train", sorted(os.listdir(os.path.join(tiny_data, "train")))[0])
    before = {name: open(os.path.join(models, name), "rb").read() for name in os.listdir(models)}
    capsys.readouterr()
    for out in (os.path.join(models, "1-checkpoint.pt"), os.path.join(run, "config.json")):
        assert export.main([run, "--checkpoint", "2", "--out", out]) == 2
        assert _last_error(capsys) == (f"error: --out {out} is a file of the run {run}; an output never replaces "
                                       "a run's checkpoints, configs or results: name a new file")
    assert encode.main([run, image, "--domain", "x", "--out", features]) == 2
    assert _last_error(capsys).startswith(f"error: --out {features} is a file of the run {run}; ")
    new = os.path.join(models, "5-checkpoint.pt")  # resume would take it for the run's newest checkpoint
    assert export.main([run, "--checkpoint", "2", "--out", new]) == 2
    assert _last_error(capsys) == (f"error: --out {new} is named like a checkpoint of the run {run}, which "
                                   "resume would take for one: name another file")
    assert {name: open(os.path.join(models, name), "rb").read() for name in os.listdir(models)} == before
    assert open(features, "rb").read() == b"test mode's codes"
    # What the command itself writes there is written again: export's weights file beside the checkpoint.
    assert export.main([run, "--checkpoint", "2"]) == 0
    assert export.main([run, "--checkpoint", "2"]) == 0


def test_resume_applies_a_new_lr_and_schedule_to_the_restored_optimizers(write_config, tmp_path, capsys):
    config = write_config(model=NARROW, training={"max_iters": 2, "model_save_freq": 2, "milestones": [1],
                                                  "scheduler_gamma": 0.5})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    capsys.readouterr()
    assert main.main(["--resume", run, "--set", "training.max_iters=3", "--set", "training.lr=0.01",
                      "--set", "training.milestones=[1,3]", "--set", "training.scheduler_gamma=0.1"]) == 0
    assert ("resume: the restored optimizers and schedulers take the new training.lr, training.milestones, "
            "training.scheduler_gamma instead of the checkpoint's (learning rate 0.001 from iteration 3)"
            in capsys.readouterr().out)
    state = torch.load(os.path.join(run, "models", "3-checkpoint.pt"), weights_only=True)
    for name, optimizer in state["optimizers"].items():
        (group,) = optimizer["param_groups"]
        assert group["initial_lr"] == 0.01, name
        assert group["lr"] == pytest.approx(0.01 * 0.1 * 0.1), name  # both milestones passed after step 3
        assert state["schedulers"][name]["gamma"] == 0.1
        assert dict(state["schedulers"][name]["milestones"]) == {1: 1, 3: 1}


def test_non_finite_weights_are_never_checkpointed(write_config, tmp_path, capsys):
    config = write_config(model=NARROW)
    # The gamma of 1e300 is now refused by the schema; two milestones of 1e38 overflow float32 alike.
    assert main.main([config, "--set", "training.scheduler_gamma=1e38", "--set", "training.milestones=[1,1]",
                      "--set", "training.max_iters=2"]) == 3
    err = _last_error(capsys)
    assert err.startswith("error: non-finite network weights after iteration 2 (") and err.endswith(
        "); stopped without saving (lower training.lr or scheduler_gamma, or try precision fp32)")
    (run,) = run_dirs(tmp_path / "runs")
    assert os.listdir(os.path.join(run, "models")) == []


def _file_size_limit(limit):
    """In the child: no file may grow past `limit` bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write
    fails with EFBIG), as when a disk fills up."""
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_a_checkpoint_write_that_fails_is_named_as_the_write_error_it_is(tmp_path):
    """torch.save reports a short write of a tensor larger than a file buffer as 'RuntimeError: enforce
    fail at inline_container.cc'; the error the file system gave is what a user must see."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    code = ("import sys, torch\nfrom utils.checkpoint import save_checkpoint\ntry:\n"
            "    save_checkpoint(sys.argv[1], 1, {'model': {'w': torch.zeros(100000)}})\n"
            "except OSError as e:\n    print(f'OSError {e.strerror}')")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, preexec_fn=lambda: _file_size_limit(64 * 1024))
    assert result.stdout == "OSError File too large\n", result.stderr
    assert os.listdir(tmp_path) == []  # no temporary left


@pytest.mark.parametrize("section, value, shown", [("training", None, "null"), ("model", 5, "5"),
                                                   ("data", [1], "[1]")])
def test_set_into_a_section_the_file_makes_a_non_object_is_one_line(write_config, capsys, section, value, shown):
    key = {"training": "training.max_iters=2", "model": "model.kl_scaling=none", "data": "data.cache=none"}[section]
    assert main.main([write_config(**{section: value}), "--set", key]) == 2
    assert _last_error(capsys) == (f"error: --set '{key.split('=')[0]}': the config's '{section}' is {shown}, "
                                   "not an object of keys")


def test_set_on_the_reference_port_s_model_string_still_works(write_config):
    from utils.config import load_config
    cfg = load_config(write_config(model="IIAE"), ["model.kl_scaling=none"])
    assert cfg.model.name == "IIAE" and cfg.model.kl_scaling == "none" and "kl_scaling" not in cfg.model.defaulted


@pytest.mark.parametrize("option", [["--random", "1000000000"],
                                    ["--style", "a.png", "b.png", "--interpolate", "1000000000"]])
def test_translate_bounds_the_number_of_styles(tmp_path, capsys, option):
    import translate
    assert translate.main([str(tmp_path / "run"), "x.png", "--to", "y", *option]) == 2
    assert _last_error(capsys) == (f"error: argument {option[-2]}: must be at most {translate.MAX_STYLES}, "
                                   "got 1000000000")


def _prepare(module, *argv):
    from utils.errors import run_command
    return run_command(module.main, list(map(str, argv)))


@pytest.mark.parametrize("name", ["make_shapes", "make_mnist_cdcb"])
def test_a_negative_seed_of_a_data_maker_is_one_line(tmp_path, capsys, name):
    import importlib
    module = importlib.import_module(f"dataloader.{name}")
    assert _prepare(module, "--root", tmp_path / "d", "--seed", "-1") == 2
    assert _last_error(capsys) == "error: argument --seed: must be in [0, 2^64), got -1"
    assert not os.path.exists(tmp_path / "d")


def test_data_preparation_under_a_file_is_one_line(tmp_path, capsys):
    from dataloader import make_mnist_cdcb, make_shapes, preprocess_mnist
    from tests.fakedata import make_mnist_cdcb as fake
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for module, extra in ((make_shapes, ["--side", "8", "--train", "1", "--val", "0", "--test", "1"]),
                          (make_mnist_cdcb, [])):
        assert _prepare(module, "--root", blocker / "data", *extra) == 2
        assert _last_error(capsys) == f"error: cannot write {blocker / 'data'}: {blocker} is a file, not a folder"
    data = fake(tmp_path / "raw", n_train=2, n_test=1, size=32)
    (tmp_path / "raw" / "trainX").write_text("in the way")
    assert _prepare(preprocess_mnist, "--data", data) == 2
    assert _last_error(capsys) == f"error: cannot write {os.path.join(data, 'trainX')}: File exists"


@pytest.mark.parametrize("content", ["garbage", "pickle", "object array"])
def test_a_gallery_that_is_not_encode_s_codes_says_so_without_numpy_s_advice(tmp_path, content):
    import pickle

    import numpy as np

    from encode import codes_file
    from utils.errors import UserError
    path = tmp_path / "gallery.npz"
    if content == "garbage":
        path.write_bytes(b"\x93NUMPY garbage" * 10)
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"names": ["a"]}))
    else:
        np.savez(path, names=np.array([object()], dtype=object), shared_x_mean=np.zeros((1, 8)))
    with pytest.raises(UserError) as caught:
        codes_file(str(path), 0, 8)
    assert str(caught.value) == (f"--search {path}: not a gallery written by encode.py or test mode (a codes "
                                 ".npz of plain arrays)")


@pytest.mark.parametrize("key, value", [("training.max_iters", 10 ** 400), ("model.leaky_slope", 1e300),
                                        ("model.logvar_clamp", 1e300), ("training.milestones", [2 ** 63]),
                                        ("training.lr", 1e39)])
def test_numbers_beyond_what_the_code_counts_or_float32_holds_are_refused(write_config, tmp_path, capsys,
                                                                          key, value):
    import json
    assert main.main([write_config(), "--set", f"{key}={json.dumps(value)}"]) == 2
    err = _last_error(capsys)
    assert err.startswith(f"error: config: '{key}' ") and "must be in" in err, err
    assert run_dirs(tmp_path / "runs") == []


def test_every_number_key_of_the_schema_is_bounded():
    from utils.config import _all_keys, _bound
    for path, spec in _all_keys():
        if spec.type in ("int", "int_list", "int_or_latest", "float") and not spec.choices:
            assert spec.range, path
            lo, hi = map(_bound, spec.range[1:-1].split(","))
            limit = 2 ** 64 if spec.type != "float" else 3.5e38
            assert -limit <= lo and hi <= limit, path


def test_a_fifo_among_the_data_is_named_by_the_scan_or_skipped_never_waited_on(tmp_path):
    import signal

    from dataloader.base import PairDataset, side_by_side
    from tests.fakedata import make_mnist_cdcb
    from utils.errors import UserError
    data = make_mnist_cdcb(tmp_path / "data", n_train=3, n_test=1, size=32)
    pipe = os.path.join(data, "train", "pipe.png")
    os.mkfifo(pipe)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the scan waits on the FIFO"))
    signal.alarm(20)
    try:
        with pytest.raises(UserError, match=f"cannot decode image {pipe}: not a regular file but a FIFO"):
            PairDataset(*side_by_side(os.path.join(data, "train"), "left"), resolution=32).scan()
        with pytest.warns(UserWarning, match="skipped 1 unreadable image files; 3 items remain"):
            PairDataset(*side_by_side(os.path.join(data, "train"), "left"), resolution=32).scan(skip_bad_files=True)
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("stop", ["user error", "SIGTERM"])
def test_test_mode_stopped_midway_leaves_no_half_filled_results_folder(trained_run, capsys, monkeypatch, stop):
    import tester
    from utils.errors import Terminated, UserError

    def stopped(*args, **kwargs):  # after the result grids, before the codes and the measures' reports
        raise UserError("stopped") if stop == "user error" else Terminated()

    monkeypatch.setattr(tester, "save_features", stopped)
    before = sorted(os.listdir(trained_run))
    assert main.main(["--test", trained_run]) == (2 if stop == "user error" else 143)
    assert sorted(os.listdir(trained_run)) == before
    assert os.listdir(os.path.join(trained_run, "results")) == []


@pytest.mark.parametrize("resume", [False, True], ids=["training", "resume"])
def test_a_full_disk_under_tensorboard_s_writer_thread_is_the_one_error_line(request, write_config, tmp_path, resume):
    """TensorBoard writes its event file from a thread of its own, which printed 'Exception in thread ...'
    with the OSError's traceback before the command's line."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    trained_run = request.getfixturevalue("trained_run") if resume else None
    # Sample grids every iteration: the event file outgrows the limit (200 KB) within a few iterations,
    # long before the first checkpoint (1.2 MB) is due.
    settings = ["--set", "training.max_iters=40", "--set", "training.sample_freq=1",
                "--set", "training.model_save_freq=40"]
    args = ["--resume", trained_run, *settings] if resume else [write_config(name="full.json", model=NARROW),
                                                                 *settings]
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], capture_output=True,
                            text=True, timeout=300, cwd=ROOT, preexec_fn=lambda: _file_size_limit(200 * 1000))
    assert result.returncode == 2, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("[")]  # not a progress line
    run = trained_run if resume else run_dirs(tmp_path / "runs")[-1]
    last = "iteration 1 (resume with: python main.py --resume " + trained_run + ")" if resume else "none"
    assert line == (f"error: cannot write TensorBoard log {os.path.join(run, 'logs')}: File too large; the last "
                    f"good checkpoint in {os.path.join(run, 'models')} is {last}")


@pytest.mark.parametrize("damage", ["truncated", "another shape", "another dtype", "not an array",
                                    "pickled objects"])
def test_a_damaged_or_foreign_disk_cache_file_is_rebuilt(tmp_path, capsys, damage):
    import numpy as np

    from dataloader import cache
    from tests.test_cache import assert_same_items, build, items
    root = make_mnist_cdcb(tmp_path / "data", n_train=6, n_test=2, size=32)
    folder = tmp_path / "cache"
    cache.cached(build("MNIST-CDCB", root, False), "disk", str(folder), verbose=False)
    path = str(folder / sorted(os.listdir(folder))[0])
    good = np.load(path)
    if damage == "truncated":
        os.truncate(path, os.path.getsize(path) // 2)
    elif damage == "another shape":
        np.save(path, good[:2])
    elif damage == "another dtype":
        np.save(path, good.astype(np.int16))
    elif damage == "not an array":
        with open(path, "wb") as f:
            f.write(b"not a cache")
    else:
        np.save(path, np.array([None], dtype=object), allow_pickle=True)
    capsys.readouterr()
    dataset = cache.cached(build("MNIST-CDCB", root, False), "disk", str(folder))
    assert capsys.readouterr().out.splitlines()[0] == (
        f"note: {path} is not a disk cache of these images (a uint8 array of {good.shape}); rebuilding it")
    assert_same_items(items(dataset), items(build("MNIST-CDCB", root, False)))
    assert np.array_equal(np.load(path), good)


def _cache_command(*lines):
    """python -c code that builds the disk cache of MNIST-CDCB argv[1] in argv[2] as a command does."""
    return "\n".join(["import os, signal, sys", *lines, "from dataloader.cache import cached",
                      "from tests.test_cache import build", "from utils.errors import run_command",
                      "sys.exit(run_command(lambda argv: cached(build('MNIST-CDCB', argv[0], False), 'disk', "
                      "argv[1], verbose=False), sys.argv[1:]))"])


def test_a_disk_cache_that_does_not_fit_is_one_line_and_leaves_no_file(tmp_path):
    import subprocess
    import sys
    from tests.conftest import ROOT
    root = make_mnist_cdcb(tmp_path / "data", n_train=6, n_test=2, size=32)  # 2 files of 18 KB
    folder = tmp_path / "cache"
    result = subprocess.run([sys.executable, "-c", _cache_command(), root, str(folder)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT, preexec_fn=lambda: _file_size_limit(8 * 1024))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot write the disk cache {folder}{os.sep}") and line.endswith(
        f".npy: File too large (the disk cache of these images needs 0.04 MiB in {folder}; free space there, "
        "or set data.cache to \"memory\" or \"none\")"), line
    assert os.listdir(folder) == []


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_disk_cache_build_is_the_one_line(tmp_path, name):
    """The signal comes as the main process receives an image from a decoding worker: mid-handshake
    where a worker hands over a tensor's shared memory (a worker's thread printed a ConnectionResetError
    traceback for the dropped connection), else at the third image."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    root = make_mnist_cdcb(tmp_path / "data", n_train=16, n_test=2, size=32)
    folder = tmp_path / "cache"
    code = _cache_command(
        "import multiprocessing.connection as connection, multiprocessing.reduction as reduction",
        "main, received = os.getpid(), []",
        f"def stop(): os.getpid() == main and os.kill(main, signal.{name})",
        "handshake, loads = connection.answer_challenge, reduction.ForkingPickler.loads",
        "def answer(*args): stop(); return handshake(*args)",
        "def receive(*args, **kwargs):",
        "    received.append(1)",
        "    if len(received) == 3: stop()",
        "    return loads(*args, **kwargs)",
        "connection.answer_challenge, reduction.ForkingPickler.loads = answer, receive")
    result = subprocess.run([sys.executable, "-c", code, root, str(folder)], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    interrupted = {"SIGINT": ("error: interrupted", 130), "SIGTERM": ("error: interrupted by SIGTERM", 143)}
    assert (result.stderr, result.returncode) == (interrupted[name][0] + "\n", interrupted[name][1])
    assert os.listdir(folder) == []


@pytest.mark.parametrize("command", ["export", "translate", "encode"])
def test_a_file_asking_for_a_network_beyond_memory_is_refused_before_it_is_built(tiny_data, tmp_path, capsys,
                                                                                 monkeypatch, command):
    """A small file whose model section asks for a network larger than the free memory (here 512-wide
    layers, 0.37 GiB of weights, against 0.1 GiB): the network was built, that is allocated, first."""
    import importlib

    import utils.memory
    from models.loading import WEIGHTS_FORMAT, build_model
    from utils.config import build_config
    section = build_config({"dataset": "", "path_to_data": "", "resolution": 32, "model": NARROW}).model
    path = str(tmp_path / "1-weights.pt")
    wide = {**section.to_dict(), "encoder_channels": [512] * 4, "decoder_channels": [512] * 4}
    torch.save({"format": WEIGHTS_FORMAT, "iteration": 1, "resolution": 32, "model_config": wide,
                "model": build_model(32, section).state_dict()}, path)
    monkeypatch.setattr(utils.memory, "available_bytes", lambda device: 0.1 * 2 ** 30)
    image = os.path.join(tiny_data, "train", sorted(os.listdir(os.path.join(tiny_data, "train")))[0])
    argv = {"export": [path], "translate": [path, image, "--to", "y", "--out", str(tmp_path / "out")],
            "encode": [path, image, "--domain", "x", "--out", str(tmp_path / "codes.npz")]}[command]
    assert importlib.import_module(command).main(argv) == 2
    assert _last_error(capsys) == (f"error: {path}: its model section describes a network of 100.0 M parameters, "
                                   "0.37 GiB of weights alone, but cpu has 0.10 GiB available; load it on a "
                                   "machine with more memory")
    assert sorted(os.listdir(tmp_path)) == ["1-weights.pt"]


@pytest.fixture(scope="module")
def run_to_resume(tmp_path_factory, tiny_data):
    """A run of one iteration with the narrow network, trained once for the tests that copy it."""
    import json
    root = tmp_path_factory.mktemp("resumable")
    config = root / "config.json"
    config.write_text(json.dumps({"id": "tiny", "model": NARROW, "dataset": "MNIST-CDCB", "path_to_data": tiny_data,
                                  "train": 1, "resolution": 32, "output_root": str(root / "runs"), "device": "cpu",
                                  "training": {"max_iters": 1, "batch_size": 4, "num_workers": 0}}))
    assert main.main([str(config)]) == 0
    (run,) = run_dirs(root / "runs")
    return run


def _counter(*milestones):
    import collections
    return collections.Counter(milestones)


_RESUME_DAMAGE = [
    ("optimizers", {}, "'optimizers' is {}, not an object of the state of exclusive, shared, decoders"),
    ("optimizers", "adam", "'optimizers' is \"adam\", not an object of the state of exclusive, shared, decoders"),
    ("optimizers.exclusive.param_groups", [], "'optimizers.exclusive.param_groups' is [], not a list of 1 "
                                              "parameter groups"),
    ("optimizers.exclusive.param_groups.0.lr", "fast", "'optimizers.exclusive.param_groups.0.lr' is \"fast\", not a "
                                                       "number in float32's range"),
    ("optimizers.exclusive.param_groups.0.amsgrad", True, "'optimizers.exclusive.param_groups.0.amsgrad' is true, "
                                                          "not false as this run's"),
    ("optimizers.exclusive.state.0.exp_avg", torch.zeros(2), "'optimizers.exclusive.state.0.exp_avg' is Tensor, not "
                                                             "a torch.float32 tensor of shape [8, 3, 4, 4]"),
    ("schedulers", {"exclusive": 5, "shared": 5, "decoders": 5}, "'schedulers.exclusive' is 5, not an object of "
                                                                 "named fields"),
    ("schedulers.exclusive.milestones", [1, 2], "'schedulers.exclusive.milestones' is [1, 2], not a Counter of "
                                                "iteration numbers"),
    ("schedulers.exclusive.milestones", _counter("1"), "'schedulers.exclusive.milestones' is {\"1\": 1}, not a "
                                                       "Counter of iteration numbers"),
    ("schedulers.exclusive.optimizer", "none", "'schedulers.exclusive' holds \"optimizer\", which would replace an "
                                               "attribute of what it is loaded into"),
    ("schedulers.exclusive.last_epoch", None, "'schedulers.exclusive.last_epoch' is null, not an integer"),
    ("scaler", "off", "'scaler' is \"off\", not an object of named fields"),
    ("rng", [], "'rng' is [], not an object of named fields"),
    ("rng.torch", "seed", "'rng.torch' is \"seed\", not a torch.uint8 tensor of shape [5056]"),
    ("rng.cuda", None, "'rng.cuda' is null, not a list of uint8 tensors"),
]


@pytest.mark.parametrize("field, damage, complaint", _RESUME_DAMAGE,
                         ids=[f"{field}-{i}" for i, (field, _, _) in enumerate(_RESUME_DAMAGE)])
def test_resume_checks_every_field_of_the_training_state_it_reads(run_to_resume, tmp_path, capsys, field, damage,
                                                                   complaint):
    import shutil
    run = str(tmp_path / "run")
    shutil.copytree(run_to_resume, run)
    path = os.path.join(run, "models", "1-checkpoint.pt")
    state = torch.load(path, weights_only=True)
    *parents, last = field.split(".")
    target = state
    for key in parents:
        target = target[int(key) if isinstance(target, (list, dict)) and key.isdigit() else key]
    target[int(last) if last.isdigit() else last] = damage
    torch.save(state, path)
    before = open(path, "rb").read()
    capsys.readouterr()
    assert main.main(["--resume", run, "--set", "training.max_iters=2"]) == 2
    assert _last_error(capsys) == (f"error: checkpoint {path}: {complaint}; training cannot continue from it (move "
                                   "it out of the run's models/ to resume from the checkpoint before it)")
    assert os.listdir(os.path.join(run, "models")) == ["1-checkpoint.pt"] and open(path, "rb").read() == before


def test_resume_turning_fp16_on_starts_a_fresh_gradient_scaler(run_to_resume, tmp_path):
    """A checkpoint trained without fp16 saves its disabled scaler as {}, which GradScaler refused to load."""
    import shutil
    run = str(tmp_path / "run")
    shutil.copytree(run_to_resume, run)
    assert main.main(["--resume", run, "--set", "training.max_iters=2", "--set", "training.precision=fp16"]) == 0
    assert torch.load(os.path.join(run, "models", "2-checkpoint.pt"), weights_only=True)["scaler"]["scale"] > 0


@pytest.mark.parametrize("key, value, complaint", [
    ("id", "\U0001F600" * 100, "it names the run directory, which the file system takes as bytes: this id is 400, "
                               "and a name holds at most 255, so an id at most 234 (with the date before it and a "
                               "number after it)"),
    ("id", "run\ud800", "it cannot be part of a file name: no file system takes a lone surrogate (\\ud800)"),
    ("output_root", "runs\ud800", "it cannot be part of a file name: no file system takes a lone surrogate "
                                  "(\\ud800)"),
    ("output_root", "runs\udcff", "it holds the byte 0xff, which is not UTF-8, and TensorBoard writes its event "
                                  "files only under UTF-8 paths: choose a UTF-8 name"),
    ("output_root", "x" * 256, "its part 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is 256 bytes as the file "
                               "system takes it; a name holds at most 255"),
], ids=["id of 100 emoji", "id with a lone surrogate", "output_root with a lone surrogate",
        "output_root with the byte 0xff", "output_root with a name of 256 bytes"])
def test_a_run_directory_name_the_file_system_cannot_take_is_refused_before_anything(write_config, tmp_path, capsys,
                                                                                      monkeypatch, key, value,
                                                                                      complaint):
    import json

    import solver

    def no_training(*args):
        raise AssertionError("the run started")

    monkeypatch.setattr(solver.Solver, "__init__", no_training)
    monkeypatch.chdir(tmp_path)
    assert main.main([write_config(**{key: value})]) == 2
    shown = json.dumps(value)
    shown = shown if len(shown) <= 60 else shown[:60] + "..."
    assert _last_error(capsys) == f"error: config: '{key}' is {shown}; {complaint}"
    assert os.listdir(tmp_path) == ["config.json"]


def test_log_txt_takes_names_that_are_not_utf8(tmp_path, monkeypatch):
    """A data file's name that is not UTF-8 (the byte 0xff, which Python holds as the surrogate U+DCFF) in
    a line of the terminal: log.txt, a copy of what the terminal showed, writes it escaped as the terminal
    (stderr's backslashreplace) shows it."""
    import io
    import sys

    from utils.terminal_log import TerminalLog
    path = tmp_path / "log.txt"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with TerminalLog() as log:
        log.open(str(path))
        print("warning: skipped /data/\udcff.png", file=sys.stderr)
    assert path.read_text(encoding="utf-8") == "warning: skipped /data/\\udcff.png\n"
