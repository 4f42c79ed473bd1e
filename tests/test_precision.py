"""Reduced precision and the channels-last memory format train on CPU: a few steps each, finite losses,
and the option really in effect (the networks' output dtype, the memory format of images and weights)."""
import math

import pytest
import torch

from tests.recording import RecordingSolver, one_thread, tiny_config  # noqa: F401 (fixture)
from utils.config import build_config
from utils.distributed import Context

pytestmark = pytest.mark.usefixtures("one_thread")
STEPS = 2
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def train(tiny_data, tmp_path, **training):
    raw = tiny_config(tiny_data, tmp_path / "runs", training={"max_iters": STEPS, **training})
    solver = RecordingSolver(build_config(raw), Context(torch.device("cpu")))
    solver.train()
    return solver


# fp16 autocast and the gradient scaler both run on CPU in torch 2.14, so fp16 is tested rather than refused.
@pytest.mark.parametrize("precision, channels_last", [("bf16", False), ("fp32", True), ("bf16", True),
                                                      ("fp16", False)])
def test_a_few_steps_give_finite_losses(tiny_data, tmp_path, precision, channels_last):
    solver = train(tiny_data, tmp_path, precision=precision, channels_last=channels_last)
    record = solver.record
    assert len(record["losses"]) == STEPS
    assert all(math.isfinite(v) for losses in record["losses"] for v in losses.values())
    assert record["recon_dtype"] == [DTYPES[precision]] * STEPS
    assert record["input_channels_last"] == [channels_last] * STEPS
    first_conv = solver.model.features.convs[0].weight
    assert first_conv.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert solver.scaler.is_enabled() == (precision == "fp16")
