"""Known-answer measures on the pairs `python -m dataloader.make_shapes` writes (`"dataset": "shapes"`).

Every pair's parameters are known (dataloader.datasets.shapes.ShapeAnswers), so the right answer of x_i
translated to Y in y_j's style (x_i's shape filled with y_j's colours and stripes) and of y_i translated
to X in x_j's style (y_i's shape outlined at x_j's thickness) is rendered exactly. Scored both ways:

- kind kept: a small classifier names the shape's kind from the silhouette a translation draws; the
  fraction given the source's true kind, with the reference's style and with random styles, beside the
  classifier's accuracy on the real images of the test pairs (the ceiling);
- silhouette IoU against the true shape, beside the right answer's own;
- style in the region it governs: X2Y the mean colour of the fill and of the background, Y2X the line's
  thickness (ink over perimeter), beside keeping the source's own style;
- texture (X2Y): the correlation of the fill's brightness with the right answer's stripes: 1 for the
  right stripes, 0 for a flat fill.

Images are in [0, 1], N x 3 x H x W; directions are indexed by their source domain (0: X2Y, 1: Y2X).
"""
import os

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dataloader import make_shapes
from dataloader.base import SHAPES, resized
from metrics.cached_network import load_or_train
from metrics.evaluation import DIRECTIONS, NUM_RANDOM_STYLES, Measure
from metrics.fidelity import background_colour

FILL_CONTRAST = 0.1  # a Y pixel this far (largest |R, G, B| difference) from the border's colour is the shape's
INK = 0.3  # an X pixel this much darker than white is the line's
INPUT_SIDE = 32  # the classifier sees each silhouette framed (framed()) at this side
TRAIN_PAIRS = 3000  # random shapes the classifier learns from, each in both domains
EPOCHS = 8
BATCH = 64
LEARNING_RATE = 2e-3
TRAIN_SEED = 1  # make_shapes draws the data from seed 0 by default: the classifier's shapes are others
RENDERING = "shapes-1"  # names what the classifier learnt in its cache file's name


def filled_silhouette(images, contrast=FILL_CONTRAST):
    """N x 1 x H x W bool: the pixels of Y-style images (a filled shape on a uniform background) that
    differ from the colour of the image's border (shapes never reach it) by more than `contrast` in some
    channel."""
    background = background_colour(images)[..., None, None]
    return ((images - background).abs().amax(dim=1, keepdim=True) > contrast)


def outline_silhouette(images, ink=INK):
    """N x 1 x H x W bool: the region an X-style image's dark outline encloses, the outline included: the
    pixels not reachable from the border without crossing the line. The line is widened by one pixel
    first, so that a line thinner than a pixel, or broken by resizing, still closes, and the region is
    narrowed by one pixel after."""
    line = (1 - images.mean(dim=1, keepdim=True)) > ink
    free = ~(F.max_pool2d(line.float(), 3, stride=1, padding=1) > 0)
    outside = torch.zeros_like(free)
    outside[..., 0, :], outside[..., -1, :], outside[..., :, 0], outside[..., :, -1] = (True,) * 4
    outside &= free
    while True:
        grown = (F.max_pool2d(outside.float(), 3, stride=1, padding=1) > 0) & free
        if torch.equal(grown, outside):
            return F.max_pool2d(outside.float(), 3, stride=1, padding=1) == 0
        outside = grown


def silhouette(images, domain):
    """The shape a `domain` image (0: an outline, 1: a filled shape) draws, N x 1 x H x W bool."""
    return outline_silhouette(images) if domain == 0 else filled_silhouette(images)


def iou(a, b):
    """N: intersection over union of two N x 1 x H x W bool masks; 1 where both are empty."""
    inter, union = ((a & b).flatten(1).sum(dim=1), (a | b).flatten(1).sum(dim=1))
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter, dtype=torch.float))


def region_mean(images, region):
    """N x C: the mean of each image over its region (N x 1 x H x W bool); NaN where a region is empty."""
    weight = region.to(images.dtype)
    return (images * weight).flatten(2).sum(dim=2) / weight.flatten(2).sum(dim=2)


def fill_regions(alpha):
    """(fill, background), N x 1 x H x W bool, from the true shape's coverage alpha (N x 1 x H x W): the
    pixels fully inside the shape and fully outside it, one pixel away from its edge, where a right
    answer's colour is the fill's or the background's alone."""
    fill = -F.max_pool2d(-alpha, 3, stride=1, padding=1) > 0.99
    background = F.max_pool2d(alpha, 3, stride=1, padding=1) < 0.01
    return fill, background


def colour_error(images, targets, fill, background):
    """N: the mean over R, G, B and over the two regions of |the images' mean colour - the targets'|, in
    the fill and in the background."""
    return torch.stack([(region_mean(images, r) - region_mean(targets, r)).abs().mean(dim=1)
                        for r in (fill, background)]).mean(dim=0)


def stripe_correlation(images, targets, fill):
    """N: the correlation over each image's fill region of its brightness (mean of R, G, B) with the
    target's: 1 for the target's stripes, 0 for a flat fill or stripes unlike the target's."""
    def centred(batch):
        brightness = batch.mean(dim=1, keepdim=True)
        return torch.where(fill, brightness - region_mean(brightness, fill)[..., None, None], 0)
    a, b = centred(images), centred(targets)
    covariance = (a * b).flatten(1).sum(dim=1)
    scale = (a.square().flatten(1).sum(dim=1) * b.square().flatten(1).sum(dim=1)).sqrt()
    return torch.where(scale > 1e-8, covariance / scale.clamp_min(1e-8), torch.zeros_like(scale))


def line_thickness(images, perimeters):
    """N: the thickness in pixels of an X-style image's line, its ink (darkness summed over the image)
    over the outline's length (N, in pixels)."""
    return (1 - images.mean(dim=1)).clamp(0, 1).flatten(1).sum(dim=1) / perimeters


def framed(silhouettes, side):
    """N x 1 x side x side float: each silhouette resampled to the square around its centroid that holds
    it with a margin, so that the shape's kind is all that is left to tell (not its position or size). An empty
    silhouette stays empty."""
    masks = silhouettes.float()
    n, _, h, w = masks.shape
    ys, xs = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=masks.device),
                            torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=masks.device), indexing="ij")
    weight = masks[:, 0].flatten(1)
    total = weight.sum(dim=1).clamp_min(1)
    cx, cy = (weight * xs.flatten()).sum(dim=1) / total, (weight * ys.flatten()).sum(dim=1) / total
    far = torch.maximum((xs.flatten() - cx[:, None]).abs(), (ys.flatten() - cy[:, None]).abs())
    # To the edge of the farthest pixel, and a tenth more: the same frame for the shape at any size.
    extent = 1.1 * (torch.where(weight > 0, far, torch.zeros_like(far)).amax(dim=1) + 1 / h)
    zero = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([extent, zero, cx], dim=1), torch.stack([zero, extent, cy], dim=1)], dim=1)
    grid = F.affine_grid(theta, (n, 1, side, side), align_corners=False)
    return F.grid_sample(masks, grid, align_corners=False)


class ShapeClassifier(nn.Module):
    """The kind (make_shapes.KINDS) of a silhouette, framed to INPUT_SIDE: three stride-2 conv + ReLU
    layers (16, 32, 64 channels) and a linear layer."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 1
        for width in (16, 32, 64):
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * (INPUT_SIDE // 8) ** 2, len(make_shapes.KINDS))

    def forward(self, silhouettes):
        return self.head(self.features(framed(silhouettes, INPUT_SIDE)).flatten(1))


def rendered_silhouettes(count, resolution, seed):
    """(2N x 1 x R x R bool silhouettes, 2N kinds): `count` random shapes drawn from `seed`, each rendered
    in X and in Y at make_shapes' side and resized as the data are, then their silhouettes."""
    params = make_shapes.draw_parameters(count, seed)
    halves = [[resized(Image.fromarray(half), resolution) for half in make_shapes.render_halves(p)] for p in params]
    masks = [silhouette(torch.stack([h[d] for h in halves]).float() / 255, d) for d in (0, 1)]
    kinds = torch.tensor([make_shapes.KINDS.index(p["kind"]) for p in params])
    return torch.cat(masks), kinds.repeat(2)


def train_classifier(resolution, count=TRAIN_PAIRS, epochs=EPOCHS, seed=TRAIN_SEED):
    """A ShapeClassifier trained on rendered_silhouettes(count, resolution, seed), deterministic for a
    seed; in eval mode."""
    silhouettes, kinds = rendered_silhouettes(count, resolution, seed)
    with torch.random.fork_rng(devices=[]):  # the caller's global random state is left as it was
        torch.manual_seed(seed)
        model = ShapeClassifier()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = epochs * -(-len(kinds) // BATCH)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    model.train()
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(kinds), generator=generator)
            for start in range(0, len(kinds), BATCH):
                batch = order[start:start + BATCH]
                loss = F.cross_entropy(model(silhouettes[batch]), kinds[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                decay.step()
    return model.eval()


def shape_classifier(resolution, cache_dir):
    """The classifier for `resolution`, loaded from `<cache_dir>/shape_classifier_<rendering>_<res>px.pt`
    or trained and saved there; on the CPU, in eval mode."""
    return load_or_train(os.path.join(cache_dir, f"shape_classifier_{RENDERING}_{resolution}px.pt"),
                         ShapeClassifier, lambda: train_classifier(resolution), "a shape classifier")


@torch.no_grad()
def kinds_drawn(classifier, images, domain):
    """N: the kind the classifier sees in each `domain` image's silhouette."""
    return classifier(silhouette(images, domain)).argmax(dim=1)


class ShapeMeasures(Measure):
    """Kind kept, silhouette IoU, style in its region and texture against the rendered right answers
    (see the module's docstring). The classifier is trained on first use and kept in the subject's cache
    folder; right answers are rendered once per (pair, reference, resolution) and kept."""
    name = "shapes"

    def __init__(self):
        self._classifiers, self._answers = {}, {}

    def applies(self, subject):
        return subject.traits.known_answer == SHAPES and subject.answers is not None

    def _classifier(self, batch):
        key = (batch.sources[0].shape[-1], batch.subject.cache_dir, batch.sources[0].device)
        if key not in self._classifiers:
            self._classifiers[key] = shape_classifier(key[0], key[1]).to(key[2])
        return self._classifiers[key]

    def _known(self, batch):
        """{"answer": (X2Y answers, Y2X answers), "alpha": N x 1 x R x R, "kind": N, "perimeter": N}."""
        answers, resolution = batch.subject.answers, batch.sources[0].shape[-1]
        rows = []
        for name, reference in zip(batch.names, batch.reference_names):
            key = (id(answers), name, reference, resolution)
            if key not in self._answers:
                self._answers[key] = ([answers.right_answer(name, reference, 1 - d, resolution) for d in (0, 1)],
                                      answers.silhouette(name, resolution), answers.kind(name),
                                      answers.perimeter(name, resolution))
            rows.append(self._answers[key])
        device = batch.sources[0].device
        return {"answer": [torch.stack([r[0][d] for r in rows]).to(device).float() / 255 for d in (0, 1)],
                "alpha": torch.stack([r[1] for r in rows])[:, None].to(device),
                "kind": torch.tensor([r[2] for r in rows], device=device),
                "perimeter": torch.tensor([r[3] for r in rows], device=device)}

    def collect(self, batch):
        classifier, known = self._classifier(batch), self._known(batch)
        truth, kind = known["alpha"] > 0.5, known["kind"]
        fill, background = fill_regions(known["alpha"])
        columns = {}
        for src, direction in enumerate(DIRECTIONS):
            tgt, answer, translation = 1 - src, known["answer"][src], batch.translation(src)
            partner = batch.image(tgt)
            columns[f"{direction}_real"] = (kinds_drawn(classifier, partner, tgt) == kind).float()
            columns[f"{direction}_kind"] = (kinds_drawn(classifier, translation, tgt) == kind).float()
            columns[f"{direction}_kind_random"] = torch.stack([(kinds_drawn(classifier, draw, tgt) == kind).float()
                                                               for draw in batch.random_translations(src)]).mean(0)
            columns[f"{direction}_iou"] = iou(silhouette(translation, tgt), truth)
            columns[f"{direction}_iou_answer"] = iou(silhouette(answer, tgt), truth)
            if tgt == 1:
                columns[f"{direction}_style_error"] = colour_error(translation, answer, fill, background)
                columns[f"{direction}_own_style_error"] = colour_error(partner, answer, fill, background)
                columns[f"{direction}_texture"] = stripe_correlation(translation, answer, fill)
            else:
                thickness = line_thickness(answer, known["perimeter"])
                columns[f"{direction}_style_error"] = (line_thickness(translation, known["perimeter"]) - thickness).abs()
                columns[f"{direction}_own_style_error"] = (line_thickness(partner, known["perimeter"]) - thickness).abs()
        return columns

    def summarise(self, columns):
        report = {key: values.float().nanmean().item() for key, values in columns.items()}
        for direction in DIRECTIONS:
            report[f"{direction}_iou_ratio"] = report[f"{direction}_iou"] / max(report[f"{direction}_iou_answer"], 1e-8)
        report["num_pairs"] = len(columns["x2y_kind"])
        return report

    def table(self, report):
        def row(label, x2y, y2x="", digits=3):
            values = [f"{report[key]:>7.{digits}f}" if key else f"{'':>7}" for key in (x2y, y2x)]
            return f"{label:>40} {values[0]} {values[1]}"
        return "\n".join([
            "shapes against the rendered right answers (kind: the shape classifier's label is the source's kind; "
            "style: X2Y mean |R,G,B| of fill and background in [0, 1], Y2X line thickness in pixels):",
            f"{'':>40} {'X2Y':>7} {'Y2X':>7}",
            row("kind kept, reference style", "x2y_kind", "y2x_kind"),
            row(f"  {NUM_RANDOM_STYLES} random styles", "x2y_kind_random", "y2x_kind_random"),
            row("  the real image, same domain (ceiling)", "x2y_real", "y2x_real"),
            row("silhouette IoU, model", "x2y_iou", "y2x_iou"),
            row("  the right answer", "x2y_iou_answer", "y2x_iou_answer"),
            row("  model / right answer", "x2y_iou_ratio", "y2x_iou_ratio"),
            row("style error, model", "x2y_style_error", "y2x_style_error"),
            row("  keeping the source's own style", "x2y_own_style_error", "y2x_own_style_error"),
            row("texture (stripe correlation; answer 1)", "x2y_texture")])

    def line(self, report):
        return (f"kind kept {report['x2y_kind']:.3f} / {report['y2x_kind']:.3f} (random {report['x2y_kind_random']:.3f}"
                f" / {report['y2x_kind_random']:.3f}), silhouette IoU/answer {report['x2y_iou_ratio']:.2f} / "
                f"{report['y2x_iou_ratio']:.2f}, shape style error {report['x2y_style_error']:.3f} / "
                f"{report['y2x_style_error']:.2f} px, stripes {report['x2y_texture']:.2f}")
