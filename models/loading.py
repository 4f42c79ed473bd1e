"""The one way weights reach a model: training's resume, test mode, the inference commands and the
benches all build the network here and load a checkpoint's networks through restore_networks, so
every check (an IIAE checkpoint at all, its architecture keys, resolution, parameter names and
shapes) is made in one place and fails with one line naming the file."""
import re

from models.iiae import IIAE, check_decoder, check_feature_norm
from utils.checkpoint import checkpoint_fields
from utils.errors import UserError


def build_model(resolution, model_section, device="cpu"):
    """The IIAE network a config's resolution and model section describe, on `device`."""
    return IIAE.from_config(resolution, model_section).to(device)


def networks_of(state, path):
    """The networks' state_dict in a loaded checkpoint, its fields checked (checkpoint_fields), under
    today's parameter names: the decoders' first layer, once called `seed`, is their `stem`."""
    checkpoint_fields(state, path)
    return {re.sub(r"^(decoders\.\d+)\.seed\.", r"\1.stem.", name): tensor for name, tensor in state["model"].items()}


def _load_state(model, weights, path, hint):
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
                            f"{list(tensor.shape)} in the checkpoint but {list(own[name].shape)} for this config ({hint})")
    model.load_state_dict(weights)


def restore_networks(model, state, path, resolution, model_section, hint="check the model section"):
    """Load a loaded checkpoint's (or weights file's) networks into `model`, built by build_model for
    `resolution` and `model_section`."""
    weights = networks_of(state, path)
    check_feature_norm(weights, model_section["feature_norm"], path)
    check_decoder(weights, model_section["decoder"], path)
    saved = state.get("resolution")
    if saved != resolution:
        hint = f"saved at resolution {saved}; this config has {resolution}"
    _load_state(model, weights, path, hint)
