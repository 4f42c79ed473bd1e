import json
import os
import subprocess
import sys

import pytest

from tests.fakedata import make_mnist_cdcb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory):
    """What runs build once and keep for later runs (the content measure's digit classifier) goes to a
    folder of the test session, also for the commands tests start as subprocesses."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A raw-layout MNIST-CDCB set of 32 px halves: 16 training pairs, 6 test pairs."""
    return make_mnist_cdcb(tmp_path_factory.mktemp("data"), n_train=16, n_test=6, size=32)


@pytest.fixture
def write_config(tmp_path, tiny_data):
    """write_config(**sections) -> path of a tiny, fast config (32 px, batch 4) merged with sections."""
    def write(name="config.json", **sections):
        cfg = {"id": "tiny", "model": "IIAE", "dataset": "MNIST-CDCB", "path_to_data": tiny_data,
               "train": 1, "resolution": 32, "output_root": str(tmp_path / "runs"), "device": "cpu",
               "training": {"max_iters": 6, "batch_size": 4, "print_freq": 2, "sample_freq": 3,
                            "model_save_freq": 3, "num_workers": 0},
               "test": {"batch_size": 3}}
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(cfg.get(key, {}), dict):
                cfg.setdefault(key, {}).update(value)
            else:
                cfg[key] = value
        path = tmp_path / name
        path.write_text(json.dumps(cfg))
        return str(path)
    return write


def run_cli(*args, timeout=300):
    """python main.py ARGS in a subprocess; returns CompletedProcess with text output."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def run_dirs(output_root):
    return sorted(os.path.join(output_root, d) for d in os.listdir(output_root)) if os.path.isdir(output_root) else []
