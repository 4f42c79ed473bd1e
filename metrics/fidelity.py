"""Translation fidelity on MNIST-CDCB-format data, where the right translation is known.

A pair renders one digit shape a (per-pixel intensity in [0, 1]) twice: x = b * (1 - a) + a (a white
digit over the background colour b) and y = c * a (the digit colour c over black). So x_i translated
to Y in y_j's style is c_j * a_i, and y_i translated to X in x_j's style is b_j * (1 - a_i) + a_i.
The score is the mean L1 distance to these targets, in [0, 1] pixel units, over a fixed set of
(source, reference) pairs: each test pair i takes pair i + 1 (cyclically) as its reference.
Copying the source or the reference is scored the same way, as a yardstick.
"""
import torch
from torch.utils.data import DataLoader, Dataset

from models.iiae import DOMAINS, evaluating

DIRECTIONS = ("x2y", "y2x")
# Datasets rendered as above, on which the score means something.
KNOWN_ANSWER_DATASETS = ("MNIST-CDCB", "MNIST-CDCB-demo")


def background_colour(x, width=2):
    """N x 3: the median colour of each X image's outer `width` pixels (digits never reach the border)."""
    border = torch.cat([x[..., :width, :].flatten(2), x[..., -width:, :].flatten(2),
                        x[..., :, :width].flatten(2), x[..., :, -width:].flatten(2)], dim=2)
    return border.median(dim=2).values


def digit_colour(y, fraction=0.02):
    """N x 3: the mean colour of each Y image's brightest pixels (MNIST strokes reach full intensity)."""
    flat = y.flatten(2)
    k = max(1, int(fraction * flat.shape[2]))
    top = flat.sum(dim=1).topk(k, dim=1).indices
    return torch.gather(flat, 2, top[:, None, :].expand(-1, flat.shape[1], -1)).mean(dim=2)


def digit_shape(x, y):
    """N x 1 x H x W: the intensity a of each pair, fitted to both renderings by least squares
    (y = c a and x - b = (1 - b) a in every channel), so a dark digit colour or a light background
    alone does not make it ill-determined."""
    b = background_colour(x)[..., None, None]
    c = digit_colour(y)[..., None, None]
    numerator = (c * y + (1 - b) * (x - b)).sum(dim=1, keepdim=True)
    denominator = (c ** 2 + (1 - b) ** 2).sum(dim=1, keepdim=True)
    return (numerator / denominator.clamp_min(1e-6)).clamp(0, 1)


def exemplar_targets(x, y, x_ref, y_ref):
    """The correct exemplar translations of pairs (x, y) with references (x_ref, y_ref), images in [0, 1]:
    {"x2y": x in y_ref's style, "y2x": y in x_ref's style}."""
    a = digit_shape(x, y)
    return {"x2y": digit_colour(y_ref)[..., None, None] * a,
            "y2x": background_colour(x_ref)[..., None, None] * (1 - a) + a}


def l1_per_image(images, targets):
    """N: mean absolute difference per image."""
    return (images - targets).abs().flatten(1).mean(dim=1)


class _WithReference(Dataset):
    """Test pair i with pair i + 1 (cyclically) of the first n as its reference."""

    def __init__(self, dataset, n):
        self.dataset, self.n = dataset, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x, y = self.dataset[i][:2]
        x_ref, y_ref = self.dataset[(i + 1) % self.n][:2]
        return x, y, x_ref, y_ref


def fidelity_report(model, dataset, batch_size, device, batchnorm="running", max_pairs=0):
    """Mean L1 (pixels in [0, 1]) of the model's exemplar translations against the known targets, both
    ways (the first max_pairs test pairs when > 0), beside what copying the source or the reference
    scores. `batchnorm` as in models.iiae.evaluating."""
    n = len(dataset) if max_pairs <= 0 else min(max_pairs, len(dataset))
    loader = DataLoader(_WithReference(dataset, n), batch_size=batch_size, generator=torch.Generator())
    sums = {f"{d}_{kind}": 0.0 for d in DIRECTIONS for kind in ("l1", "copy_source_l1", "copy_reference_l1")}
    with evaluating(model, batchnorm):
        for x, y, x_ref, y_ref in loader:
            images = [t.to(device) for t in (x, y, x_ref, y_ref)]
            unit = [(t.float() + 1) / 2 for t in images]
            targets = exemplar_targets(*unit)
            for src_domain, direction in zip(DOMAINS, DIRECTIONS):
                tgt_domain = 1 - src_domain
                src, ref = images[src_domain], images[2 + tgt_domain]
                out = model.decode(model.exclusive_code(ref, tgt_domain)[0], model.shared_code(src, src_domain)[0],
                                   tgt_domain)
                target = targets[direction]
                sums[f"{direction}_l1"] += l1_per_image((out.float() + 1) / 2, target).sum().item()
                sums[f"{direction}_copy_source_l1"] += l1_per_image(unit[src_domain], target).sum().item()
                sums[f"{direction}_copy_reference_l1"] += l1_per_image(unit[2 + tgt_domain], target).sum().item()
    report = {key: value / n for key, value in sums.items()}
    report["num_pairs"] = n
    return report


def format_fidelity(report):
    """A small table: model, copy-source and copy-reference L1 for both directions."""
    lines = [f"translation L1 to the known answer ({report['num_pairs']} (source, reference) pairs, pixels in [0, 1]):",
             f"{'':>16} {'X2Y':>7} {'Y2X':>7}"]
    for label, kind in (("model", "l1"), ("copy source", "copy_source_l1"), ("copy reference", "copy_reference_l1")):
        lines.append(f"{label:>16} {report[f'x2y_{kind}']:>7.3f} {report[f'y2x_{kind}']:>7.3f}")
    return "\n".join(lines)
