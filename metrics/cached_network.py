"""A small network that a measure trains once and keeps on disk (the digit and shape classifiers)."""
import os

import torch

from utils.checkpoint import torch_save
from utils.errors import UserError
from utils.files import atomic_path


def load_or_train(path, network, train, what):
    """The weights at `path` loaded into `network()`, or `train()`'s network saved there when the file is
    absent; on the CPU, in eval mode. A file that is not such a network stops with a message naming it
    (`what`: e.g. "a digit classifier")."""
    if os.path.isfile(path):
        model = network()
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:  # unpickling and load_state_dict raise many types; all mean "not this network"
            raise UserError(f"{path} is not {what} this version can read ({type(e).__name__}); "
                            "delete it to train a new one") from None
        return model.eval()
    model = train()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch_save(model.state_dict(), f)
    return model
