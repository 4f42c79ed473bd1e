"""`features.npz`: the codes of a set of images, as test mode (the test split) and encode.py (one's own
images) write them."""
import numpy as np

from models.iiae import DOMAINS

CODE_KINDS = ("shared", "exclusive")


def feature_key(kind, domain, stat):
    """The array name of a code statistic ("mean" or "logvar") of domain 0 (x) or 1 (y)."""
    return f"{kind}_{'xy'[domain]}_{stat}"


def code_arrays(codes):
    """{(kind, domain): (means, log-variances)} -> {feature_key: tensor}."""
    return {feature_key(kind, d, stat): t for (kind, d), pair in codes.items() for stat, t in zip(("mean", "logvar"), pair)}


def batch_codes(batch):
    """{feature_key: N x D tensor on the CPU}: every code's posterior mean and log-variance of an
    evaluation batch's sources (metrics.evaluation.EvalBatch)."""
    return {feature_key(kind, d, stat): value.cpu() for kind in CODE_KINDS for d in DOMAINS
            for stat, value in zip(("mean", "logvar"), batch.posterior(kind, d))}


def save_features(path, names, arrays):
    """features.npz: names plus `<kind>_<x|y>_mean` and `<kind>_<x|y>_logvar` (N x D) per code."""
    np.savez(path, names=np.array(names), **{key: t.numpy() for key, t in arrays.items()})
