"""Run directories: `<output_root>/<YYYY-MM-DD_HH-MM>_<id>/` with config.json, logs/, samples/,
results/ and models/. An existing directory is never overwritten: a suffix makes the name new."""
import contextlib
import json
import os
import re
import shutil
import tempfile
import time

from utils.errors import UserError
from utils.files import atomic_path

_RESUMED = re.compile(r"^config_resume_(\d+)\.json$")
_STAMP = "%Y-%m-%d_%H-%M"  # a run directory is <output_root>/<stamp>_<id>, then _2, _3, ... when taken
NAME_MAX = 255  # the bytes of one name on Linux's and macOS's file systems
_ID_MAX = NAME_MAX - len(time.strftime(_STAMP)) - len("_") - len("_999")


def run_path_problem(named):
    """(key, why) for the first of `named` ({config key: text}: "id", the name of a new run directory, or
    a folder a run directory is made in or is) that breaks the file system's or TensorBoard's rules, else
    None. A name holds at most NAME_MAX bytes, and TensorBoard writes its event files only under UTF-8
    paths (Python holds a name that is not UTF-8 with surrogates, standing for the file system's bytes)."""
    for key, text in named.items():
        try:
            encoded = text.encode("utf-8")
        except UnicodeEncodeError as e:
            char = e.object[e.start]
            if "\udc80" <= char <= "\udcff":  # os.fsdecode's stand-in for a byte that is not UTF-8
                return key, (f"it holds the byte 0x{ord(char) - 0xdc00:02x}, which is not UTF-8, and TensorBoard "
                             "writes its event files only under UTF-8 paths: choose a UTF-8 name")
            return key, ("it cannot be part of a file name: no file system takes a lone surrogate "
                         f"({char.encode('unicode_escape').decode()})")
        too_long = [part for part in encoded.split(b"/") if len(part) > NAME_MAX] if key != "id" else []
        if too_long:
            return key, (f"its part '{too_long[0].decode()[:40]}...' is {len(too_long[0])} bytes as the file "
                         f"system takes it; a name holds at most {NAME_MAX}")
        if key == "id" and len(encoded) > _ID_MAX:
            return key, (f"it names the run directory, which the file system takes as bytes: this id is "
                         f"{len(encoded)}, and a name holds at most {NAME_MAX}, so an id at most {_ID_MAX} (with "
                         "the date before it and a number after it)")
    return None


def _unique(path):
    candidate, n = path, 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}_{n}"
    return candidate


def _make_new(path):
    """Create and return path, or path_2, path_3, ...: the first that this call itself created, so two runs
    started at the same instant never share one (os.mkdir fails on a name another process just took)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    candidate = _unique(path)
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            candidate = _unique(path)


def create_run_dir(cfg, resume_dir=None, iteration=0):
    """A new run directory for cfg, or resume_dir when continuing a run (its config.json is kept and
    the resumed config saved beside it). The config is written whole or not at all: an empty
    config_resume_<iter>.json would be what the next resume reads. A write that fails (a full disk) is a
    UserError, and a new directory is removed again."""
    if resume_dir:
        run_dir = resume_dir
        config_name = f"config_resume_{iteration}.json"
    else:
        name = f"{time.strftime(_STAMP)}_{cfg.id}"
        run_dir = _make_new(os.path.join(cfg.output_root, name))
        config_name = "config.json"
    path = os.path.join(run_dir, config_name)
    try:
        for sub in ("logs", "samples", "results", "models"):
            os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(cfg.to_dict(), f, indent=4)
    except OSError as e:
        if not resume_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return run_dir


def check_writable(folder, what):
    """UserError naming `what` unless `folder` exists or can be created, and files can be written in it;
    called before any work starts. Creates nothing that stays. It writes real bytes: on a full disk an
    empty file can still be created."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError(f"{what} {folder} cannot be a folder: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing) as f:
            f.write(bytes(4096))  # one block
            f.flush()
            os.fsync(f.fileno())  # where space is allocated late (XFS, NFS), the full disk shows here
    except OSError as e:
        raise UserError(f"{what} {folder} is not writable: cannot write a file in {existing} ({e.strerror})") from None


@contextlib.contextmanager
def results_or_nothing(run_dir):
    """While test mode writes its results folder (staged and renamed when complete, so none stays
    half-filled), a failed write (a full disk) is one UserError."""
    try:
        yield
    except OSError as e:
        raise UserError(f"cannot write the test results in {run_dir}: {e.strerror or e}") from None


def run_holding(path):
    """The run directory whose own file `path` would be (one in the run directory itself, its models/ or a
    results folder), else None. A run directory: a folder with config.json and models/."""
    folder = os.path.dirname(os.path.abspath(path))
    for run_dir in (folder, os.path.dirname(folder)):
        inside = os.path.relpath(folder, run_dir)
        if (inside == "." or inside == "models" or inside.startswith("results")) and \
                os.path.isfile(os.path.join(run_dir, "config.json")) and os.path.isdir(os.path.join(run_dir, "models")):
            return run_dir
    return None


def saved_config_path(run_dir):
    """The config a run last trained with: its newest config_resume_<iter>.json, else its config.json."""
    resumed = sorted((int(m.group(1)), m.group(0)) for m in map(_RESUMED.match, _listing(run_dir)) if m)
    return os.path.join(run_dir, resumed[-1][1] if resumed else "config.json")


def _listing(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def fresh_name(run_dir, name):
    """run_dir/name if it is missing or empty, else run_dir/name_2, _3, ...: earlier results stay."""
    path = os.path.join(run_dir, name)
    return _unique(path) if os.path.isdir(path) and os.listdir(path) else path
