"""Interrupted runs, exact resume, corrupt checkpoints and data, non-finite losses, existing run dirs."""
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import main
import solver as solver_module
from models.losses import LOSS_NAMES
from tests.conftest import ROOT, run_dirs
from utils import checkpoint as ckpt
from utils import rundir
from utils.config import build_config
from utils.errors import UserError


def _scalars(run):
    events = EventAccumulator(os.path.join(run, "logs")).Reload()
    return {name: [(e.step, e.value) for e in events.Scalars(f"loss/{name}")] for name in LOSS_NAMES}


def test_resume_is_bit_exact(write_config, tmp_path):
    """2N iterations in one go == N, stop, N more: parameters, optimizer state and logged losses."""
    common = {"max_iters": 6, "model_save_freq": 3, "print_freq": 1, "sample_freq": 100, "num_workers": 2}
    full = write_config("full.json", id="full", training=common)
    half = write_config("half.json", id="half", training={**common, "max_iters": 3})
    assert main.main([full]) == 0
    assert main.main([half]) == 0
    run_full, run_half = run_dirs(tmp_path / "runs")
    assert main.main([half, "--resume", run_half, "--set", "training.max_iters=6"]) == 0
    a = torch.load(os.path.join(run_full, "models", "6-checkpoint.pt"), weights_only=True)
    b = torch.load(os.path.join(run_half, "models", "6-checkpoint.pt"), weights_only=True)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for group in a["optimizers"]:
        for key, state in a["optimizers"][group]["state"].items():
            assert torch.equal(state["exp_avg"], b["optimizers"][group]["state"][key]["exp_avg"])
    assert _scalars(run_full) == _scalars(run_half)


def test_sigterm_checkpoints_then_the_printed_command_resumes_the_same_run(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 100000, "model_save_freq": 100000, "print_freq": 1,
                                    "sample_freq": 100000})
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), config,
                             "--set", "training.rec_weight=50"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("[3/"):
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    message = err.strip().splitlines()[-1]
    (run,) = run_dirs(tmp_path / "runs")
    assert message.startswith("error: interrupted at iteration ")
    assert message.endswith(f"resume with: python main.py --resume {run}")
    stopped = int(message.split("iteration ")[1].split(";")[0])
    assert os.path.exists(os.path.join(run, "models", f"{stopped}-checkpoint.pt"))
    assert open(os.path.join(run, "log.txt")).read().splitlines()[-1] == message  # what the terminal showed

    # CONFIG lacks the run's --set: resuming with it would train another run, so it stops naming the key.
    assert main.main([config, "--resume", run, "--set", f"training.max_iters={stopped + 2}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: resume: ") and "\n" not in err
    assert "training.rec_weight (50.0 in the run, 100.02 in " in err and "max_iters" not in err
    assert f"python main.py --resume {run};" in err
    # The printed command (plus a longer max_iters, a key safe to change) continues with the run's config.
    assert main.main(["--resume", run, "--set", f"training.max_iters={stopped + 2}"]) == 0
    assert os.path.exists(os.path.join(run, "models", f"{stopped + 2}-checkpoint.pt"))
    resumed = json.load(open(os.path.join(run, f"config_resume_{stopped}.json")))
    assert resumed["training"]["rec_weight"] == 50.0
    # Interrupted again, the bare command reads that newest saved config (its max_iters, its rec_weight).
    assert main.main(["--resume", run, "--set", f"training.max_iters={stopped + 3}"]) == 0
    assert json.load(open(os.path.join(run, f"config_resume_{stopped + 2}.json")))["training"]["rec_weight"] == 50.0


def test_resume_with_the_same_config_and_safe_changes_is_accepted(write_config, tmp_path):
    config = write_config(training={"max_iters": 2, "model_save_freq": 2})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    assert main.main([config, "--resume", run, "--set", "training.max_iters=3", "--set", "training.keep_last=1",
                      "--set", "training.lr=1e-4"]) == 0  # lr: deliberately, with --set
    assert sorted(os.listdir(os.path.join(run, "models"))) == ["3-checkpoint.pt"]


def test_resume_safe_keys_are_documented():
    from utils.config import RESUME_SAFE
    # The resume section lives in docs/training.md; it runs from its heading to the next heading.
    text = open(os.path.join(ROOT, "docs", "training.md"), encoding="utf-8").read()
    start = re.search(r"^#+ Resume and interruptions$", text, re.M).end()
    following = re.search(r"^#+ ", text[start:], re.M)
    section = text[start:start + following.start()] if following else text[start:]
    for key in RESUME_SAFE:
        assert f"`{key}`" in section, key


def test_truncated_checkpoint_falls_back_to_the_previous_one(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 6, "model_save_freq": 3})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    newest = os.path.join(run, "models", "6-checkpoint.pt")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    assert main.main([config, "--resume", run, "--set", "training.max_iters=7"]) == 0
    out = capsys.readouterr().out
    assert f"skipping unreadable checkpoint {newest}" in out
    state = torch.load(os.path.join(run, "models", "7-checkpoint.pt"), weights_only=True)
    assert state["iteration"] == 7


def test_non_finite_loss_stops_without_overwriting(write_config, tmp_path, capsys, monkeypatch):
    real_loss = solver_module.iiae_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            terms["kl_S_loss"] = terms["kl_S_loss"] * float("nan")
            terms["total_loss"] = terms["total_loss"] + terms["kl_S_loss"]
        return terms

    monkeypatch.setattr(solver_module, "iiae_loss", poisoned)
    config = write_config(training={"max_iters": 6, "model_save_freq": 2})
    assert main.main([config]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("error: non-finite loss at iteration 3 in kl_S_loss, total_loss; stopped without saving "
                   "(lower training.lr or the loss weights, or try precision fp32)")
    (run,) = run_dirs(tmp_path / "runs")
    assert sorted(os.listdir(os.path.join(run, "models"))) == ["2-checkpoint.pt"]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_checkpoint_is_refused(write_config, tmp_path, capsys, monkeypatch):
    run = tmp_path / "evil_run"
    (run / "models").mkdir(parents=True)
    torch.save({"model": _Exploit()}, run / "models" / "5-checkpoint.pt")
    config = write_config(train=0, test={"test_path": str(run), "test_iters": 5})
    monkeypatch.chdir(tmp_path)
    assert main.main([config]) == 2
    assert "cannot load checkpoint" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "pwned")


def test_checkpoint_of_another_resolution_or_shape_is_refused_by_name(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 1, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    capsys.readouterr()
    test = [config, "--set", "train=0", "--set", f"test.test_path={run}", "--set", "test.test_iters=1"]
    assert main.main([*test, "--set", "resolution=64"]) == 2
    assert "was saved at resolution 32 but this config has 64" in capsys.readouterr().err
    assert main.main([*test, "--set", "model.shared_dim=16"]) == 2
    err = capsys.readouterr().err
    assert "saved for another network shape" in err and "[16, 16] in the checkpoint but [32, 16]" in err


def test_corrupt_image_is_named_or_skipped(tmp_path, capsys):
    from tests.fakedata import make_mnist_cdcb
    data = make_mnist_cdcb(tmp_path / "data", n_train=8, n_test=4, size=32)
    bad = os.path.join(data, "train", "00004.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really")
    args = ["--set", f"path_to_data={data}", "--set", f"output_root={tmp_path / 'runs'}", "--set", "device=cpu",
            "--set", "resolution=32", "--set", "training.max_iters=2", "--set", "training.batch_size=2",
            "--set", "training.num_workers=0"]
    config = tmp_path / "c.json"
    config.write_text('{"dataset": "MNIST-CDCB", "path_to_data": "x"}')
    assert main.main([str(config), *args]) == 2
    assert bad in capsys.readouterr().err
    with pytest.warns(UserWarning, match="skipped 1 unreadable image files; 7 items remain"):
        assert main.main([str(config), *args, "--set", "data.skip_bad_files=true"]) == 0


def test_resume_removes_partial_checkpoints_of_killed_writers_only(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 2, "model_save_freq": 2})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    models = os.path.join(run, "models")
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = f".3-checkpoint.pt.tmp-{gone.pid}-0123abcd"  # what a SIGKILL mid-write leaves
    live = f".3-checkpoint.pt.tmp-{os.getpid()}-0123abcd"  # a writer still running
    for name in (orphan, live):
        with open(os.path.join(models, name), "wb") as f:
            f.write(b"partial")
    assert main.main(["--resume", run, "--set", "training.max_iters=3"]) == 0
    assert "removed 1 partial checkpoint file(s)" in capsys.readouterr().out
    assert sorted(os.listdir(models)) == [live, "2-checkpoint.pt", "3-checkpoint.pt"]


def test_resume_from_a_weights_only_checkpoint_is_one_line(write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 2, "model_save_freq": 2})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    path = os.path.join(run, "models", "2-checkpoint.pt")
    state = torch.load(path, weights_only=True)
    torch.save({"model": state["model"], "iteration": 2}, path)
    capsys.readouterr()
    assert main.main(["--resume", run, "--set", "training.max_iters=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: checkpoint {path} holds no optimizers, schedulers, scaler, rng state (a weights "
                   "file?), so training cannot continue from it exactly; resume from a training checkpoint")
    assert sorted(os.listdir(os.path.join(run, "models"))) == ["2-checkpoint.pt"]


def test_truncated_jpeg_fails_the_scan_or_is_skipped(tmp_path, capsys):
    from PIL import Image

    from dataloader.base import PairDataset, check_image, pair_by_name
    from tests.fakedata import write_side_by_side
    folders = [tmp_path / "X", tmp_path / "Y"]
    write_side_by_side(tmp_path / "png", 4, size=32)
    for folder in folders:
        folder.mkdir()
        for name in sorted(os.listdir(tmp_path / "png")):
            Image.open(tmp_path / "png" / name).save(folder / name.replace(".png", ".jpg"))
    bad = folders[0] / "00002.jpg"
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    padded = folders[1] / "00003.jpg"  # valid, with bytes after the end-of-image marker: not an error
    padded.write_bytes(padded.read_bytes() + b"\0\0")
    check_image(str(padded))
    with pytest.raises(OSError, match="(?i)truncated"):
        check_image(str(bad))
    dataset = PairDataset(*pair_by_name(str(folders[0]), str(folders[1])), resolution=32)
    with pytest.raises(UserError, match=f"cannot decode image {bad}"):
        dataset.scan()
    with pytest.warns(UserWarning, match="skipped 1 unreadable image files; 3 items remain"):
        assert dataset.scan(skip_bad_files=True) == 1
    assert [dataset[i][2] for i in range(len(dataset))] == ["00001.jpg", "00003.jpg", "00004.jpg"]


def test_existing_run_directory_is_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "2026-01-01_00-00")
    cfg = build_config({"dataset": "MNIST-CDCB", "path_to_data": "x", "id": "r", "output_root": str(tmp_path)})
    existing = tmp_path / "2026-01-01_00-00_r"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    first = rundir.create_run_dir(cfg)
    second = rundir.create_run_dir(cfg)
    assert first == str(existing) + "_2" and second == str(existing) + "_3"
    assert os.listdir(existing) == ["keep.txt"]


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_checkpointing_names_the_file_and_the_last_good_checkpoint(write_config, tmp_path,
                                                                                 capsys, monkeypatch):
    real_save = ckpt.torch.save
    calls = []

    def save(obj, f):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"partial")
            _disk_full()
        real_save(obj, f)

    monkeypatch.setattr(ckpt.torch, "save", save)
    config = write_config(training={"max_iters": 4, "model_save_freq": 2, "sample_freq": 100})
    assert main.main([config]) == 2
    (run,) = run_dirs(tmp_path / "runs")
    models = os.path.join(run, "models")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"error: cannot write checkpoint {models}/4-checkpoint.pt: No space left on device; the last "
                   f"good checkpoint in {models} is iteration 2 (resume with: python main.py --resume {run})")
    assert sorted(os.listdir(models)) == ["2-checkpoint.pt"]  # no temporary left


def test_disk_full_while_writing_a_sample_grid(write_config, tmp_path, capsys, monkeypatch):
    from PIL import Image

    def save(image, fp, *args, **kwargs):
        open(fp, "wb").write(b"partial")
        _disk_full()

    monkeypatch.setattr(Image.Image, "save", save)
    config = write_config(training={"max_iters": 4, "model_save_freq": 2, "sample_freq": 4})
    assert main.main([config]) == 2
    (run,) = run_dirs(tmp_path / "runs")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: cannot write sample grid {run}/samples/4/X2Y.jpg: No space left on device; "
                          f"the last good checkpoint in {run}/models is iteration 2 ")
    assert os.listdir(os.path.join(run, "samples", "4")) == []


def test_two_runs_started_at_once_get_separate_directories(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "2026-01-01_00-00")
    cfg = build_config({"dataset": "MNIST-CDCB", "path_to_data": "x", "id": "r", "output_root": str(tmp_path)})
    target = str(tmp_path / "2026-01-01_00-00_r")
    real_mkdir = os.mkdir

    def rival_first(path, *args, **kwargs):
        if str(path) == target and not os.path.exists(target):
            real_mkdir(target)  # the other run takes the name between the check and the creation
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(rundir.os, "mkdir", rival_first)
    assert rundir.create_run_dir(cfg) == target + "_2"
    assert os.listdir(target) == []


def test_interrupt_message_of_each_process():
    from utils.stopping import Interrupted
    main_process = Interrupted.at(7, "/runs/r", signal.SIGTERM)
    assert str(main_process) == "interrupted at iteration 7; checkpoint saved; resume with: python main.py --resume /runs/r"
    assert main_process.exit_code == 128 + signal.SIGTERM
    other = Interrupted.at(7, None, signal.SIGTERM)  # under torchrun, not rank 0: no run directory
    assert "None" not in str(other) and str(other).startswith("interrupted at iteration 7;")




def _dead_pid():
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_resume_of_a_run_killed_before_its_first_checkpoint_says_so_and_cleans_up(write_config, tmp_path, capsys):
    """A SIGKILL while the first checkpoint is written leaves a run with no checkpoint and a temporary."""
    from utils.config import load_config
    config = write_config()
    run = rundir.create_run_dir(load_config(config))
    partial = os.path.join(run, "models", f".2-checkpoint.pt.tmp-{_dead_pid()}-0123abcd")
    open(partial, "wb").close()
    assert main.main(["--resume", run]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {run} has no checkpoint to resume from (it stopped before writing its first); "
                   f"start it again with: python main.py {os.path.join(run, 'config.json')}")
    assert os.listdir(os.path.join(run, "models")) == []


def test_resuming_past_an_unloadable_newest_checkpoint_keeps_it_aside(write_config, tmp_path, capsys):
    """Training on from the older checkpoint writes the newest's number again: the file a user had there
    is renamed, never replaced."""
    config = write_config(training={"max_iters": 2, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    newest = os.path.join(run, "models", "2-checkpoint.pt")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    damaged = open(newest, "rb").read()
    capsys.readouterr()
    assert main.main(["--resume", run]) == 0
    assert (f"moved the unloadable checkpoint {newest} aside to {newest}.unloadable; continuing from iteration 1"
            in capsys.readouterr().out)
    assert open(newest + ".unloadable", "rb").read() == damaged
    assert torch.load(newest, weights_only=True)["iteration"] == 2
    assert sorted(os.listdir(os.path.join(run, "models"))) == ["1-checkpoint.pt", "2-checkpoint.pt",
                                                              "2-checkpoint.pt.unloadable"]


def test_a_second_resume_of_a_run_being_trained_is_refused_and_a_dead_holder_s_lock_is_taken_over(
        write_config, tmp_path, capsys):
    config = write_config(training={"max_iters": 1, "model_save_freq": 1})
    assert main.main([config]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom utils.runlock import RunLock\n"
                               "with RunLock() as lock:\n    lock.take(sys.argv[1])\n    print('held', flush=True)\n"
                               "    time.sleep(120)", run], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        capsys.readouterr()
        assert main.main(["--resume", run, "--set", "training.max_iters=2"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: {run} is being trained by process {holder.pid} (lock {run}/.training.lock); "
                       "wait for it to finish or stop it")
    finally:
        holder.kill()  # SIGKILL: no cleanup, the lock file stays behind
        holder.wait()
    assert os.path.exists(os.path.join(run, ".training.lock"))
    assert main.main(["--resume", run, "--set", "training.max_iters=2"]) == 0
    assert not os.path.exists(os.path.join(run, ".training.lock"))


def test_a_run_holds_its_lock_while_it_trains(write_config, tmp_path, monkeypatch):
    from utils.runlock import RunLock
    refused = []
    real_save = solver_module.Solver._save

    def save_and_try_the_lock(self, run_dir):
        with RunLock() as rival:
            try:
                rival.take(run_dir)
            except UserError as e:
                refused.append(str(e))
        real_save(self, run_dir)

    monkeypatch.setattr(solver_module.Solver, "_save", save_and_try_the_lock)
    assert main.main([write_config(training={"max_iters": 2, "model_save_freq": 2})]) == 0
    (run,) = run_dirs(tmp_path / "runs")
    assert refused == [f"{run} is being trained by process {os.getpid()} (lock {run}/.training.lock); "
                       "wait for it to finish or stop it"]
