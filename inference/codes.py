"""Codes of images, translations decoded from them, and search by code.

A translation into domain d decodes D_d(style, shared code of the source): the style is the
exclusive-code mean of a reference image of domain d, a draw from the prior N(0, I), or a point on
the line between two references' styles. Posterior means are used throughout, as in test mode.
"""
import torch

from dataloader.base import to_model_range


def _device(model):
    return next(model.parameters()).device


@torch.no_grad()
def encode(model, images, domain, kind, batch_size):
    """(means, log-variances) on the CPU of the `kind` code ("shared" or "exclusive") of uint8 images
    of `domain`, batch_size images at a time."""
    code = model.shared_code if kind == "shared" else model.exclusive_code
    means, logvars = [], []
    for batch in images.split(batch_size):
        mean, logvar = code(to_model_range(batch).to(_device(model)), domain)
        means.append(mean.float().cpu())
        logvars.append(logvar.float().cpu())
    return torch.cat(means), torch.cat(logvars)


def random_styles(count, dim, seed):
    """count draws from the prior N(0, I), the same for a seed on every device."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


def interpolated_styles(start, end, steps):
    """steps styles from start to end (both included) in equal steps."""
    return torch.lerp(start[None], end[None], torch.linspace(0, 1, steps)[:, None])


@torch.no_grad()
def translations(model, shared, styles, domain, batch_size):
    """Decode every source's shared code with every style into `domain`. Yields (source index, style
    index, 3 x R x R image in [-1, 1] on the CPU), sources in order and styles within each, decoding
    batch_size pairs at a time."""
    count = len(shared) * len(styles)
    for start in range(0, count, batch_size):
        pair = torch.arange(start, min(start + batch_size, count))
        source, style = pair // len(styles), pair % len(styles)
        images = model.decode(styles[style].to(_device(model)), shared[source].to(_device(model)), domain)
        yield from zip(source.tolist(), style.tolist(), images.float().cpu())


def nearest(queries, gallery, k, chunk=1024):
    """(indices, L2 distances), each queries x k: the k gallery rows nearest to each query, nearest
    first and equal distances in gallery order. `chunk` queries at a time keep memory O(chunk x gallery)."""
    indices, distances = [], []
    for q in queries.double().split(chunk):
        dist, order = torch.sort(torch.cdist(q, gallery.double()), dim=1, stable=True)
        indices.append(order[:, :k])
        distances.append(dist[:, :k])
    return torch.cat(indices), torch.cat(distances)
