"""The IIAE networks. Every piece is written once and instantiated per domain.

At resolution R the encoder stack gives a 256 x R/16 x R/16 feature map and the decoders start
from a 512 x R/32 x R/32 stem; the linear layers follow, so R = 256 is exactly the reference-port network.
"""
from functools import partial

import torch
from torch import nn


class GaussianHead(nn.Module):
    """Linear layer(s) ending in 2 * dim outputs: the mean and log-variance of a diagonal Gaussian."""

    def __init__(self, in_features, dim, hidden=None, logvar_clamp=None):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.Linear(hidden, 2 * dim))
        else:
            self.net = nn.Linear(in_features, 2 * dim)
        self.logvar_clamp = logvar_clamp

    def forward(self, h):
        mean, logvar = self.net(torch.flatten(h, 1)).chunk(2, dim=1)
        if self.logvar_clamp:
            logvar = logvar.clamp(-self.logvar_clamp, self.logvar_clamp)
        return mean, logvar


def conv_stack(channels, slope):
    """Four [Conv 4x4 s2 p1, BatchNorm, LeakyReLU] blocks: 3 -> channels[-1] at R/16."""
    layers, previous = [], 3
    for c in channels:
        layers += [nn.Conv2d(previous, c, 4, 2, 1), nn.BatchNorm2d(c), nn.LeakyReLU(slope)]
        previous = c
    return nn.Sequential(*layers)


class SharedNormFeatures(nn.Sequential):
    """F as in the reference port: one conv stack whose BatchNorm layers serve both domains. Its running
    averages mix two very different image distributions, so evaluation needs batch statistics."""

    def __init__(self, channels, slope):
        super().__init__(*conv_stack(channels, slope))

    def forward(self, image, domain):
        return super().forward(image)


class DomainNormFeatures(nn.Module):
    """F with its convolutions shared by both domains and normalization layers (statistics and affine
    parameters) per domain. `norm` is a layer class taking the channel count."""

    def __init__(self, channels, slope, norm, domains=2):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c, 4, 2, 1) for c_in, c in zip([3, *channels[:-1]], channels))
        self.norms = nn.ModuleList(nn.ModuleList(norm(c) for c in channels) for _ in range(domains))
        self.act = nn.LeakyReLU(slope)

    def forward(self, image, domain):
        h = image
        for conv, norm in zip(self.convs, self.norms[domain]):
            h = self.act(norm(conv(h)))
        return h


def instance_norm(channels):
    """Each image's own statistics per channel, no batch statistics. A colour uniform over the image adds
    a constant to each channel of the first convolution (away from the border), which these remove."""
    return nn.InstanceNorm2d(channels, affine=True)


# instance: per-domain InstanceNorm; domain: per-domain BatchNorm (domain-specific batch normalization,
# whose running averages describe one domain each); shared: the reference port's one BatchNorm for both domains.
FEATURE_NORMS = {"instance": partial(DomainNormFeatures, norm=instance_norm),
                 "domain": partial(DomainNormFeatures, norm=nn.BatchNorm2d),
                 "shared": SharedNormFeatures}


class ExclusiveEncoder(nn.Module):
    """q(z^x|x) or q(z^y|y)."""

    def __init__(self, resolution, channels, dim, slope, logvar_clamp):
        super().__init__()
        self.features = conv_stack(channels, slope)
        self.head = GaussianHead(channels[-1] * (resolution // 16) ** 2, dim, logvar_clamp=logvar_clamp)

    def forward(self, image):
        return self.head(self.features(image))


class SharedEncoder(nn.Module):
    """r^x(z^s|x) and r^y(z^s|y) from one feature map; q(z^s|x,y) from both, concatenated by channel."""

    def __init__(self, resolution, in_channels, feature_channels, dim, hidden, slope, logvar_clamp):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, feature_channels, 5, 1, 2),
                                  nn.BatchNorm2d(feature_channels), nn.LeakyReLU(slope))
        self.head = GaussianHead(feature_channels * (resolution // 16) ** 2, dim, hidden, logvar_clamp)

    def forward(self, *feature_maps):
        return self.head(self.conv(torch.cat(feature_maps, dim=1)))


class ClampOutput(nn.Module):
    """Values clipped to [-1, 1] going forward, the gradient passed straight through. Under tanh a pixel
    pushed towards white saturates and its gradient vanishes; on images that are mostly white (thin dark
    lines) every output pixel saturated and the decoder stopped learning, drawing blank white."""

    def forward(self, h):
        return h + (h.clamp(-1, 1) - h).detach()


# The decoders' last activation: tanh (the reference port's) or clamp.
OUTPUTS = {"tanh": nn.Tanh, "clamp": ClampOutput}


class Decoder(nn.Module):
    """p(x|z^x,z^s) or p(y|z^y,z^s) as in the reference port: the exclusive code enters only through the
    first linear layer, beside the shared code."""

    def __init__(self, resolution, exclusive_dim, shared_dim, channels, dropout, output="tanh"):
        super().__init__()
        self.stem_shape = (channels[0], resolution // 32, resolution // 32)
        stem_size = channels[0] * (resolution // 32) ** 2
        self.stem = nn.Sequential(nn.Linear(exclusive_dim + shared_dim, stem_size), nn.BatchNorm1d(stem_size),
                                  nn.ReLU())
        layers, previous = [], channels[0]
        for i, c in enumerate(channels):
            layers += [nn.ConvTranspose2d(previous, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU()]
            if i < 2:
                layers.append(nn.Dropout(dropout))
            previous = c
        layers += [nn.ConvTranspose2d(previous, 3, 4, 2, 1), OUTPUTS[output]()]
        self.up = nn.Sequential(*layers)

    def forward(self, z_exclusive, z_shared):
        h = self.stem(torch.cat([z_exclusive, z_shared], dim=1))
        return self.up(h.view(-1, *self.stem_shape))


class StyledDecoder(nn.Module):
    """The reference decoder with every block also conditioned on the exclusive code (FiLM): after each
    normalization, h * (1 + scale) + shift per channel, both from a small MLP of z_excl. In the reference
    decoder the 8 exclusive dimensions reach the image only through the first layer, mixed with 128 shared
    ones and then dropout, and the demo's Y decoder barely used them (dull colours, muted random styles)."""

    def __init__(self, resolution, exclusive_dim, shared_dim, channels, dropout, output="tanh", hidden=256):
        super().__init__()
        self.stem_shape = (channels[0], resolution // 32, resolution // 32)
        stem_size = channels[0] * (resolution // 32) ** 2
        self.stem = nn.Sequential(nn.Linear(exclusive_dim + shared_dim, stem_size), nn.BatchNorm1d(stem_size),
                                  nn.ReLU())
        self.widths = list(channels)
        self.style = nn.Sequential(nn.Linear(exclusive_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * sum(channels)))
        self.convs = nn.ModuleList(nn.ConvTranspose2d(c_in, c, 4, 2, 1)
                                   for c_in, c in zip([channels[0], *channels[:-1]], channels))
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Sequential(nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), OUTPUTS[output]())

    def forward(self, z_exclusive, z_shared):
        h = self.stem(torch.cat([z_exclusive, z_shared], dim=1)).view(-1, *self.stem_shape)
        films = self.style(z_exclusive).split([w for w in self.widths for _ in (0, 1)], dim=1)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            scale, shift = films[2 * i][..., None, None], films[2 * i + 1][..., None, None]
            h = torch.relu(norm(conv(h)) * (1 + scale) + shift)
            if i < 2:
                h = self.drop(h)
        return self.out(h)


# reference: the reference port's decoder; film: every block conditioned on the exclusive code.
DECODERS = {"reference": Decoder, "film": StyledDecoder}


def init_weights(module):
    """The reference port's init (model.init "kaiming_normal"): Kaiming-normal Conv/Linear weights, zero biases, BatchNorm weight 1 bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
