import os

import pytest
import torch

from utils import checkpoint as ckpt
from utils.errors import UserError


def test_keep_last_prunes_and_no_pointer_file_is_written(tmp_path):
    models = str(tmp_path)
    for it in (5, 10, 15, 20):
        ckpt.save_checkpoint(models, it, {"iteration": it}, keep_last=2)
    assert ckpt.available_iterations(models) == [15, 20]
    assert sorted(os.listdir(models)) == ["15-checkpoint.pt", "20-checkpoint.pt"]  # no stale pointer


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    models = str(tmp_path)
    ckpt.save_checkpoint(models, 5, {"w": torch.ones(3)})

    def crash(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(models, 5, {"w": torch.zeros(3)})
    assert sorted(os.listdir(models)) == ["5-checkpoint.pt"]
    assert torch.equal(ckpt.load_checkpoint(os.path.join(models, "5-checkpoint.pt"))["w"], torch.ones(3))


def test_latest_skips_unloadable_and_reports_when_none_load(tmp_path):
    run = tmp_path / "run"
    ckpt.save_checkpoint(str(run / "models"), 1, {"iteration": 1})
    (run / "models" / "2-checkpoint.pt").write_bytes(b"garbage")
    it, _, state = ckpt.find_checkpoint(str(run), "latest")
    assert it == 1 and state["iteration"] == 1
    (run / "models" / "1-checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="no loadable checkpoint"):
        ckpt.find_checkpoint(str(run), "latest")


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("kind", ["random bytes", "hostile pickle", "truncated"])
def test_an_unloadable_checkpoint_is_refused_without_advising_the_unsafe_load(tmp_path, monkeypatch, kind):
    """torch's own message says re-running torch.load with weights_only=False will likely succeed: the
    one thing that would run a hostile file's code. The line says what the file is instead."""
    path = tmp_path / "5-checkpoint.pt"
    if kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "hostile pickle":
        torch.save({"model": _Hostile()}, path)
    else:
        ckpt.save_checkpoint(str(tmp_path), 5, {"w": torch.ones(100)})
        path.write_bytes(path.read_bytes()[:300])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as refused:
        ckpt.load_checkpoint(str(path))
    message = str(refused.value)
    assert message.startswith(f"cannot load checkpoint {path}: not a checkpoint this project can load safely")
    assert "\n" not in message and "weights_only" not in message and "False" not in message
    assert not (tmp_path / "pwned").exists()


def test_a_checkpoint_that_names_the_decoder_stem_seed_still_loads():
    """Checkpoints made before the decoders' first layer was renamed `stem` call it `seed`."""
    from models.loading import build_model, restore_networks
    from utils.config import build_config

    section = build_config({"dataset": "", "path_to_data": "", "resolution": 32}).model
    saved = build_model(32, section)
    old_names = {name.replace(".stem.", ".seed."): t for name, t in saved.state_dict().items()}
    assert any(".seed." in name for name in old_names)
    loaded = build_model(32, section)
    restore_networks(loaded, {"model": old_names, "resolution": 32}, "old.pt", 32, section)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), loaded.state_dict().values()))
