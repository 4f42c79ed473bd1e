"""The memory a network needs at the least, for training or for loading a trained one, checked before
anything is allocated, so a network too large for the machine stops with one line instead of an
out-of-memory traceback (or the kernel's kill)."""
import os

import torch

from utils.errors import UserError

# float32 weights, their gradients and Adam's two moments; activations come on top.
BYTES_PER_PARAMETER = 16
BYTES_PER_WEIGHT = 4  # float32: what a trained network's parameters alone take


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


def _needs(build, device, bytes_per_parameter):
    """(parameters of build()'s network, the bytes they take, the bytes `device` has free)."""
    count = parameter_count(build)
    return count, count * bytes_per_parameter, available_bytes(device)


def check_training_memory(build, device, hint):
    """UserError when the parameters of build()'s network, with their gradients and optimizer state,
    alone exceed the free memory of `device`; `hint` says what to change."""
    count, need, have = _needs(build, device, BYTES_PER_PARAMETER)
    if need > have:
        raise UserError(f"config: the network of this config has {count / 1e6:,.1f} M parameters; training needs "
                        f"at least {need / 2 ** 30:,.2f} GiB for them, their gradients and Adam's state, but {device} "
                        f"has {have / 2 ** 30:,.2f} GiB available; {hint}")


def check_loading_memory(build, device, source):
    """UserError naming `source` (the file whose model section build() follows) when the weights of
    build()'s network alone exceed the free memory of `device`: a small file can ask for any network."""
    count, need, have = _needs(build, device, BYTES_PER_WEIGHT)
    if need > have:
        raise UserError(f"{source}: its model section describes a network of {count / 1e6:,.1f} M parameters, "
                        f"{need / 2 ** 30:,.2f} GiB of weights alone, but {device} has {have / 2 ** 30:,.2f} GiB "
                        "available; load it on a machine with more memory")
