"""A trained model for inference (translate.py, encode.py, export.py): models.loading.load_trained in
eval mode on the device asked for, and the weights file export.py writes."""
import torch

from models.loading import WEIGHTS_FORMAT, load_trained
from utils.config import is_device_name
from utils.distributed import pick_device
from utils.errors import UserError


def inference_device(requested):
    """--device auto|cpu|cuda|cuda:N as a torch.device."""
    if not is_device_name(requested):
        raise UserError(f"--device {requested}: use auto, cpu, cuda or cuda:N")
    try:
        return pick_device(requested)
    except UserError:
        raise UserError(f"--device {requested}: no such CUDA device here "
                        f"({torch.cuda.device_count()} available); use auto or cpu") from None


def load_model(source, checkpoint=None, device="cpu"):
    """The models.loading.Trained of `source` (a run directory, or a checkpoint or weights file) in eval
    mode on `device`. checkpoint (an iteration or "latest", the default) picks a run directory's checkpoint."""
    trained = load_trained(source, checkpoint, device)
    trained.model.eval()
    return trained


def weights_state(trained):
    """The content of a weights file: what inference needs, no optimizer state."""
    return {"format": WEIGHTS_FORMAT, "iteration": trained.iteration, "resolution": trained.resolution,
            "model_config": trained.model_section,
            "model": {name: t.detach().cpu() for name, t in trained.model.state_dict().items()}}
