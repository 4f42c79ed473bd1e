"""Style and shape of translations on MNIST-CDCB-format data, where the right answer is known.

A pair renders one digit shape a twice, x = b (1 - a) + a and y = c a (see metrics.fidelity). The style a
translation should take governs one region of the source pair: X2Y (x_i drawn in Y) sets the colour of
the digit pixels, Y2X (y_i drawn in X) the colour of the background pixels. So the style is scored by the
mean colour over that region, and the shape by the digit the translation draws, recovered as the known
answer recovers a. All images are in [0, 1], N x 3 x H x W; directions are indexed by their source domain
(0: X2Y, 1: Y2X) as in models.iiae.DOMAINS.
"""
import torch

from dataloader.base import DIGIT_ON_COLOUR
from metrics.evaluation import DIRECTIONS, NUM_RANDOM_STYLES, Measure
from metrics.fidelity import background_colour, digit_colour, digit_shape, exemplar_targets, known_answer

THRESHOLD = 0.5  # digit intensity a above which a pixel is the digit's
TOLERANCE = 0.1  # a style error above this (mean |R, G, B| in [0, 1]) is visibly another colour


def style_region(x, y, source_domain, threshold=THRESHOLD):
    """N x 1 x H x W bool: the pixels of pairs (x, y) whose colour the style sets when translating from
    `source_domain`: the digit (a > threshold) for X2Y, the background (a <= threshold) for Y2X."""
    digit = digit_shape(x, y) > threshold
    return digit if source_domain == 0 else ~digit


def region_colour(images, region):
    """N x 3: the mean colour of each image over its region (N x 1 x H x W bool); NaN where a region is
    empty, so a measure over no pixels shows as missing rather than as black."""
    weight = region.to(images.dtype)
    return (images * weight).flatten(2).sum(dim=2) / weight.flatten(2).sum(dim=2)


def partner_colour(x, y, source_domain, threshold=THRESHOLD):
    """N x 3: the colour of the style region in the source's partner image (y's digit for X2Y, x's
    background for Y2X): the colour that keeping the source's own style gives, and over the test set
    the real colours a random style should range over."""
    return region_colour((x, y)[1 - source_domain], style_region(x, y, source_domain, threshold))


def style_error(translations, targets, region):
    """N: mean over R, G, B of |mean colour of the translation - mean colour of the right answer| over
    each pair's region."""
    return (region_colour(translations, region) - region_colour(targets, region)).abs().mean(dim=1)


def exemplar_style_errors(x, y, x_ref, y_ref, translations, threshold=THRESHOLD):
    """Style errors of exemplar translations of pairs (x, y) with references (x_ref, y_ref), beside the
    yardstick that keeps the source's own colour (the source's partner image: y for X2Y, x for Y2X).
    `translations`: {"x2y": x in y_ref's style, "y2x": y in x_ref's style}. Returns {"x2y": N,
    "x2y_own_colour": N, "y2x": N, "y2x_own_colour": N}."""
    targets = exemplar_targets(x, y, x_ref, y_ref)
    errors = {}
    for source_domain, direction in enumerate(DIRECTIONS):
        region = style_region(x, y, source_domain, threshold)
        partner = (x, y)[1 - source_domain]
        errors[direction] = style_error(translations[direction], targets[direction], region)
        errors[f"{direction}_own_colour"] = style_error(partner, targets[direction], region)
    return errors


def draw_variance(draws, region):
    """N: the variance over K prior draws (K x N x 3 x H x W, one source per column) of the region's mean
    colour, unbiased (divided by K - 1), averaged over R, G, B. Needs K >= 2."""
    colours = torch.stack([region_colour(images, region) for images in draws])
    return colours.var(dim=0, correction=1).mean(dim=1)


def colour_spread(colours):
    """The spread of colours (N x 3, one per pair): the root-mean over R, G, B of their unbiased variance
    over the pairs."""
    return colours.var(dim=0, correction=1).mean().sqrt()


def diversity(draw_variances, real_colours):
    """Random-style diversity: sqrt(mean over sources of draw_variance) / colour_spread(real colours), where
    the real colours are the region's colour in the source's partner (the colours the style should range
    over: y_i's digit colour for X2Y, x_i's background for Y2X). Numerator and denominator are both
    root-mean unbiased variances, so styles drawn exactly as varied as the real colours score about 1,
    identical draws 0."""
    if len(real_colours) < 2:
        return float("nan")  # one pair has no spread of real colours to compare with
    return (draw_variances.mean().sqrt() / colour_spread(real_colours)).item()


def recovered_shape(images, domain):
    """N x 1 x H x W: the digit intensity a that one image draws, fitted by least squares over R, G, B:
    X images from their distance to the background colour (x - b = (1 - b) a), Y images from their
    brightness relative to the digit colour (y = c a)."""
    if domain == 0:
        b = background_colour(images)[..., None, None]
        colour, images = 1 - b, images - b
    else:
        colour = digit_colour(images)[..., None, None]
    fit = (colour * images).sum(dim=1, keepdim=True) / (colour ** 2).sum(dim=1, keepdim=True).clamp_min(1e-6)
    return fit.clamp(0, 1)


def shape_iou(translations, target_domain, source_digit, threshold=THRESHOLD):
    """N: intersection over union of the digit a translation into `target_domain` draws (recovered_shape
    above threshold) and the source's digit (N x 1 x H x W bool: style_region(x, y, 0) of the source pair);
    1 where both are empty. The right answer scored the same way is the ceiling: recovering the digit from
    one image is not exact (a dark digit colour, a pale background)."""
    drawn = recovered_shape(translations, target_domain) > threshold
    inter = (drawn & source_digit).flatten(1).sum(dim=1)
    union = (drawn | source_digit).flatten(1).sum(dim=1)
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter, dtype=torch.float))


def summary(style_errors=None, own_colour_errors=None, draw_variances=None, real_colours=None, ious=None,
            iou_ceilings=None, tolerance=TOLERANCE):
    """The report numbers of one direction from per-pair values concatenated over batches (any left None
    is skipped): style error mean and share of pairs off by more than `tolerance`, the same for the
    own-colour yardstick, diversity (draw_variances with real_colours), mean IoU and its ceiling."""
    report = {}
    for name, errors in (("style_error", style_errors), ("own_colour_error", own_colour_errors)):
        if errors is not None:
            report[name] = errors.mean().item()
            report[f"{name}_share_over_{tolerance:g}"] = (errors > tolerance).float().mean().item()
    if draw_variances is not None:
        report["diversity"] = diversity(draw_variances, real_colours)
    for name, values in (("iou", ious), ("iou_ceiling", iou_ceilings)):
        if values is not None:
            report[name] = values.float().mean().item()
    return report


GREY = 0.5  # a uniform grey output, the second yardstick: a dull model scores near it


class Style(Measure):
    """Exemplar style error (beside keeping the source's own colour and a uniform grey), random-style
    diversity over the batch's prior draws, and the shape IoU of exemplar translations (beside the
    right answer's own), both ways."""
    name = "style"

    def applies(self, subject):
        return subject.traits.known_answer == DIGIT_ON_COLOUR

    def collect(self, batch):
        x, y = batch.image(0), batch.image(1)
        targets = known_answer(batch)
        source_digit = style_region(x, y, 0)
        columns = {}
        for src, direction in enumerate(DIRECTIONS):
            tgt, target = 1 - src, targets[direction]
            region = style_region(x, y, src)
            translation = batch.translation(src)
            columns[f"{direction}_error"] = style_error(translation, target, region)
            columns[f"{direction}_own_colour_error"] = style_error((x, y)[tgt], target, region)
            columns[f"{direction}_grey_error"] = style_error(torch.full_like(target, GREY), target, region)
            columns[f"{direction}_draw_variance"] = draw_variance(batch.random_translations(src), region)
            columns[f"{direction}_real_colour"] = partner_colour(x, y, src)
            columns[f"{direction}_iou"] = shape_iou(translation, tgt, source_digit)
            columns[f"{direction}_iou_ceiling"] = shape_iou(target, tgt, source_digit)
        return columns

    def summarise(self, columns):
        report = {}
        for direction in DIRECTIONS:
            c = {key[len(direction) + 1:]: value for key, value in columns.items() if key.startswith(direction)}
            part = summary(c["error"], c["own_colour_error"], c["draw_variance"], c["real_colour"], c["iou"],
                           c["iou_ceiling"])
            part["grey_error"] = c["grey_error"].mean().item()
            report.update({f"{direction}_{key}": value for key, value in part.items()})
        report["num_pairs"] = len(columns["x2y_error"])
        return report

    def table(self, report):
        share = f"share_over_{TOLERANCE:g}"
        rows = [("style error, model", "style_error"), ("  keeping the source's colour", "own_colour_error"),
                ("  a uniform grey", "grey_error"), (f"  share of pairs off by > {TOLERANCE:g}", f"style_error_{share}"),
                ("random-style diversity", "diversity"), ("digit shape IoU, model", "iou"),
                ("  the right answer", "iou_ceiling")]
        lines = [f"style in the region it governs (X2Y: the digit, Y2X: the background; mean |R,G,B| in [0, 1]; "
                 f"diversity: spread of {NUM_RANDOM_STYLES} random styles / spread of the real colours):",
                 f"{'':>34} {'X2Y':>7} {'Y2X':>7}"]
        lines += [f"{label:>34} {report[f'x2y_{key}']:>7.3f} {report[f'y2x_{key}']:>7.3f}" for label, key in rows]
        return "\n".join(lines)

    def line(self, report):
        return (f"style error {report['x2y_style_error']:.3f} / {report['y2x_style_error']:.3f}, diversity "
                f"{report['x2y_diversity']:.2f} / {report['y2x_diversity']:.2f}, IoU {report['x2y_iou']:.2f} / "
                f"{report['y2x_iou']:.2f}")
