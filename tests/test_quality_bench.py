import argparse

import pytest
import torch

import main
from bench.quality import first_reaching, goal, measure, met
from tests.conftest import run_dirs
from utils.config import load_config


def test_goals_are_conditions_on_tensorboard_tags():
    conditions = goal("retrieval/shared_x2y_top1>=0.9, translation/x2y_l1 <= 0.07")
    assert conditions == (("retrieval/shared_x2y_top1", ">=", 0.9), ("translation/x2y_l1", "<=", 0.07))
    assert met({"retrieval/shared_x2y_top1": 0.95, "translation/x2y_l1": 0.05}, conditions)
    assert not met({"retrieval/shared_x2y_top1": 0.85, "translation/x2y_l1": 0.05}, conditions)
    assert not met({"retrieval/shared_x2y_top1": 0.95, "translation/x2y_l1": 0.08}, conditions)
    assert not met({"retrieval/shared_x2y_top1": 0.95}, conditions)  # a tag the run does not log
    for bad in ("retrieval/shared_x2y_top1>0.9", "retrieval/shared_x2y_top1>=high", ">=0.9"):
        with pytest.raises(argparse.ArgumentTypeError):
            goal(bad)


def test_every_checkpoint_of_a_run_is_measured_with_every_measure(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 2, "model_save_freq": 1, "print_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    capsys.readouterr()
    rows = measure(run, load_config(config), torch.device("cpu"), batch_statistics=True)
    assert [row["iteration"] for row in rows] == [1, 2]
    assert set(rows[0]["reports"]) == {"retrieval", "translation", "style", "content", "paired"}
    assert rows[0]["batch_statistics"]["retrieval"]["num_pairs"] == 6
    assert rows[0]["reports"] != rows[1]["reports"]  # each checkpoint's own weights
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[1].startswith("  with batch statistics: evaluation at 1 (6 test pairs)")
    assert first_reaching(rows, goal("retrieval/shared_x2y_top1>=0")).startswith("iteration 1,")
    assert first_reaching(rows, goal("retrieval/shared_x2y_top1>=2")) == "not reached"


def test_checkpoints_are_also_measured_on_the_committed_real_pairs(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 1, "model_save_freq": 1, "print_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    capsys.readouterr()
    rows = measure(run, load_config(config), torch.device("cpu"), also=[("MNIST-CDCB", "bench/real_mnist_cdcb")])
    (real,) = rows[0]["also"]
    assert real["test_set"] == "MNIST-CDCB bench/real_mnist_cdcb"
    assert real["reports"]["retrieval"]["num_pairs"] == 70  # the held-out split; dev/ is never a test split
    assert "content" in real["reports"]  # the real set declares its known answer, so the digit is checked
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "on MNIST-CDCB bench/real_mnist_cdcb: evaluation at 1 (70 test pairs)" in out[1]
