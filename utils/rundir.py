"""Run directories: `<output_root>/<YYYY-MM-DD_HH-MM>_<id>/` with config.json, logs/, samples/,
results/ and models/. An existing directory is never overwritten: a suffix makes the name new."""
import json
import os
import time


def _unique(path):
    candidate, n = path, 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}_{n}"
    return candidate


def create_run_dir(cfg, resume_dir=None, iteration=0):
    """A new run directory for cfg, or resume_dir when continuing a run (its config.json is kept and
    the resumed config saved beside it)."""
    if resume_dir:
        run_dir = resume_dir
        config_name = f"config_resume_{iteration}.json"
    else:
        name = f"{time.strftime('%Y-%m-%d_%H-%M')}_{cfg.id}"
        run_dir = _unique(os.path.join(cfg.output_root, name))
        config_name = "config.json"
    for sub in ("logs", "samples", "results", "models"):
        os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
    with open(os.path.join(run_dir, config_name), "w", encoding="utf-8") as f:
        json.dump(cfg.to_dict(), f, indent=4)
    return run_dir


def fresh_name(run_dir, name):
    """run_dir/name if it is missing or empty, else run_dir/name_2, _3, ...: earlier results stay."""
    path = os.path.join(run_dir, name)
    return _unique(path) if os.path.isdir(path) and os.listdir(path) else path


def fresh_subdir(run_dir, name):
    """fresh_name(run_dir, name), created."""
    path = fresh_name(run_dir, name)
    os.makedirs(path, exist_ok=True)
    return path
