"""The one way weights reach a model: training's resume, test mode, the inference commands and the
benches all load a trained model with load_trained, so every check (an IIAE checkpoint at all, its
architecture keys, resolution, parameter names and shapes) is made in one place and fails with one
line naming the file.

A source is a run directory (the network its config.json describes, one of its checkpoints loaded into
it), a checkpoint file or a weights file (export.py), which carry their own resolution and model
section. A weights file is a checkpoint without the optimizer, scheduler and RNG state: the networks'
parameters and buffers, the resolution, the model section of the config and the iteration, loadable
with torch.load(weights_only=True).
"""
import os
import re
from dataclasses import dataclass
from typing import Optional

import torch

from models.iiae import IIAE, check_decoder, check_feature_norm
from utils.checkpoint import checkpoint_fields, find_checkpoint, load_checkpoint
from utils.config import build_config, load_config
from utils.errors import UserError
from utils.memory import check_loading_memory

WEIGHTS_FORMAT = "IIAE weights"


@dataclass
class Trained:
    model: IIAE          # on the device asked for, in the mode it was built in
    resolution: int
    model_section: dict  # the model section it was built from, every default filled in
    iteration: int
    path: str            # the checkpoint or weights file read
    state: dict          # everything that file holds (resume restores the training state from it)
    run_dir: Optional[str] = None


def build_model(resolution, model_section, device="cpu"):
    """The IIAE network a config's resolution and model section describe, on `device`."""
    return IIAE.from_config(resolution, model_section).to(device)


def networks_of(state, path):
    """The networks' state_dict in a loaded checkpoint, its fields checked (checkpoint_fields), under
    today's parameter names: the decoders' first layer, once called `seed`, is their `stem`."""
    checkpoint_fields(state, path)
    return {re.sub(r"^(decoders\.\d+)\.seed\.", r"\1.stem.", name): tensor for name, tensor in state["model"].items()}


def _load_state(model, weights, path, origin):
    """load_state_dict with a message naming the first parameter that does not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise UserError(f"checkpoint {path} holds a different network: parameter '{name}' is "
                        f"{'missing from it' if missing else 'not in this model'}")
    for name, tensor in weights.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise UserError(f"checkpoint {path} was saved for another network shape: '{name}' is "
                            f"{list(tensor.shape)} in the checkpoint but {list(own[name].shape)} for the model section of {origin}")
    model.load_state_dict(weights)


def restore_networks(model, state, path, resolution, model_section, origin="this config"):
    """Load a loaded checkpoint's (or weights file's) networks into `model`, built by build_model for
    `resolution` and `model_section`, which come from `origin` (named in the messages)."""
    weights = networks_of(state, path)
    check_feature_norm(weights, model_section["feature_norm"], path)
    check_decoder(weights, model_section["decoder"], path)
    saved = state.get("resolution")  # absent from files made elsewhere: the shapes below decide
    if saved is not None and saved != resolution:
        raise UserError(f"checkpoint {path} was saved at resolution {saved} but {origin} has {resolution}")
    _load_state(model, weights, path, origin)


def _own_config(state, path):
    """The resolution and model section a checkpoint or weights file carries, validated as a config
    would be (unknown keys, types), defaults filled in."""
    weights_file = isinstance(state, dict) and state.get("format") == WEIGHTS_FORMAT and "model" in state
    if not weights_file and not (isinstance(state, dict) and isinstance(state.get("config"), str) and "model" in state):
        raise UserError(f"{path} is neither an IIAE checkpoint nor a weights file written by export.py")
    _, config = checkpoint_fields(state, path)
    section = state.get("model_config") if weights_file else config.get("model")
    try:
        return build_config({"dataset": "", "path_to_data": "", "resolution": state.get("resolution"),
                             "model": section})
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def load_trained(source, checkpoint=None, device="cpu", config=None, into=None):
    """The trained model of `source`: a run directory (checkpoint: an iteration or "latest", the default),
    a checkpoint file or a weights file. config: a Config whose resolution and model section the network
    is built from instead of the source's own (test mode and resume run with the config they were given);
    into: a network already built from it to load into (resume: its optimizers hold its parameters). With a
    config, source is a run directory: test mode and resume read and write one."""
    if config is not None or os.path.isdir(source):
        iteration, path, state = find_checkpoint(source, checkpoint or "latest")
        config_path = os.path.join(source, "config.json")
        origin = "this config" if config is not None else config_path
        described_in = "config" if config is not None else config_path
        config = config if config is not None else load_config(config_path)
        run_dir = source
    elif os.path.isfile(source):
        if checkpoint is not None:
            raise UserError(f"--checkpoint picks a checkpoint of a run directory, but {source} is a file")
        path, state, run_dir = source, load_checkpoint(source), None
        iteration = checkpoint_fields(state, path)[0]
        origin, described_in = "the file itself", path
        config = _own_config(state, path)
    else:
        raise UserError(f"model not found: {source} (give a run directory, a checkpoint or a weights file)")
    model = into
    if model is None:
        check_loading_memory(lambda: build_model(config.resolution, config.model, "meta"), torch.device(device),
                             described_in)
        model = build_model(config.resolution, config.model, device)
    restore_networks(model, state, path, config.resolution, config.model, origin)
    return Trained(model, config.resolution, config.model.to_dict(), iteration, path, state, run_dir)
