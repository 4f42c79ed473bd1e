"""Issue 27: run-directory files behind symlinks, outputs that would replace a run's files, resume
changes of the learning rate, non-finite weights, write errors torch disguises, and more bad input."""
import os

import pytest
import torch

import main
from tests.conftest import run_dirs

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
