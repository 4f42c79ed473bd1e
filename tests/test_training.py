import glob
import json
import os

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import main
from models.iiae import evaluating
from models.loading import load_trained
from models.losses import LOSS_NAMES
from solver import Solver
from tests.conftest import run_dirs
from tests.recording import tiny_config
from utils.config import SCHEMA, build_config, load_config
from utils.distributed import Context


def test_solver_steps_on_a_fixed_batch_lower_the_loss(tmp_path):
    """Solver.train_step itself (the step training runs), on one batch: the objective must go down."""
    default_widths = {"encoder_channels": [32, 64, 128, 256], "decoder_channels": [512, 256, 128, 64],
                      "shared_dim": 128, "shared_hidden": 256}
    raw = tiny_config(tmp_path, tmp_path, training={"lr": 2e-4, "beta1": 0.5}, model={"dropout": 0.0, **default_widths})
    solver = Solver(build_config(raw), Context(torch.device("cpu")))
    torch.manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    net = solver.wrapped_model()
    losses = [solver.train_step(net, x, y, anneal=0.0, scale=0.01)["total_loss"].item() for _ in range(15)]
    assert losses[-1] < 0.7 * losses[0]


def test_the_step_trains_with_the_configs_distance_and_decoder_output(tmp_path):
    """training.rec_loss and model.decoder_output reach the step: with l2 and clamp its reconstruction term
    is the mean squared error of the clamped decoding (codes taken at their means, no dropout)."""
    raw = tiny_config(tmp_path, tmp_path, training={"rec_loss": "l2"},
                      model={"dropout": 0.0, "decoder_output": "clamp"})
    solver = Solver(build_config(raw), Context(torch.device("cpu")))
    solver.model.sample = lambda mean, logvar: mean
    torch.manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        recon_x = solver.model(x, y)["recon"][0]
    terms = solver.train_step(solver.wrapped_model(), x, y, anneal=1.0, scale=1.0)
    assert terms["recon_X_loss"].item() == pytest.approx(torch.nn.functional.mse_loss(recon_x, x).item(), rel=1e-6)
    assert recon_x.abs().max() <= 1


def test_train_then_test_writes_the_whole_run_directory(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 6, "sample_freq": 3, "model_save_freq": 3, "print_freq": 2})
    assert main.main([config, "--set", "training.eval_freq=6"]) == 0
    assert "evaluation at 6 (6 test pairs): shared top-1 " in capsys.readouterr().err
    (run,) = run_dirs(tmp_path / "runs")
    assert os.path.basename(run).endswith("_tiny")
    for path in ("config.json", "logs", "results", "models/3-checkpoint.pt", "models/6-checkpoint.pt",
                 "samples/3/X2Y.jpg", "samples/3/Y2X.jpg", "samples/6/X2Y.jpg"):
        assert os.path.exists(os.path.join(run, path)), path
    log = open(os.path.join(run, "log.txt")).read().splitlines()
    assert log[0] == f"run directory: {run}" and log[-1].startswith("finished 6 iterations")
    assert [line.split("]")[0] for line in log if line.startswith("[")] == ["[2/6", "[4/6", "[6/6"]
    saved = json.load(open(os.path.join(run, "config.json")))
    # Every key is written, also those the file left to the schema's defaults.
    assert saved["training"]["eval_freq"] == 6 and saved["model"]["shared_dim"] == 8
    assert saved["model"]["exclusive_dim"] == SCHEMA["model"]["exclusive_dim"].default

    events = EventAccumulator(os.path.join(run, "logs")).Reload()
    tags = events.Tags()["scalars"]
    for name in LOSS_NAMES:
        assert f"loss/{name}" in tags
        assert [e.step for e in events.Scalars(f"loss/{name}")] == [2, 4, 6]
    assert {"train/lr", "train/kl_anneal", "retrieval/shared_x2y_top1", "translation/x2y_l1",
            "translation/y2x_l1"} <= set(tags)
    assert "samples/X2Y" in events.Tags()["images"]

    assert main.main([config, "--set", "train=0", "--set", f"test.test_path={run}",
                      "--set", "test.test_iters=6"]) == 0
    results = os.path.join(run, "results")
    for i in (0, 1):  # 6 test pairs in batches of 3
        for name in ("X2Y", "Y2X", "fixX2Y", "fixY2X"):
            assert os.path.exists(os.path.join(results, f"{name}_{i}.jpg")), (name, i)
    report = json.load(open(os.path.join(results, "retrieval.json")))
    assert report["num_pairs"] == 6 and 0 <= report["shared_x2y_top1"] <= 1
    features = __import__("numpy").load(os.path.join(results, "features.npz"))
    assert list(features["names"]) == [f"{i:05d}.png" for i in range(1, 7)]
    assert features["shared_x_mean"].shape == (6, 8) and features["exclusive_y_logvar"].shape == (6, 8)
    fidelity = json.load(open(os.path.join(results, "translation.json")))
    assert fidelity["num_pairs"] == 6 and fidelity["eval_batchnorm"] == "running"
    assert 0 < fidelity["x2y_copy_reference_l1"] < fidelity["x2y_copy_source_l1"] < 1
    assert "translation L1 to the known answer" in capsys.readouterr().out

    # A second test run keeps the first one's results.
    assert main.main([config, "--set", "train=0", "--set", f"test.test_path={run}",
                      "--set", "test.test_iters=3"]) == 0
    assert os.path.exists(os.path.join(run, "results_2", "retrieval.json"))


def test_size_dependent_kl_scaling_is_warned_in_the_first_lines(write_config, tmp_path):
    config = write_config(training={"max_iters": 1, "sample_freq": 1, "model_save_freq": 1, "print_freq": 1})
    assert main.main([config, "--set", "model.kl_scaling=batch_over_dataset"]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    log = open(os.path.join(run, "log.txt")).read().splitlines()
    # The tiny set's 16 training pairs in batches of 4: a factor of 4 / 16.
    assert log[0] == f"run directory: {run}"
    assert log[1].startswith("warning: model.kl_scaling \"batch_over_dataset\"")
    assert "batch 4 x 1 process / 16 training pairs = 0.25," in log[1]


def test_a_config_naming_no_kl_scaling_says_what_its_weights_mean(write_config, tmp_path):
    # The tiny config's model section names no kl_scaling, as the reference port's sample config does not.
    config = write_config(training={"max_iters": 1, "sample_freq": 1, "model_save_freq": 1, "print_freq": 1})
    assert main.main([config]) == 0
    assert main.main([config, "--set", "model.kl_scaling=none", "--set", "id=named"]) == 0
    first, second = (open(os.path.join(run, "log.txt")).read().splitlines() for run in run_dirs(tmp_path / "runs"))
    unnamed, named = (first, second) if "tiny" in first[0] else (second, first)
    assert unnamed[1].startswith("note: this config names no model.kl_scaling")
    assert "batch 4 x 1 process / 16 training pairs = 0.25, so here they weigh 4 times" in unnamed[1]
    assert not any(line.startswith(("note: this config", "warning: model.kl")) for line in named)


def test_save_load_round_trip_restores_identical_outputs(write_config, tmp_path):
    config = write_config(training={"max_iters": 3, "model_save_freq": 3})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    cfg = load_config(config)
    trained = load_trained(run, 3, config=cfg)
    state = trained.state
    fresh = Solver(cfg, Context(torch.device("cpu")))
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with evaluating(fresh.model, "running"), evaluating(trained.model, "running"):
        before = fresh.model.shared_code(x, 0)[0]
        restored = load_trained(run, 3, config=cfg, into=fresh.model)
        fresh.iteration = fresh.checkpoint.load(restored.state, restored.path)
        after, expected = fresh.model.shared_code(x, 0)[0], trained.model.shared_code(x, 0)[0]
    assert not torch.equal(before, expected)
    assert torch.equal(after, expected)
    assert fresh.iteration == 3
    assert fresh.optimizers["shared"].state_dict()["state"].keys() == state["optimizers"]["shared"]["state"].keys()


def test_resume_continues_in_the_same_run_directory(write_config, tmp_path):
    config = write_config(training={"max_iters": 3, "model_save_freq": 3})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    assert main.main([config, "--set", "training.max_iters=6", "--set", "training.resume_iters=3",
                      "--set", f"training.restored_model_path={run}"]) == 0
    assert run_dirs(tmp_path / "runs") == [run]
    assert os.path.exists(os.path.join(run, "models", "6-checkpoint.pt"))
    assert os.path.exists(os.path.join(run, "config_resume_3.json"))
    assert len(glob.glob(os.path.join(run, "config*.json"))) == 2


def test_eval_pairs_subsets_the_evaluations_before_the_last_iteration(write_config, capsys):
    """The last iteration's evaluation reads every test pair, so the run's final figures are the test
    split's, whatever the in-training subset."""
    config = write_config(training={"max_iters": 6, "model_save_freq": 6, "eval_freq": 3, "eval_pairs": 2})
    assert main.main([config]) == 0
    err = capsys.readouterr().err
    assert "evaluation at 3 (2 test pairs)" in err and "evaluation at 6 (6 test pairs)" in err


def test_test_mode_logs_apart_from_the_training_curve(write_config, tmp_path):
    """Test mode's scalars go to logs/test/<results folder>, so testing a run (on other data, a split,
    another BatchNorm mode) never adds points to the curve training logged."""
    config = write_config(training={"max_iters": 3, "model_save_freq": 3, "eval_freq": 3})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    trained = [(e.step, e.value) for e in
               EventAccumulator(os.path.join(run, "logs")).Reload().Scalars("retrieval/shared_x2y_top1")]
    assert main.main(["--test", run]) == 0 and main.main(["--test", run]) == 0
    assert [(e.step, e.value) for e in EventAccumulator(os.path.join(run, "logs")).Reload().Scalars(
        "retrieval/shared_x2y_top1")] == trained
    assert sorted(os.listdir(os.path.join(run, "logs", "test"))) == ["results", "results_2"]
    tested = EventAccumulator(os.path.join(run, "logs", "test", "results")).Reload()
    assert [e.step for e in tested.Scalars("retrieval/shared_x2y_top1")] == [3]
    assert "style/x2y_style_error" in tested.Tags()["scalars"]
