import inspect

import pytest
import torch

from models.iiae import IIAE, NOT_NETWORK_ARGUMENTS, check_decoder, check_feature_norm, evaluating
from utils.config import SCHEMA, build_config
from utils.errors import UserError


def network(resolution, **model):
    """The IIAE of a config whose model section sets `model`, the schema's defaults for the rest."""
    return IIAE.from_config(resolution, build_config({"dataset": "", "path_to_data": "", "model": model}).model)


def test_every_model_key_reaches_a_network_argument_or_says_why_not():
    arguments = set(inspect.signature(IIAE).parameters) - {"resolution"}
    assert set(SCHEMA["model"]) - arguments == set(NOT_NETWORK_ARGUMENTS)
    assert arguments <= set(SCHEMA["model"]), "a network argument the config cannot set"
    assert not any(p.default is not inspect.Parameter.empty for p in inspect.signature(IIAE).parameters.values()), \
        "defaults belong to the config schema"


@pytest.mark.parametrize("resolution", [32, 64, 256])
def test_shapes(resolution):
    torch.manual_seed(0)
    model = network(resolution)
    x = torch.randn(2, 3, resolution, resolution)
    out = model(x, x)
    assert [m.shape for m, _ in out["exclusive"]] == [(2, 8), (2, 8)]
    assert [m.shape for m, _ in out["single_shared"]] == [(2, 128), (2, 128)]
    assert out["joint_shared"][0].shape == (2, 128)
    assert [r.shape for r in out["recon"]] == [(2, 3, resolution, resolution)] * 2
    assert all(r.abs().max() <= 1 for r in out["recon"])  # tanh output, images live in [-1, 1]
    assert model.features(x, 1).shape == (2, 256, resolution // 16, resolution // 16)
    if resolution == 256:
        # The seed network, 84.3 M; per-domain BatchNorm in F adds one weight and bias per channel; the
        # FiLM decoders add, each, an MLP 8 -> 256 -> 2 x (512 + 256 + 128 + 64).
        seed = network(resolution, feature_norm="shared", decoder="reference")
        assert sum(p.numel() for p in seed.parameters()) == 84_271_238
        film = (8 * 256 + 256) + (256 * 2 * 960 + 2 * 960)
        assert sum(p.numel() for p in model.parameters()) == 84_271_238 + 2 * (32 + 64 + 128 + 256) + 2 * film


def test_feature_norms():
    """Per domain: convolutions shared, normalization separate. Shared: the seed's layer names."""
    torch.manual_seed(0)
    batchnorm = network(32, feature_norm="domain")
    batchnorm(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32) * 2 + 3)
    norms = batchnorm.features.norms
    assert not torch.allclose(norms[0][0].running_mean, norms[1][0].running_mean)
    assert len(batchnorm.features.convs) == 4
    instance = network(32)
    assert isinstance(instance.features.norms[1][3], torch.nn.InstanceNorm2d)
    assert not any(k.startswith("features.") and "running" in k for k in instance.state_dict())
    seed = network(32, feature_norm="shared")
    assert {k for k in seed.state_dict() if k.startswith("features.")} >= {
        "features.0.weight", "features.1.running_mean", "features.9.weight", "features.10.running_var"}


@pytest.mark.parametrize("feature_norm,decoder", [("instance", "film"), ("domain", "film"), ("shared", "film"),
                                                  ("instance", "reference")])
def test_evaluation_mode_does_not_depend_on_the_batch(feature_norm, decoder):
    """An image's codes and translations alone equal those inside a batch of 100 others."""
    torch.manual_seed(0)
    model = network(32, feature_norm=feature_norm, decoder=decoder)
    for _ in range(2):
        model(torch.rand(8, 3, 32, 32) * 2 - 1, torch.rand(8, 3, 32, 32) - 1)
    x, y = torch.rand(100, 3, 32, 32) * 2 - 1, torch.rand(100, 3, 32, 32) - 1
    with evaluating(model, "running"):
        for d, image in ((0, x), (1, y)):
            shared, exclusive = model.shared_code(image, d), model.exclusive_code(image, d)
            alone_shared, alone_exclusive = model.shared_code(image[7:8], d), model.exclusive_code(image[7:8], d)
            for batch, alone in zip((*shared, *exclusive), (*alone_shared, *alone_exclusive)):
                assert torch.allclose(batch[7:8], alone, atol=1e-5)
            translated = model.decode(exclusive[0].roll(1, 0), shared[0], 1 - d)
            alone = model.decode(exclusive[0][6:7], alone_shared[0], 1 - d)
            assert torch.allclose(translated[7:8], alone, atol=1e-5)


def test_model_section_changes_the_network():
    model = network(32, exclusive_dim=4, shared_dim=16, encoder_channels=[8, 8, 8, 8], decoder_channels=[16, 8, 8, 8])
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert out["exclusive"][0][0].shape == (2, 4) and out["joint_shared"][0].shape == (2, 16)


def test_rejects_bad_resolution():
    with pytest.raises(ValueError):
        network(48)


def test_batch_statistics_leave_running_buffers_alone():
    torch.manual_seed(0)
    model = network(32)
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


def test_a_checkpoint_of_the_other_feature_norm_is_named():
    seed_state = network(32, feature_norm="shared").state_dict()
    for feature_norm in ("instance", "domain", "shared"):
        check_feature_norm(network(32, feature_norm=feature_norm).state_dict(), feature_norm, "new.pt")
    with pytest.raises(UserError, match='trained with model.feature_norm "domain"'):
        check_feature_norm(network(32, feature_norm="domain").state_dict(), "instance", "new.pt")
    with pytest.raises(UserError, match='trained with model.feature_norm "shared".*feature_norm=shared'):
        check_feature_norm(seed_state, "instance", "old.pt")


@pytest.mark.parametrize("decoder", ["film", "reference"])
def test_decoder_shapes_and_style_reaches_the_image(decoder):
    """Both decoders map (z_excl, z_s) to an image; changing only z_excl changes it, and with FiLM it
    also changes every block's output, not only the first layer's."""
    torch.manual_seed(0)
    model = network(32, decoder=decoder)
    z_shared = torch.randn(4, 128)
    z_a, z_b = torch.randn(4, 8), torch.randn(4, 8)
    with evaluating(model):
        out_a, out_b = model.decode(z_a, z_shared, 1), model.decode(z_b, z_shared, 1)
    assert out_a.shape == (4, 3, 32, 32)
    assert (out_a - out_b).abs().max() > 1e-4  # exactly 0 if z_excl did not reach the image
    if decoder == "film":
        films = model.decoders[1].style(z_a)
        assert films.shape == (4, 2 * (512 + 256 + 128 + 64))
        # Zeroing the stem's weights on z_excl leaves the FiLM path alone to carry the style.
        model.decoders[1].stem[0].weight.data[:, :8] = 0
        with evaluating(model):
            assert (model.decode(z_a, z_shared, 1) - model.decode(z_b, z_shared, 1)).abs().max() > 1e-4


def test_cross_paths_decode_the_other_domains_shared_code():
    """forward(cross=True) adds D_d(z_d, z ~ r^(other)): with zero variances it is exactly that decoding."""
    torch.manual_seed(0)
    model = network(32)
    x, y = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    assert "cross_recon" not in model(x, y)
    model.eval()
    model.sample = lambda mean, logvar: mean
    out = model(x, y, cross=True)
    for d, other in ((0, y), (1, x)):
        expected = model.decode(model.exclusive_code((x, y)[d], d)[0], model.shared_code(other, 1 - d)[0], d)
        assert torch.allclose(out["cross_recon"][d], expected, atol=1e-6)


def test_a_checkpoint_of_the_other_decoder_is_named():
    for decoder in ("film", "reference"):
        check_decoder(network(32, decoder=decoder).state_dict(), decoder, "new.pt")
    with pytest.raises(UserError, match='^checkpoint old.pt was trained with model.decoder "reference".*'
                                        'decoder=reference\\)$'):
        check_decoder(network(32, decoder="reference").state_dict(), "film", "old.pt")
    with pytest.raises(UserError, match='trained with model.decoder "film"'):
        check_decoder(network(32).state_dict(), "reference", "new.pt")


def test_init_choices():
    """pytorch: PyTorch's default (weight variance 1/(3 fan_in)); kaiming_normal: the seed's (2/fan_in)."""
    torch.manual_seed(0)
    default, seed = network(64), network(64, init="kaiming_normal")
    weight, seed_weight = default.decoders[0].stem[0].weight, seed.decoders[0].stem[0].weight
    fan_in = weight.shape[1]
    assert weight.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.05)
    assert seed_weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    assert torch.all(seed.decoders[0].stem[0].bias == 0) and not torch.all(default.decoders[0].stem[0].bias == 0)


@pytest.mark.parametrize("decoder", ["film", "reference"])
def test_clamp_output_keeps_images_in_range_and_the_gradient_of_a_pixel_pushed_past_white(decoder):
    """decoder_output "clamp": the image is the last layer's value clipped to [-1, 1], and a pixel far past
    white still gets the gradient of the loss (tanh's at the same value is ~1e-4 of it: the blank-white trap)."""
    torch.manual_seed(0)
    model = network(32, decoder=decoder, decoder_output="clamp")
    last = model.decoders[0].out[0] if decoder == "film" else model.decoders[0].up[-2]
    last.bias.data.fill_(5.0)  # every pixel far past white, as a decoder pushed to blank white ends
    with evaluating(model):
        image = model.decode(torch.randn(4, 8), torch.randn(4, 128), 0)
    assert image.min() >= -1 and image.max() <= 1 and image.max() == 1

    h = torch.tensor([5.0, 0.3, -2.0], requires_grad=True)
    out = model.decoders[0].out[1] if decoder == "film" else model.decoders[0].up[-1]
    value = out(h)
    assert value.tolist() == [1.0, pytest.approx(0.3), -1.0]
    target = torch.tensor([-1.0, 0.0, 1.0])  # ink where the pixel is past white, and so on
    torch.abs(value - target).sum().backward()
    assert h.grad.tolist() == [1.0, 1.0, -1.0]  # d|v - t|/dh = sign(v - t), as if nothing were clipped
    tanh_grad = torch.autograd.grad(torch.abs(torch.tanh(h) - target).sum(), h)[0]
    assert abs(tanh_grad[0].item()) < 2e-4
