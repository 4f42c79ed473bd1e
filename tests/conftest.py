import json
import os
import subprocess
import sys

import pytest
import torch

from metrics import content
from tests.fakedata import make_mnist_cdcb
from tests.small import NARROW, SMALL_CLASSIFIER
from utils.files import user_cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory):
    """What runs build once and keep for later runs goes to a folder of the test session, also for the
    commands tests start as subprocesses. The content measure's digit classifier for the tests' 32 px is
    the small one, put there first: the real one trains for about 25 s."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    os.makedirs(user_cache_dir())
    small = content.train_classifier(32, **SMALL_CLASSIFIER)
    torch.save(small.state_dict(), content.cache_path(32, user_cache_dir()))
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
    """write_config(**sections) -> path of a tiny, fast config (32 px, batch 4, the narrow network unless
    narrow=False) merged with sections."""
    def write(name="config.json", narrow=True, **sections):
        cfg = {"id": "tiny", "model": dict(NARROW) if narrow else "IIAE", "dataset": "MNIST-CDCB", "path_to_data": tiny_data,
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
