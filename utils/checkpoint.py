"""Checkpoints: `models/<iter>-checkpoint.pt` in a run directory, and CheckpointIO, the state of a
training run saved and restored as one.

Writes go to a temporary file that is renamed into place, so a kill mid-write leaves the previous
checkpoint intact. Loading uses
`torch.load(weights_only=True)`, so a checkpoint from elsewhere cannot run code, and a file that
does not load (truncated, corrupt, hostile) is reported by name.
"""
import errno
import json
import os
import pickle
import re

import torch

from utils.errors import UserError
from utils.files import atomic_path
from utils.training_state import check_training_state, shown

_NAME = re.compile(r"^(\d+)-checkpoint\.pt$")


def checkpoint_path(models_dir, iteration):
    return os.path.join(models_dir, f"{iteration}-checkpoint.pt")


def is_checkpoint_name(name):
    return bool(_NAME.match(name))


def available_iterations(models_dir):
    """Iterations with a checkpoint file in models_dir, ascending."""
    if not os.path.isdir(models_dir):
        return []
    return sorted(int(m.group(1)) for m in map(_NAME.match, os.listdir(models_dir)) if m)


def torch_save(obj, f):
    """torch.save into the open binary file f, a failed write raised as the OSError it is: torch reports a
    write the file system refused (a full disk, a file size limit) as `RuntimeError: [enforce fail at
    inline_container.cc] unexpected pos`, which the callers, who name the file, would not recognise."""
    try:
        torch.save(obj, f)
    except RuntimeError as e:
        if isinstance(e.__context__, OSError):
            raise e.__context__ from None
        if "inline_container" in str(e):
            raise OSError(errno.EIO, f"the file was not written whole ({str(e).splitlines()[0]})") from None
        raise


def save_checkpoint(models_dir, iteration, state, keep_last=0):
    """Write `state` atomically as iteration's checkpoint and prune to keep_last. No pointer to the newest
    is kept: the listing names it, and find_checkpoint falls back past one that does not load."""
    os.makedirs(models_dir, exist_ok=True)
    path = checkpoint_path(models_dir, iteration)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch_save(state, f)
    if keep_last > 0:
        for old in available_iterations(models_dir)[:-keep_last]:
            os.remove(checkpoint_path(models_dir, old))
    return path


def load_checkpoint(path, map_location="cpu"):
    if not os.path.isfile(path):
        raise UserError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for bad files; all mean "not a usable checkpoint"
        raise UserError(f"cannot load checkpoint {path}: not a checkpoint this project can load safely "
                        f"({_why_unloadable(e)})") from None


def _why_unloadable(error):
    """torch's reason, except where it is its weights-only refusal: that message advises loading with
    weights_only=False, which would run whatever code a hostile file holds."""
    text = str(error).strip()
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in text or not text:
        return "not a torch file, or it holds objects other than tensors and plain data, which are refused " \
               "so that loading runs no code"
    return f"truncated or corrupt: {text.splitlines()[0].split('. ')[0]}"


def find_checkpoint(run_dir, iteration):
    """The checkpoint of `iteration` ("latest" = newest that loads) in run_dir/models, loaded.
    Returns (iteration, path, state). A missing one lists the iterations that exist."""
    models_dir = os.path.join(run_dir, "models")
    if not os.path.isdir(run_dir):
        raise UserError(f"run directory not found: {run_dir}")
    existing = available_iterations(models_dir)
    if iteration == "latest":
        if not existing:
            raise UserError(f"no checkpoints in {models_dir}")
        errors = []
        for it in reversed(existing):
            try:
                path = checkpoint_path(models_dir, it)
                return it, path, load_checkpoint(path)
            except UserError as e:
                errors.append(str(e))
                print(f"warning: skipping unreadable checkpoint {path}; trying an older one", flush=True)
        raise UserError(f"no loadable checkpoint in {models_dir}: {errors[0]}")
    path = checkpoint_path(models_dir, iteration)
    if iteration not in existing:
        listing = ", ".join(map(str, existing)) if existing else "none"
        raise UserError(f"checkpoint for iteration {iteration} not found: {path} (available iterations: {listing})")
    return iteration, path, load_checkpoint(path)


def checkpoint_fields(state, path):
    """(iteration, config) of a loaded checkpoint or weights file, checked, since a file from elsewhere may
    hold anything weights_only loading lets through: `model` named tensors, `iteration` a non-negative
    integer (0 when absent), `config` JSON text of an object (returned as a dict; {} when absent)."""
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"checkpoint {path} is not an IIAE checkpoint (no 'model' entry)")
    weights = state["model"]
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise UserError(f"checkpoint {path}: 'model' is not a set of named tensors")
    iteration = state.get("iteration", 0)
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise UserError(f"checkpoint {path}: 'iteration' is {shown(iteration)}, not an iteration number")
    config = state.get("config", "{}")
    try:
        config = json.loads(config) if isinstance(config, str) else None
    except (ValueError, RecursionError):  # not JSON, an integer of too many digits, nesting too deep
        config = None
    if not isinstance(config, dict):
        raise UserError(f"checkpoint {path}: 'config' holds no JSON object")
    return iteration, config


class CheckpointIO:
    """Everything a run needs to continue exactly, saved and restored as one: the networks, the named
    optimizers and schedulers, the gradient scaler, the iteration and the RNG state. `config` (a plain
    dict) is saved beside them as JSON text, so a checkpoint says how it was made."""

    def __init__(self, model, optimizers, schedulers, scaler, resolution, config):
        self.model, self.optimizers, self.schedulers, self.scaler = model, optimizers, schedulers, scaler
        self.resolution, self.config = resolution, config
        self._rng = None

    def state(self, iteration):
        return {
            "iteration": iteration,
            "resolution": self.resolution,
            "config": json.dumps(self.config),
            "model": self.model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def save(self, models_dir, iteration, keep_last=0):
        return save_checkpoint(models_dir, iteration, self.state(iteration), keep_last)

    def load(self, state, path):
        """Restore the training state of a loaded checkpoint whose networks models.loading.restore_networks
        has loaded; returns its iteration. The RNG state waits for restore_rng(), since building data
        loaders and the like in between must not disturb it."""
        missing = [key for key in ("optimizers", "schedulers", "scaler", "rng") if key not in state]
        if missing:
            raise UserError(f"checkpoint {path} holds no {', '.join(missing)} state (a weights file?), so training "
                            "cannot continue from it exactly; resume from a training checkpoint")
        check_training_state(state, path, self.optimizers, self.schedulers, self.scaler)
        for name in self.optimizers:
            self.optimizers[name].load_state_dict(state["optimizers"][name])
            self.schedulers[name].load_state_dict(state["schedulers"][name])
        if state["scaler"]:  # {}: saved without fp16, which this resume turns on; the fresh scaler starts
            self.scaler.load_state_dict(state["scaler"])
        self._rng = state["rng"]
        return int(state.get("iteration", 0))

    def restore_rng(self):
        """Put back the loaded checkpoint's RNG state (once; nothing when none was loaded), just before
        the first step, so dropout and sampling continue exactly where the interrupted run left off."""
        rng, self._rng = self._rng, None
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"][:torch.cuda.device_count()])
