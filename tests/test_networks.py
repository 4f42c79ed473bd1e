import pytest
import torch

from models.iiae import IIAE, evaluating


@pytest.mark.parametrize("resolution", [32, 64, 256])
def test_shapes(resolution):
    torch.manual_seed(0)
    model = IIAE(resolution)
    x = torch.randn(2, 3, resolution, resolution)
    out = model(x, x)
    assert [m.shape for m, _ in out["exclusive"]] == [(2, 8), (2, 8)]
    assert [m.shape for m, _ in out["single_shared"]] == [(2, 128), (2, 128)]
    assert out["joint_shared"][0].shape == (2, 128)
    assert [r.shape for r in out["recon"]] == [(2, 3, resolution, resolution)] * 2
    assert all(r.abs().max() <= 1 for r in out["recon"])  # tanh output, images live in [-1, 1]
    assert model.features[-3].out_channels == 256
    if resolution == 256:
        assert sum(p.numel() for p in model.parameters()) == 84_271_238  # the seed network, 84.3 M


def test_model_section_changes_the_network():
    model = IIAE(32, exclusive_dim=4, shared_dim=16, encoder_channels=(8, 8, 8, 8), decoder_channels=(16, 8, 8, 8))
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert out["exclusive"][0][0].shape == (2, 4) and out["joint_shared"][0].shape == (2, 16)


def test_rejects_bad_resolution():
    with pytest.raises(ValueError):
        IIAE(48)


def test_batch_statistics_leave_running_buffers_alone():
    torch.manual_seed(0)
    model = IIAE(32)
    model(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3, 32, 32) * 3 + 1
    with evaluating(model, "batch"):
        batch_codes = model.shared_code(x, 0)[0]
    with evaluating(model, "running"):
        running_codes = model.shared_code(x, 0)[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not torch.allclose(batch_codes, running_codes)
    assert model.training
