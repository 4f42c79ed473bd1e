"""Process and device setup. Under torchrun (WORLD_SIZE > 1) each process joins a process group
(NCCL on CUDA, gloo on CPU) and takes one device; plain `python main.py` sets nothing up."""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from utils.errors import UserError


@dataclass
class Context:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def pick_device(requested, local_rank=0):
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(f"config: 'device' is \"{requested}\" but CUDA is not available here; use \"auto\" or \"cpu\"")
    index = int(requested.split(":")[1]) if ":" in requested else local_rank
    if index >= torch.cuda.device_count():
        raise UserError(f"config: 'device' is \"{requested}\" but only {torch.cuda.device_count()} CUDA devices exist")
    return torch.device(f"cuda:{index}")


def setup(requested_device):
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world_size, device_id=device if device.type == "cuda" else None)
    return Context(device, rank, world_size, local_rank)


def teardown(context):
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag, context):
    """True on every process if `flag` is true on any (so all stop at the same step)."""
    if not context.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_processes(tensor, context):
    """The mean of `tensor` over all processes (for logging; every process must call it)."""
    if not context.distributed:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor / context.world_size
