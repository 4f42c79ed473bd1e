"""Cross-domain retrieval (paper Table 9): query with codes of one domain, rank every code of
the other domain by L2 distance, and count a hit when the partner of the query ranks in the top k."""
import torch

from metrics.codes import CODE_KINDS, batch_codes, feature_key
from metrics.evaluation import Measure
from models.iiae import DOMAINS


def retrieval_accuracy(queries, keys, ks=(1, 5), chunk=1024):
    """Top-k accuracies for queries[i] whose correct match is keys[i].

    Distances are computed `chunk` queries at a time, so memory stays O(chunk * N). Ties count
    against the query (a key at the same distance as the partner ranks ahead of it), so identical
    codes for everything score chance, not 1.0.
    """
    if queries.shape != keys.shape or queries.dim() != 2:
        raise ValueError(f"queries and keys must be N x D of one shape, got {tuple(queries.shape)} "
                         f"and {tuple(keys.shape)}")
    queries, keys = queries.double(), keys.double()
    n = queries.shape[0]
    hits = {k: 0 for k in ks}
    for start in range(0, n, chunk):
        q = queries[start:start + chunk]
        dist = torch.cdist(q, keys)
        own = dist[torch.arange(q.shape[0]), torch.arange(start, start + q.shape[0])]
        rank = (dist <= own[:, None]).sum(dim=1) - 1  # keys at least as close, the partner excluded
        for k in ks:
            hits[k] += int((rank < k).sum())
    return {k: hits[k] / n for k in ks}


def retrieval_report(codes, ks=(1, 5), chunk=1024):
    """codes: {"shared": (codes_x, codes_y), "exclusive": (codes_x, codes_y)} of paired rows.
    Returns {"shared_x2y_top1": ..., ..., "num_pairs": N} with fractions in [0, 1]."""
    report = {}
    for kind, (cx, cy) in codes.items():
        for direction, (q, k) in (("x2y", (cx, cy)), ("y2x", (cy, cx))):
            for topk, value in retrieval_accuracy(q, k, ks, chunk).items():
                report[f"{kind}_{direction}_top{topk}"] = value
    report["num_pairs"] = int(next(iter(codes.values()))[0].shape[0])
    return report


def format_report(report):
    """A small table for the terminal."""
    lines = [f"retrieval over {report['num_pairs']} test pairs (chance top-1 = {1 / report['num_pairs']:.4f})",
             f"{'code':<10}{'direction':<10}{'top-1':>8}{'top-5':>8}"]
    for kind in ("shared", "exclusive"):
        for direction in ("x2y", "y2x"):
            key = f"{kind}_{direction}"
            if f"{key}_top1" in report:
                lines.append(f"{kind:<10}{direction.upper():<10}{report[key + '_top1']:>8.4f}"
                             f"{report.get(key + '_top5', float('nan')):>8.4f}")
    return "\n".join(lines)


class Retrieval(Measure):
    """Cross-domain retrieval with the shared and the exclusive codes. Its columns are the codes'
    means and log-variances per pair, as `results/features.npz` stores them."""
    name = "retrieval"

    def collect(self, batch):
        return batch_codes(batch)

    def summarise(self, columns):
        return retrieval_report({kind: tuple(columns[feature_key(kind, d, "mean")] for d in DOMAINS)
                                 for kind in CODE_KINDS})

    def table(self, report):
        return format_report(report)

    def line(self, report):
        return (f"shared top-1 {report['shared_x2y_top1']:.3f} / {report['shared_y2x_top1']:.3f}, exclusive "
                f"{report['exclusive_x2y_top1']:.3f} / {report['exclusive_y2x_top1']:.3f} (X2Y / Y2X)")
