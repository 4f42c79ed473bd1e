"""The memory a training run needs at the least, checked before anything is allocated, so a network too
large for the machine stops with one line instead of an out-of-memory traceback (or the kernel's kill)."""
import os

import torch

from utils.errors import UserError

# float32 weights, their gradients and Adam's two moments; activations come on top.
BYTES_PER_PARAMETER = 16


def parameter_count(build):
    """Parameters of the module build() returns, built on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())


def available_bytes(device):
    """Free memory of `device` in bytes: the GPU's, or the machine's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_training_memory(build, device, hint):
    """UserError when the parameters of build()'s network, with their gradients and optimizer state,
    alone exceed the free memory of `device`; `hint` says what to change."""
    count = parameter_count(build)
    need, have = count * BYTES_PER_PARAMETER, available_bytes(device)
    if need > have:
        raise UserError(f"config: the network of this config has {count / 1e6:,.1f} M parameters; training needs "
                        f"at least {need / 2 ** 30:,.2f} GiB for them, their gradients and Adam's state, but {device} "
                        f"has {have / 2 ** 30:,.2f} GiB available; {hint}")
