"""Translation fidelity on data of the digit-on-colour rendering (MNIST-CDCB), where the right
translation is known.

A pair renders one digit shape a (per-pixel intensity in [0, 1]) twice: x = b * (1 - a) + a (a white
digit over the background colour b) and y = c * a (the digit colour c over black). So x_i translated
to Y in y_j's style is c_j * a_i, and y_i translated to X in x_j's style is b_j * (1 - a_i) + a_i.
The score is the mean L1 distance to these targets, in [0, 1] pixel units, over a fixed set of
(source, reference) pairs: each test pair i takes pair i + 1 (cyclically) as its reference.
Copying the source or the reference is scored the same way, as a yardstick.
"""
import torch

from dataloader.base import DIGIT_ON_COLOUR
from metrics.evaluation import DIRECTIONS, Measure
from models.iiae import DOMAINS


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


def known_answer(batch):
    """The batch's exemplar targets (exemplar_targets of its pairs and references), computed once per
    batch for every measure that needs them."""
    return batch.cached("known answer", lambda: exemplar_targets(
        batch.image(0), batch.image(1), batch.image(0, "reference"), batch.image(1, "reference")))


class KnownAnswer(Measure):
    """Mean L1 (pixels in [0, 1]) of the exemplar translations against the known targets, both ways,
    beside what copying the source or the reference scores."""
    name = "translation"

    def applies(self, subject):
        return subject.traits.known_answer == DIGIT_ON_COLOUR

    def collect(self, batch):
        targets = known_answer(batch)
        columns = {}
        for src, direction in zip(DOMAINS, DIRECTIONS):
            tgt, target = 1 - src, targets[direction]
            columns[f"{direction}_l1"] = l1_per_image(batch.translation(src), target)
            columns[f"{direction}_copy_source_l1"] = l1_per_image(batch.image(src), target)
            columns[f"{direction}_copy_reference_l1"] = l1_per_image(batch.image(tgt, "reference"), target)
        return columns

    def table(self, report):
        lines = [f"translation L1 to the known answer ({report['num_pairs']} (source, reference) pairs, "
                 "pixels in [0, 1]):", f"{'':>16} {'X2Y':>7} {'Y2X':>7}"]
        for label, kind in (("model", "l1"), ("copy source", "copy_source_l1"),
                            ("copy reference", "copy_reference_l1")):
            lines.append(f"{label:>16} {report[f'x2y_{kind}']:>7.3f} {report[f'y2x_{kind}']:>7.3f}")
        return "\n".join(lines)

    def line(self, report):
        return f"translation L1 {report['x2y_l1']:.3f} / {report['y2x_l1']:.3f}"

    def scalars(self, report):
        return {key: report[key] for key in ("x2y_l1", "y2x_l1")}
