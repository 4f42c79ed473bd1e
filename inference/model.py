"""A trained model from a run directory, a checkpoint file or a weights file.

A run directory builds the network its config.json describes and loads a checkpoint into it, so a
checkpoint of another resolution or model section is refused by name. A checkpoint or weights file
carries its own resolution and model section. A weights file (export.py) is a checkpoint without
the optimizer, scheduler and RNG state: the networks' parameters and buffers, the resolution, the
model section of the config and the iteration, loadable with torch.load(weights_only=True).
"""
import json
import os
from dataclasses import dataclass
from typing import Optional

import torch

from models.iiae import IIAE, check_decoder, check_feature_norm
from utils.checkpoint import find_checkpoint, load_checkpoint, load_model_state
from utils.config import build_config, load_config
from utils.distributed import pick_device
from utils.errors import UserError

WEIGHTS_FORMAT = "IIAE weights"


@dataclass
class Loaded:
    model: IIAE          # in eval mode, on its device
    resolution: int
    model_config: dict   # the model section, every default filled in
    iteration: int
    path: str            # the checkpoint or weights file read
    run_dir: Optional[str] = None


def inference_device(requested):
    """--device auto|cpu|cuda|cuda:N as a torch.device."""
    if requested not in ("auto", "cpu", "cuda") and not (requested.startswith("cuda:") and requested[5:].isdigit()):
        raise UserError(f"--device {requested}: use auto, cpu, cuda or cuda:N")
    try:
        return pick_device(requested)
    except UserError:
        raise UserError(f"--device {requested}: no such CUDA device here "
                        f"({torch.cuda.device_count()} available); use auto or cpu") from None


def _checked(resolution, section, origin):
    """resolution and model section validated as a config would be (unknown keys, types), defaults filled in."""
    try:
        return build_config({"dataset": "", "path_to_data": "", "resolution": resolution, "model": section})
    except UserError as e:
        raise UserError(f"{origin}: {e}") from None


def _from_run(run_dir, checkpoint):
    """(config, iteration, checkpoint path, weights, what to check if they do not fit) of a run directory."""
    config_path = os.path.join(run_dir, "config.json")
    cfg = load_config(config_path)
    iteration, path, state = find_checkpoint(run_dir, checkpoint)
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"checkpoint {path} is not an IIAE checkpoint (no 'model' entry)")
    if state.get("resolution") != cfg.resolution:
        raise UserError(f"checkpoint {path} was saved at resolution {state.get('resolution')} but "
                        f"{config_path} has {cfg.resolution}")
    return cfg, iteration, path, state["model"], f"check the model section of {config_path}"


def _from_file(path):
    """The same for a checkpoint or weights file, which carries its own resolution and model section."""
    state = load_checkpoint(path)
    if isinstance(state, dict) and state.get("format") == WEIGHTS_FORMAT and "model" in state:
        section = state.get("model_config")
    elif isinstance(state, dict) and isinstance(state.get("config"), str) and "model" in state:
        section = json.loads(state["config"]).get("model")
    else:
        raise UserError(f"{path} is neither an IIAE checkpoint nor a weights file written by export.py")
    cfg = _checked(state.get("resolution"), section, path)
    return cfg, int(state.get("iteration", 0)), path, state["model"], "the file does not match its own model section"


def load_model(source, checkpoint=None, device="cpu"):
    """The model of `source` (a run directory, or a checkpoint or weights file) in eval mode on
    `device`. checkpoint (an iteration or "latest", the default) picks a run directory's checkpoint."""
    if os.path.isdir(source):
        cfg, iteration, path, weights, hint = _from_run(source, checkpoint or "latest")
    elif os.path.isfile(source):
        if checkpoint is not None:
            raise UserError(f"--checkpoint picks a checkpoint of a run directory, but {source} is a file")
        cfg, iteration, path, weights, hint = _from_file(source)
    else:
        raise UserError(f"model not found: {source} (give a run directory, a checkpoint or a weights file)")
    model = IIAE.from_config(cfg.resolution, cfg.model)
    check_feature_norm(weights, cfg.model.feature_norm, path)
    check_decoder(weights, cfg.model.decoder, path)
    load_model_state(model, weights, path, hint)
    model.to(device).eval()
    return Loaded(model, cfg.resolution, cfg.model.to_dict(), iteration, path,
                  source if os.path.isdir(source) else None)


def weights_state(loaded):
    """The content of loaded's weights file: what inference needs, no optimizer state."""
    return {"format": WEIGHTS_FORMAT, "iteration": loaded.iteration, "resolution": loaded.resolution,
            "model_config": loaded.model_config,
            "model": {name: t.detach().cpu() for name, t in loaded.model.state_dict().items()}}
