"""Every mistake a user can make exits non-zero with one line naming it, and creates no run directory."""
import errno
import json
import os

import pytest

import main
from utils import rundir
from tests.conftest import run_cli, run_dirs


def _fails(args, capsys, tmp_path, message):
    code = main.main(args)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and "\n" not in err, err
    assert message in err, err
    assert run_dirs(tmp_path / "runs") == []
    return err


def test_cli_reports_one_line_without_traceback(write_config, tmp_path):
    config = write_config(training={"max_iter": 5})
    result = run_cli(config)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: config: unknown key 'training.max_iter'; "
                                     "did you mean 'training.max_iters'?")
    assert not os.path.exists(tmp_path / "runs")


def test_missing_config_file(capsys, tmp_path):
    _fails([str(tmp_path / "nope.json")], capsys, tmp_path, "config file not found")


def test_invalid_json(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"id": "x",}')
    _fails([str(path)], capsys, tmp_path, "is not valid JSON: line 1")


@pytest.mark.parametrize("content", [
    '{"dataset": "MNIST-CDCB", "path_to_data": "x"}'.encode("utf-16"),
    bytes(range(256)),
])
def test_config_that_is_not_utf8(capsys, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    _fails([str(path)], capsys, tmp_path, f"config file {path} is not UTF-8 text (byte ")


@pytest.mark.parametrize("sections,message", [
    ({"training": {"batch_size": "4"}}, "'training.batch_size' must be an integer"),
    ({"resolution": 48}, "'resolution' is 48"),
    ({"dataset": "MNIST"}, "'dataset' is \"MNIST\""),
    ({"path_to_data": "/nonexistent/data"}, "'path_to_data' folder not found: /nonexistent/data"),
    ({"training": {"num_workers": -1}}, "'training.num_workers' is -1; it must be in [0, 256]"),
    ({"training": {"lr": -0.1}}, "'training.lr' is -0.1; it must be in [0, 3.4e38]"),
])
def test_config_mistakes(write_config, capsys, tmp_path, sections, message):
    _fails([write_config(**sections)], capsys, tmp_path, message)


def test_empty_image_folder(write_config, capsys, tmp_path):
    data = tmp_path / "empty"
    (data / "train").mkdir(parents=True)
    (data / "test").mkdir()
    _fails([write_config(path_to_data=str(data))], capsys, tmp_path, "no images")


def test_missing_checkpoint_in_test_mode_lists_what_exists(write_config, capsys, tmp_path):
    config = write_config(training={"max_iters": 3, "model_save_freq": 3})
    assert main.main([config]) == 0
    capsys.readouterr()
    (run,) = run_dirs(tmp_path / "runs")
    code = main.main([config, "--set", "train=0", "--set", f"test.test_path={run}", "--set", "test.test_iters=7"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "checkpoint for iteration 7 not found" in err and "(available iterations: 3)" in err
    assert not os.listdir(os.path.join(run, "results"))


def test_missing_test_run_directory(write_config, capsys, tmp_path):
    _fails([write_config(train=0, test={"test_path": str(tmp_path / "gone")})], capsys, tmp_path,
           "run directory not found")


def test_output_root_under_a_file(write_config, capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    root = tmp_path / "afile" / "runs"
    _fails([write_config(output_root=str(root))], capsys, tmp_path,
           f"config: 'output_root' {root} cannot be a folder: {tmp_path / 'afile'} is a file")


def test_cache_folder_that_is_a_file(write_config, capsys, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".cache").write_text("x")
    err = _fails([write_config(output_root=str(tmp_path / "out"), data={"cache": "disk"})], capsys, tmp_path, "'data.cache' is \"disk\" but its folder")
    assert "is a file" in err


def test_read_only_output_root(write_config, capsys, tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(rundir.tempfile, "TemporaryFile", read_only)
    _fails([write_config()], capsys, tmp_path,
           f"config: 'output_root' {tmp_path / 'runs'} is not writable: cannot write a file in {tmp_path} "
           "(Read-only file system)")


def test_test_split_of_one_pair(write_config, capsys, tmp_path):
    """Evaluation mode tests a single pair; batch statistics cannot, and say so in one line."""
    from tests.fakedata import make_mnist_cdcb
    config = write_config(training={"max_iters": 1, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    one = make_mnist_cdcb(tmp_path / "one", n_train=2, n_test=1, size=32)
    capsys.readouterr()
    args = ["--test", run, "--set", f"path_to_data={one}"]
    assert main.main([*args, "--set", "model.eval_batchnorm=batch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the test split of") and "\n" not in err and "model.eval_batchnorm=running" in err
    assert not os.path.exists(os.path.join(run, "results_2"))
    assert main.main([*args, "--set", "model.eval_batchnorm=running"]) == 0
    assert json.load(open(os.path.join(run, "results", "retrieval.json")))["num_pairs"] == 1


def test_an_id_that_would_leave_output_root_is_refused_before_anything_is_made(write_config, capsys, tmp_path):
    config = write_config()
    before = sorted(os.listdir(tmp_path))
    _fails([config, "--set", "id=../../escape"], capsys, tmp_path, "config: 'id' is \"../../escape\"; it names the run")
    assert sorted(os.listdir(tmp_path)) == before and not os.path.exists(tmp_path.parent / "escape")


def test_a_network_too_large_for_the_memory_stops_before_the_run_directory(write_config, capsys, tmp_path,
                                                                           monkeypatch):
    """Within the sizes' bounds a network can still need more memory than there is (a 2^14-channel
    encoder at 256 px: 6.7 G parameters); its parameters are counted without allocating them."""
    from utils import memory
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10 * 2 ** 20)
    err = _fails([write_config(narrow=False, model={"decoder": "reference"})], capsys, tmp_path,
                 "config: the network of this config has 23.7 M parameters; "
                 "training needs at least 0.35 GiB for them, their gradients and Adam's state, but cpu has "
                 "0.01 GiB available")
    assert err.endswith("lower resolution or the model section's sizes")


def test_the_parameter_count_is_the_built_network_s():
    from models.iiae import IIAE
    from utils.config import build_config
    from utils.memory import available_bytes, parameter_count
    import torch
    cfg = build_config({"dataset": "MNIST-CDCB", "path_to_data": "x", "model": {"encoder_channels": [8, 8, 8, 8]}})
    built = sum(p.numel() for p in IIAE.from_config(64, cfg.model).parameters())
    assert parameter_count(lambda: IIAE.from_config(64, cfg.model)) == built
    huge = build_config({"dataset": "MNIST-CDCB", "path_to_data": "x", "model": {"encoder_channels": [1, 1, 1, 2 ** 14]}})
    assert parameter_count(lambda: IIAE.from_config(256, huge.model)) > 6.7e9  # counted, not allocated
    assert available_bytes(torch.device("cpu")) > 0


@pytest.mark.parametrize("args,message", [
    ([], "a config file is required (or --resume RUN_DIR, or --test RUN_DIR)"),
    (["--resume", "X", "--test", "X"], "--resume and --test exclude each other"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_command_line_mistakes_are_one_line(capsys, tmp_path, args, message):
    _fails(args, capsys, tmp_path, message)


def test_a_one_pair_test_split_stops_training_before_the_run_directory(write_config, capsys, tmp_path):
    from tests.fakedata import make_mnist_cdcb
    one = make_mnist_cdcb(tmp_path / "one", n_train=4, n_test=1, size=32)
    _fails([write_config(path_to_data=one)], capsys, tmp_path, f"the test split of {one} needs at least 2 items")




def _full_disk():
    """In the child: no file may grow past 0 bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write fails
    with EFBIG), as on a completely full disk, where files and folders can still be created."""
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _on_a_full_disk(*args):
    import subprocess
    import sys
    from tests.conftest import ROOT
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, preexec_fn=_full_disk, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def _listing(folder):
    return sorted((os.path.relpath(os.path.join(d, n), folder), os.path.getsize(os.path.join(d, n)))
                  for d, _, names in os.walk(folder) for n in names)


def test_a_full_disk_stops_a_fresh_run_before_its_directory(write_config, tmp_path):
    """An empty temporary can be created on a full disk: the check writes real bytes."""
    err = _on_a_full_disk(write_config())
    assert err.startswith(f"error: config: 'output_root' {tmp_path / 'runs'} is not writable: cannot write a file in ")
    assert run_dirs(tmp_path / "runs") == []


def test_a_full_disk_stops_resume_and_test_mode_in_one_line_and_changes_nothing(write_config, tmp_path):
    assert main.main([write_config(training={"max_iters": 2, "model_save_freq": 2})]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    before = _listing(run)
    err = _on_a_full_disk("--resume", run, "--set", "training.max_iters=4")
    assert err.startswith(f"error: the run directory {run} is not writable: cannot write a file in {run}")
    err = _on_a_full_disk("--test", run)
    assert err.startswith(f"error: config: 'test.test_path' {run} is not writable: cannot write a file in {run}")
    assert _listing(run) == before


def _fail_writes_under(monkeypatch, folder):
    """Every write to a file opened under `folder` fails with ENOSPC, as on a disk that filled up."""
    import builtins
    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def guarded(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        in_folder = isinstance(file, (str, os.PathLike)) and os.path.abspath(file).startswith(str(folder))
        return Full(f) if in_folder and any(c in mode for c in "wax") else f
    monkeypatch.setattr(builtins, "open", guarded)


def test_a_disk_that_fills_after_the_check_costs_no_run_and_leaves_no_empty_config(write_config, tmp_path, capsys,
                                                                                   monkeypatch):
    _fail_writes_under(monkeypatch, tmp_path / "runs")
    _fails([write_config()], capsys, tmp_path, "cannot write ")
    assert not os.path.exists(tmp_path / "runs") or os.listdir(tmp_path / "runs") == []


def test_a_disk_that_fills_during_resume_keeps_the_run_resumable(write_config, tmp_path, capsys, monkeypatch):
    assert main.main([write_config(training={"max_iters": 1, "model_save_freq": 1})]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    before = _listing(run)
    capsys.readouterr()
    with monkeypatch.context() as patch:
        _fail_writes_under(patch, run)
        assert main.main(["--resume", run, "--set", "training.max_iters=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write ") and "\n" not in err and "No space left on device" in err
    assert _listing(run) == before  # no empty config_resume_1.json that the next resume would read
    assert main.main(["--resume", run, "--set", "training.max_iters=2"]) == 0


def test_a_disk_that_fills_during_test_mode_is_one_line_and_leaves_no_results_folder(write_config, tmp_path,
                                                                                     capsys, monkeypatch):
    from PIL import Image
    assert main.main([write_config(training={"max_iters": 2, "model_save_freq": 2})]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    before = sorted(os.listdir(run))
    capsys.readouterr()

    def save(image, fp, *args, **kwargs):
        open(fp, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", save)
    assert main.main(["--test", run]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot write the test results in {run}: No space left on device"
    assert sorted(os.listdir(run)) == before and os.listdir(os.path.join(run, "results")) == []
