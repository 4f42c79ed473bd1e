import argparse
import time

import pytest
import torch

from bench import profile, speed
from dataloader.registry import generated_on_first_use
from models.networks import Decoder, SharedNormFeatures, StyledDecoder
from utils.config import load_config


def test_profile_counts_every_second_of_the_timed_run_once(write_config, capsys):
    config = write_config(training={"max_iters": 100, "print_freq": 10, "sample_freq": 50, "model_save_freq": 60,
                                    "eval_freq": 25, "cross_rec_weight": 1.0, "marginal_kld_weight": 1.0})
    rows, wall, counted = profile.main(["--config", config, "--steps", "2", "--warmup", "1", "--keep-caches"])
    # Exclusive times: nothing counted twice (a piece inside another) and nothing left out.
    assert 0.97 * wall <= counted <= wall
    groups = {label: group for label, (group, _, _) in rows.items()}
    for label in ("exclusive encoders E_x, E_y forward", "shared feature extractor F backward",
                  "decoders D_x, D_y (reconstruction) forward", "decoders D_x, D_y (cross term) backward",
                  "FiLM MLPs forward", "loss: marginal terms (forward)", "optimizer step: E_x, E_y", "data: next batch"):
        assert groups[label] == profile.PER_ITERATION and rows[label][2] == 100
    for label, count in (("evaluation: random styles", 4), ("evaluation: digit classifier", 4), ("sample grids", 2),
                         ("checkpoint", 2), ("logging: loss line and TensorBoard", 10)):
        assert groups[label] == profile.PER_EVENT and rows[label][2] == count
    assert groups["start-up: run directory, data checks, model to the loop"] == profile.ONE_TIME
    assert "digit classifier training" not in rows  # the user's cache has one
    out = capsys.readouterr().out
    assert "whole run, estimated:" in out and out.rstrip().endswith("100.0%")


def test_profile_times_the_subset_evaluations_apart_from_the_last_one_on_every_pair(write_config, capsys):
    config = write_config(training={"max_iters": 100, "eval_freq": 25, "eval_pairs": 2})
    rows, wall, counted = profile.main(["--config", config, "--steps", "1", "--warmup", "1", "--keep-caches"])
    assert 0.97 * wall <= counted <= wall
    assert rows["evaluation (2 pairs): random styles"][2] == 3 and rows["evaluation (all pairs): random styles"][2] == 1
    assert not any(label.startswith("evaluation:") for label in rows)


def test_profile_without_the_cross_term_has_no_cross_decodes(write_config, capsys):
    config = write_config(training={"max_iters": 10})
    rows, _, _ = profile.main(["--config", config, "--steps", "1", "--warmup", "1", "--keep-caches"])
    assert not any("cross term" in label for label in rows)
    assert "evaluation: codes" not in rows  # no evaluation in the run (eval_freq 0), so none is counted
    capsys.readouterr()


def test_the_clock_takes_inner_pieces_out_of_outer_ones():
    clock = profile.Clock(torch.device("cpu"))
    with clock.timing("outer"):
        time.sleep(0.02)
        with clock.timing("inner"):
            time.sleep(0.03)
        with clock.timing("outer"):  # a piece inside one of its own kind is the same call
            time.sleep(0.01)
    assert clock.calls == {"outer": 1, "inner": 1}
    assert 0.03 <= clock.totals["inner"] < 0.04
    assert 0.03 <= clock.totals["outer"] < 0.045
    clock.start("a")
    with pytest.raises(RuntimeError, match="overlap"):
        clock.stop("b")


def test_profile_events_follow_the_config_and_only_the_demo_data_are_generated_afresh():
    counts = profile.events(load_config("configs/demo.json"))
    assert counts == {"logging: loss line and TensorBoard": 28, "sample grids": 4, "checkpoint": 2,
                      "evaluation (100 pairs)": 3, "evaluation (all pairs)": 1}
    counts = profile.events(load_config("configs/demo.json", ["training.eval_pairs=0"]))
    assert counts["evaluation"] == 4 and "evaluation (all pairs)" not in counts
    assert generated_on_first_use("MNIST-CDCB-demo")
    assert not generated_on_first_use("MNIST-CDCB") and not generated_on_first_use("no such dataset")


def test_speed_networks_are_the_reference_port_s_the_default_and_the_demo_s():
    args = argparse.Namespace(device="cpu")
    solvers = {name: speed.build_solver({"network": name, "option": "fp32", "resolution": 32, "batch": 2}, args)
               for name in speed.NETWORKS}
    assert isinstance(solvers["reference"].model.decoders[0], Decoder)
    assert isinstance(solvers["reference"].model.features, SharedNormFeatures)
    assert isinstance(solvers["default"].model.decoders[0], StyledDecoder)
    assert solvers["default"].loss_weights["cross_rec_weight"] == 0
    assert solvers["demo"].loss_weights["cross_rec_weight"] > 0 and solvers["demo"].loss_weights["marginal_kld_weight"] > 0
    assert isinstance(solvers["demo"].model.decoders[0], StyledDecoder)


def test_speed_ratios_are_to_the_first_network_at_the_same_size_and_option():
    rows = [{"resolution": r, "batch": 8, "option": o, "network": n, "s_per_step": s}
            for r, o, n, s in ((64, "fp32", "reference", 1.0), (64, "fp32", "demo", 1.5),
                               (64, "bf16", "reference", 2.0), (64, "bf16", "demo", 1.0),
                               (256, "fp32", "reference", 4.0), (256, "fp32", "demo", 6.0))]
    assert [row["ratio"] for row in speed.with_ratios(rows, "reference")] == [1.0, 1.5, 1.0, 0.5, 1.0, 1.5]
    args = speed.parse_args(["--networks", "reference,demo", "--resolutions", "64,256", "--options", "fp32,bf16"])
    planned = speed.planned_rows(args)
    assert len(planned) == 8 and [row["network"] for row in planned[:2]] == ["reference", "demo"]
    with pytest.raises(SystemExit):
        speed.parse_args(["--networks", "reference,nonsense"])


def test_a_speed_row_runs_one_step_of_its_network():
    args = argparse.Namespace(device="cpu", threads=1, warmup=0, steps=1)
    row = speed.measure_training({"network": "demo", "option": "fp32", "resolution": 32, "batch": 2}, args)
    assert row["network"] == "demo" and row["s_per_step"] > 0 and row["pairs_per_s"] == pytest.approx(2 / row["s_per_step"])
