"""Codes of a whole split, for cross-domain retrieval and `results/features.npz`."""
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from dataloader.sampler import balanced_batches
from models.iiae import DOMAINS, evaluating

CODE_KINDS = ("shared", "exclusive")


def compute_codes(model, dataset, batch_size, device, batchnorm="running", max_pairs=0):
    """Means and log-variances of r^d(z^s|.) ("shared") and q(z^d|.) ("exclusive") for both domains
    of every pair (the first max_pairs when > 0), in dataset order, on the CPU."""
    if 0 < max_pairs < len(dataset):
        dataset = Subset(dataset, range(max_pairs))
    loader = DataLoader(dataset, batch_sampler=balanced_batches(len(dataset), batch_size),
                        generator=torch.Generator())  # leaves the global RNG alone
    parts = {(kind, d): ([], []) for kind in CODE_KINDS for d in DOMAINS}
    names = []
    with evaluating(model, batchnorm):
        for x, y, batch_names in loader:
            names += list(batch_names)
            for d, image in zip(DOMAINS, (x.to(device), y.to(device))):
                for kind, encode in (("shared", model.shared_code), ("exclusive", model.exclusive_code)):
                    mean, logvar = encode(image, d)
                    parts[kind, d][0].append(mean.float().cpu())
                    parts[kind, d][1].append(logvar.float().cpu())
    codes = {key: (torch.cat(means), torch.cat(logvars)) for key, (means, logvars) in parts.items()}
    return names, codes


def retrieval_inputs(codes):
    """{"shared": (means of X, means of Y), "exclusive": ...} for metrics.retrieval.retrieval_report."""
    return {kind: (codes[kind, 0][0], codes[kind, 1][0]) for kind in CODE_KINDS}


def save_features(path, names, codes):
    """features.npz: names plus, per code, `<kind>_<x|y>_mean` and `<kind>_<x|y>_logvar` (N x D)."""
    arrays = {"names": np.array(names)}
    for (kind, d), (mean, logvar) in codes.items():
        domain = "xy"[d]
        arrays[f"{kind}_{domain}_mean"] = mean.numpy()
        arrays[f"{kind}_{domain}_logvar"] = logvar.numpy()
    np.savez(path, **arrays)
