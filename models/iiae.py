"""The IIAE model: exclusive encoders E_x, E_y, the shared feature extractor F, the shared-code
encoders R_x, R_y (one domain) and Q (both), and decoders D_x, D_y. Domain 0 is X, domain 1 is Y."""
import contextlib

import torch
from torch import nn

from models.networks import DECODERS, FEATURE_NORMS, ExclusiveEncoder, SharedEncoder, init_weights
from utils.errors import UserError

DOMAINS = (0, 1)


# The config's model keys that are not arguments of the network, and why; every other model key is one,
# under its own name (tests/test_networks.py checks both ways).
NOT_NETWORK_ARGUMENTS = {
    "name": "selects the model class, of which there is one",
    "kl_anneal_iters": "the objective's KL annealing schedule (models.losses)",
    "kl_scaling": "the objective's KL scale (models.losses)",
    "eval_batchnorm": "how BatchNorm normalises in evaluation (evaluating, below)",
}


class IIAE(nn.Module):
    # No defaults here: they are the config schema's (utils.config), which from_config passes.
    def __init__(self, resolution, *, exclusive_dim, shared_dim, shared_hidden, encoder_channels, decoder_channels,
                 dropout, leaky_slope, logvar_clamp, feature_norm, init, decoder, decoder_output):
        super().__init__()
        if resolution < 32 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 32, got {resolution}")
        self.resolution = resolution
        feat = encoder_channels[-1]
        self.exclusive = nn.ModuleList(
            ExclusiveEncoder(resolution, encoder_channels, exclusive_dim, leaky_slope, logvar_clamp)
            for _ in DOMAINS)
        self.features = FEATURE_NORMS[feature_norm](encoder_channels, leaky_slope)
        self.single_shared = nn.ModuleList(
            SharedEncoder(resolution, feat, feat, shared_dim, shared_hidden, leaky_slope, logvar_clamp)
            for _ in DOMAINS)
        self.joint_shared = SharedEncoder(resolution, 2 * feat, feat, shared_dim, shared_hidden,
                                          leaky_slope, logvar_clamp)
        self.decoders = nn.ModuleList(
            DECODERS[decoder](resolution, exclusive_dim, shared_dim, decoder_channels, dropout, decoder_output)
            for _ in DOMAINS)
        # The reference port's Kaiming-normal init starts disentangling much later than PyTorch's default
        # layer init (docs/measurements.md).
        if init == "kaiming_normal":
            self.apply(init_weights)
        # (rank, world size) under torchrun: each process draws the noise of the whole global batch and
        # keeps its own slice, so N processes sample exactly what one process would.
        self.noise_shard = (0, 1)

    @classmethod
    def from_config(cls, resolution, model_section):
        """The network of a config's model section (every key present, as utils.config fills them in):
        each key but NOT_NETWORK_ARGUMENTS passed under its own name, so a key that reaches no argument
        fails here rather than being dropped."""
        return cls(resolution, **{key: value for key, value in model_section.items() if key not in NOT_NETWORK_ARGUMENTS})

    def parameter_groups(self):
        """Parameters of each optimizer (the reference port's split): exclusive encoders; F with R_x, R_y,
        Q; both decoders."""
        return {
            "exclusive": list(self.exclusive.parameters()),
            "shared": [p for m in (self.features, self.single_shared, self.joint_shared) for p in m.parameters()],
            "decoders": list(self.decoders.parameters()),
        }

    def forward(self, x, y, cross=False):
        """One training pass: the posterior parameters of every code and both reconstructions; with cross,
        also each domain decoded from the other domain's single-domain shared code r (the code translation
        uses), under "cross_recon"."""
        images = (x, y)
        exclusive = [self.exclusive[d](images[d]) for d in DOMAINS]
        feats = [self.features(images[d], d) for d in DOMAINS]
        single = [self.single_shared[d](feats[d]) for d in DOMAINS]
        joint = self.joint_shared(*feats)
        z_shared = self.sample(*joint)
        z_exclusive = [self.sample(*exclusive[d]) for d in DOMAINS]
        recon = [self.decoders[d](z_exclusive[d], z_shared) for d in DOMAINS]
        outputs = {"exclusive": exclusive, "single_shared": single, "joint_shared": joint, "recon": recon}
        if cross:
            outputs["cross_recon"] = [self.decoders[d](z_exclusive[d], self.sample(*single[1 - d])) for d in DOMAINS]
        return outputs

    def sample(self, mean, logvar):
        """Reparameterised draw from N(mean, exp(logvar))."""
        rank, world = self.noise_shard
        n = mean.shape[0]
        noise = torch.randn((world * n, *mean.shape[1:]), device=mean.device, dtype=mean.dtype)
        return mean + noise[rank * n:(rank + 1) * n] * torch.exp(0.5 * logvar)

    def exclusive_code(self, image, domain):
        """Mean and log-variance of q(z^d | image)."""
        return self.exclusive[domain](image)

    def shared_code(self, image, domain):
        """Mean and log-variance of r^d(z^s | image)."""
        return self.single_shared[domain](self.features(image, domain))

    def decode(self, z_exclusive, z_shared, domain):
        return self.decoders[domain](z_exclusive, z_shared)


def saved_feature_norm(state_dict):
    """The `model.feature_norm` a state dict was saved with, read from F's parameter names."""
    if "features.0.weight" in state_dict:
        return "shared"
    return "domain" if "features.norms.0.0.running_mean" in state_dict else "instance"


def check_feature_norm(state_dict, feature_norm, path):
    """A one-line error, before the parameter-by-parameter comparison, when a checkpoint's F was built
    with another `model.feature_norm` (runs made before it existed used the reference port's "shared")."""
    saved = saved_feature_norm(state_dict)
    if saved != feature_norm:
        raise UserError(f"checkpoint {path} was trained with model.feature_norm \"{saved}\" but the config has "
                        f"\"{feature_norm}\": set \"feature_norm\": \"{saved}\" in the model section of the run's "
                        f"config.json (or --set model.feature_norm={saved})")


def saved_decoder(state_dict):
    """The `model.decoder` a state dict was saved with, read from D_x's parameter names."""
    return "film" if "decoders.0.style.0.weight" in state_dict else "reference"


def check_decoder(state_dict, decoder, path):
    """A one-line error when a checkpoint's decoders were built with another `model.decoder` (runs made
    before it existed used "reference")."""
    saved = saved_decoder(state_dict)
    if saved != decoder:
        raise UserError(f"checkpoint {path} was trained with model.decoder \"{saved}\" but the config has "
                        f"\"{decoder}\": set \"decoder\": \"{saved}\" in the model section of the run's "
                        f"config.json (or --set model.decoder={saved})")


@contextlib.contextmanager
def evaluating(model, batchnorm="running"):
    """Evaluation mode for codes, grids and results. Dropout is off; BatchNorm uses the running averages
    ("running", the default: no output depends on its batch) or each batch's own statistics ("batch",
    what the reference port's single BatchNorm in F needs, whose running averages mix both domains). Batch
    statistics are taken with momentum 0, so the running buffers stay untouched."""
    was_training = model.training
    model.eval()
    saved = []
    if batchnorm == "batch":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                saved.append((m, m.momentum, m.num_batches_tracked.clone()))
                m.train()
                m.momentum = 0.0
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)
        model.train(was_training)
