"""A Solver that notes, step by step, what the distributed and precision tests compare: the item names
it trained on, its loss terms (local to its process), what the networks returned, a digest of every
parameter after the step, and the gradients of the first step."""
import hashlib
import os
import signal
from unittest import mock

import pytest
import torch

import solver as solver_module
from models.losses import LOSS_NAMES, iiae_loss
from solver import Solver
from tests.small import NARROW


def digest(tensors):
    """A hash of the exact bytes of `tensors`: equal digests mean bit-identical values."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def tiny_config(data, output_root, training=None, model=None):
    """A raw config: 32 px and a narrow network (these tests check mechanics, not capacity), checkpoint
    and grids only at the end, no loader workers (fast start)."""
    return {"dataset": "MNIST-CDCB", "path_to_data": str(data), "output_root": str(output_root),
            "resolution": 32, "device": "cpu",
            "model": {**NARROW, **(model or {})},
            "training": {"max_iters": 2, "batch_size": 2, "print_freq": 1, "sample_freq": 1000,
                         "model_save_freq": 1000, "num_workers": 0, **(training or {})},
            "test": {"batch_size": 2}}


def _use_running_statistics(layer, _inputs):
    layer.training = False


class RecordingSolver(Solver):
    def __init__(self, *args, frozen_batchnorm=False, interrupt_after=None, **kwargs):
        """frozen_batchnorm: BatchNorm layers normalise with their running statistics also in training, so
        every item's computation is independent of the rest of its batch. interrupt_after: this process
        sends itself SIGINT during that step."""
        super().__init__(*args, **kwargs)
        if frozen_batchnorm:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.register_forward_pre_hook(_use_running_statistics)
        self.record = {"names": [], "losses": [], "recon_dtype": [], "input_channels_last": [],
                       "params": [], "grads": None}
        optimizers = list(self.optimizers.values())
        # Gradients are final (DDP has averaged them) when the first optimizer is about to step;
        # parameters are final once the last one has stepped.
        optimizers[0].register_step_pre_hook(self._note_grads)
        optimizers[-1].register_step_post_hook(
            lambda *_: self.record["params"].append(digest(self.model.parameters())))
        if interrupt_after is not None:
            optimizers[-1].register_step_post_hook(
                lambda *_: len(self.record["params"]) == interrupt_after and os.kill(os.getpid(), signal.SIGINT))

    def _note_grads(self, *_):
        if self.record["grads"] is None:
            self.record["grads"] = torch.cat([p.grad.detach().flatten().clone() for p in self.model.parameters()])

    def train_loader(self, dataset, start_iteration):
        for x, y, names in super().train_loader(dataset, start_iteration):
            self.record["names"].append(list(names))
            yield x, y, names

    def _loss(self, outputs, x, *args):
        terms = iiae_loss(outputs, x, *args)
        self.record["losses"].append({name: terms[name].item() for name in LOSS_NAMES})
        self.record["recon_dtype"].append(outputs["recon"][0].dtype)
        self.record["input_channels_last"].append(x.is_contiguous(memory_format=torch.channels_last)
                                                  and not x.is_contiguous())
        return terms

    def train(self):
        with mock.patch.object(solver_module, "iiae_loss", self._loss):
            return super().train()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a machine whose cores are busy with other
    work every parallel op would wait for a thread to be scheduled (measured: 250x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
