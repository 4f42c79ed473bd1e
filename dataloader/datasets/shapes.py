"""`shapes`: the pairs `python -m dataloader.make_shapes` writes, read as `paired` reads them (left half
X) and with their known answer: make_shapes records the seed it drew every pair's parameters from, so
the right answer of any translation can be rendered again (metrics/shapes.py scores against it)."""
import os

import numpy as np
import torch
from PIL import Image

from dataloader import make_shapes
from dataloader.base import SHAPES, PairDataset, resized, side_by_side
from dataloader.datasets.paired import split_folder
from dataloader.registry import register
from utils.errors import UserError


class ShapeAnswers:
    """The parameters of one split's pairs by file name, and the right answers rendered from them at
    the data's side, then resized as the data are."""

    def __init__(self, params, side):
        self.params, self.side = params, side

    def kind(self, name):
        """The index in make_shapes.KINDS of pair `name`'s shape."""
        return make_shapes.KINDS.index(self.params[name]["kind"])

    def right_answer(self, name, reference, domain, resolution):
        """3 x R x R uint8: pair `name`'s shape drawn in `domain` (0: X, 1: Y) in the style of pair
        `reference`."""
        p = make_shapes.with_style(self.params[name], self.params[reference], domain)
        return resized(Image.fromarray(make_shapes.render_halves(p, self.side)[domain]), resolution)

    def silhouette(self, name, resolution):
        """R x R float in [0, 1]: how much of each pixel pair `name`'s filled shape covers."""
        alpha = make_shapes.shape_alpha(self.params[name], self.side).astype(np.float32)
        return torch.from_numpy(np.array(Image.fromarray(alpha, "F").resize((resolution, resolution),
                                                                              Image.BOX)))

    def perimeter(self, name, resolution):
        """The length in pixels at `resolution` of pair `name`'s outline (through the line's middle)."""
        p = self.params[name]
        vertices = make_shapes.outline(p["kind"], p["rotation"]) * p["radius"]
        edges = np.diff(np.concatenate([vertices, vertices[:1]]), axis=0)
        return float(np.hypot(edges[:, 0], edges[:, 1]).sum()) * resolution / self.side


def answers(root, split):
    """ShapeAnswers of the pairs in `split`'s folder, by file name."""
    params, side = make_shapes.read_parameters(root)
    folder = os.path.basename(split_folder(root, split))
    return ShapeAnswers({key.split("/", 1)[1]: p for key, p in params.items() if key.startswith(folder + "/")},
                        side)


@register("shapes", what="the pairs `python -m dataloader.make_shapes` writes, with their known answer: X = a "
          "shape's outline on white, Y = the same shape filled with coloured stripes on a coloured background",
          get="`python -m dataloader.make_shapes --root ./data/shapes` (4,500 train / 100 val / 500 test pairs, "
              "128 px halves, about 15 s)", known_answer=SHAPES)
def build(root, split, resolution, data_options, train, traits):
    x_refs, y_refs, names = side_by_side(split_folder(root, split), "left")
    known = answers(root, split)
    unknown = [n for n in names if n not in known.params]
    if unknown:
        raise UserError(f"shapes: {os.path.join(split_folder(root, split), unknown[0])} is not one of the pairs "
                        f"{make_shapes.RECORD} records ({len(unknown)} such files)")
    return PairDataset(x_refs, y_refs, names, resolution, traits, answers=known)
