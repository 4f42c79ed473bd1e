"""Data-parallel training on CPU (gloo, 2 processes forked as torchrun would start them): processes stay
in step, N processes with batch B/N compute what one process with batch B does, and a checkpoint of a
2-process run tests in one process."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

import main
from models.loading import build_model, restore_networks
from models.losses import LOSS_NAMES
from solver import Solver
from tests.recording import RecordingSolver, digest, one_thread, tiny_config  # noqa: F401 (fixture)
from utils.config import build_config
from utils import distributed
from utils.distributed import Context, setup, teardown
from utils.errors import UserError
from utils.stopping import Interrupted

pytestmark = pytest.mark.usefixtures("one_thread")
STEPS = 3
GLOBAL_BATCH = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_and_record(run, context, rank=0):
    """Train run["config"] with a RecordingSolver; save its record, run directory and how it stopped to
    run["out"]/rank<r>.pt."""
    solver = RecordingSolver(build_config(run["config"]), context, frozen_batchnorm=run["frozen_batchnorm"],
                             interrupt_after=run.get("interrupt_after", {}).get(rank))
    run_dir, stopped = None, None
    try:
        run_dir = solver.train()
    except Interrupted as e:
        stopped = str(e)
    torch.save({**solver.record, "run_dir": run_dir, "stopped": stopped}, os.path.join(run["out"], f"rank{rank}.pt"))


def process_main(rank, world, port, runs):
    """One of `world` processes, as torchrun would start it; trains every run in turn in one process group."""
    torch.set_num_threads(1)  # the processes share the machine's cores
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    context = setup("cpu")
    try:
        for run in runs:
            train_and_record(run, context, rank)
    finally:
        teardown(context)


def records(out_dir, world):
    return [torch.load(os.path.join(out_dir, f"rank{r}.pt"), weights_only=False) for r in range(world)]


def live_run(tiny_data, tmp):
    """Plain training: STEPS steps, per-process batch 2, logging every second step."""
    return {"config": tiny_config(tiny_data, tmp / "runs", training={"max_iters": STEPS, "print_freq": 2}),
            "frozen_batchnorm": False, "out": str(tmp)}


def interrupted_run(tiny_data, tmp):
    """Process 1 alone receives SIGINT during step 1 of 5; steps 2 and 4 are logged."""
    return {"config": tiny_config(tiny_data, tmp / "runs", training={"max_iters": 5, "print_freq": 2}),
            "frozen_batchnorm": False, "out": str(tmp), "interrupt_after": {1: 1}}


def comparable_run(tiny_data, tmp, batch_size):
    """One step whose result must not depend on how the global batch is split over processes.

    BatchNorm normalises each process's batch with that batch's own statistics (SyncBatchNorm, which would
    share them, runs only on CUDA), and even a data set of identical items would not make them equal the
    global batch's, since the decoders' BatchNorm sees the sampled codes, which differ per item. So here
    BatchNorm uses its running statistics; then every item's computation stands alone, and what is left
    to differ is what is under test: which items each process takes, the noise slice each draws, the KL
    scale by the global batch and gradient averaging. No dropout: its masks are drawn per process. No KL
    annealing: the KL terms then weigh fully in the loss."""
    return {"config": tiny_config(tiny_data, tmp / "runs", training={"max_iters": 1, "batch_size": batch_size},
                                  model={"dropout": 0.0, "kl_anneal_iters": 0}),
            "frozen_batchnorm": True, "out": str(tmp)}


@pytest.fixture(scope="module")
def two_processes(tiny_data, tmp_path_factory):
    """Records of both processes of two 2-process runs: "live" and "comparable" (batch GLOBAL_BATCH / 2)."""
    runs = {"live": live_run(tiny_data, tmp_path_factory.mktemp("live")),
            "interrupted": interrupted_run(tiny_data, tmp_path_factory.mktemp("interrupted")),
            "comparable": comparable_run(tiny_data, tmp_path_factory.mktemp("comparable"), GLOBAL_BATCH // 2)}
    # Forked, not spawned: the children start in milliseconds instead of importing torch again for seconds.
    mp.start_processes(process_main, args=(2, free_port(), list(runs.values())), nprocs=2,
                       start_method="fork")
    return {name: (run["config"], records(run["out"], 2)) for name, run in runs.items()}


@pytest.fixture(scope="module")
def one_process(tiny_data, tmp_path_factory):
    """Record of the comparable run in one plain process with batch GLOBAL_BATCH."""
    run = comparable_run(tiny_data, tmp_path_factory.mktemp("one"), GLOBAL_BATCH)
    train_and_record(run, Context(torch.device("cpu")))
    return records(run["out"], 1)[0]


def test_processes_hold_identical_parameters_after_every_step(two_processes):
    _, (r0, r1) = two_processes["live"]
    assert len(r0["params"]) == len(r1["params"]) == STEPS
    assert r0["params"] == r1["params"]
    assert len(set(r0["params"])) == STEPS  # every step changed the parameters
    # The processes computed on their own items and noise slices, so their local losses and gradients differed:
    # only gradient averaging can have kept them in step.
    assert r0["losses"][0]["total_loss"] != r1["losses"][0]["total_loss"]
    assert torch.equal(r0["grads"], r1["grads"])


def test_a_signal_to_one_process_stops_both_at_the_next_logged_step(two_processes):
    raw, (r0, r1) = two_processes["interrupted"]
    # Both stopped after step 2 (the first logged step after the signal), in step, with its checkpoint.
    assert r0["stopped"].startswith("interrupted at iteration 2;") and "resume with" in r0["stopped"]
    assert r1["stopped"].startswith("interrupted at iteration 2;")
    assert len(r0["params"]) == len(r1["params"]) == 2 and r0["params"] == r1["params"]
    (run,) = os.listdir(raw["output_root"])
    assert os.listdir(os.path.join(raw["output_root"], run, "models")) == ["2-checkpoint.pt"]


def test_test_mode_under_torchrun_runs_on_the_main_process_only(two_processes, monkeypatch):
    raw, (r0, _) = two_processes["live"]
    results = os.path.join(r0["run_dir"], "results")
    before = sorted(os.listdir(results))
    monkeypatch.setattr(distributed, "setup", lambda device: Context(torch.device("cpu"), rank=1, world_size=2))
    monkeypatch.setattr(distributed, "teardown", lambda context: None)
    assert main.main(["--test", r0["run_dir"]]) == 0
    assert sorted(os.listdir(results)) == before and not os.path.exists(results + "_2")


def test_two_processes_with_half_batches_compute_one_process_with_the_whole(two_processes, one_process):
    _, (r0, r1) = two_processes["comparable"]
    assert r0["names"][0] + r1["names"][0] == one_process["names"][0]
    assert len(set(one_process["names"][0])) == GLOBAL_BATCH
    for name in LOSS_NAMES:
        mean = (r0["losses"][0][name] + r1["losses"][0][name]) / 2
        assert mean == pytest.approx(one_process["losses"][0][name], rel=1e-4, abs=1e-7), name
    expected = one_process["grads"]
    assert (r0["grads"] - expected).norm() <= 1e-4 * expected.norm()


def test_checkpoint_of_two_processes_tests_in_one_process(two_processes, tmp_path):
    raw, (r0, _) = two_processes["live"]
    run = r0["run_dir"]
    path = os.path.join(run, "models", f"{STEPS}-checkpoint.pt")
    cfg = build_config(raw)
    model = build_model(32, cfg.model)
    restore_networks(model, torch.load(path, weights_only=True), path, 32, cfg.model)
    assert digest(model.parameters()) == r0["params"][-1]

    path = tmp_path / "test.json"
    path.write_text(json.dumps({**raw, "train": 0, "test": {"batch_size": 2, "test_path": run,
                                                             "test_iters": STEPS}}))
    assert main.main([str(path)]) == 0
    report = json.load(open(os.path.join(run, "results", "retrieval.json")))
    assert report["iteration"] == STEPS and report["num_pairs"] == 6


def test_sync_bn_on_cpu_is_refused(tmp_path):
    raw = tiny_config(tmp_path, tmp_path, training={"sync_bn": True})
    with pytest.raises(UserError, match="sync_bn.*CUDA"):
        Solver(build_config(raw), Context(torch.device("cpu")))
