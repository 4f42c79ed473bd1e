"""What every dataset shares: the two ways to list pairs (halves of side-by-side images, X and Y
folders paired by file name), reading images, resizing, scaling to [-1, 1], augmentation, and
the optional uint8 cache.

A dataset module only lists its files: `ImageRef`s for X and Y and a name per item.
Items are `(x, y, name)` with x, y float tensors of shape 3 x R x R in [-1, 1].
Indices may come as `(index, seed)` from `dataloader.sampler.ResumableSampler`; the seed
drives every random choice of that item (unpaired partner, augmentation), so data are
the same whatever the worker count and after a resume.
"""
import os
import warnings
from dataclasses import dataclass
from typing import Optional

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from utils.errors import UserError
from utils.images import DECODE_ERRORS, decode_rgb, open_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


# Renderings whose right translation is known from the pair itself, so the known-answer measures apply.
DIGIT_ON_COLOUR = "digit-on-colour"
SHAPES = "shapes"
KNOWN_ANSWERS = {
    DIGIT_ON_COLOUR: "x = b (1 - a) + a, a white digit of intensity a over a background colour b, and "
                       "y = c a, the same digit in colour c on black",
    SHAPES: "every pair's kind, centre, size, rotation, line thickness, fill, stripes and background are "
            "drawn again from the seed `make_shapes` recorded, and the right answer of a translation is "
            "rendered from them",
}


@dataclass(frozen=True)
class Traits:
    """What a dataset's pairs support. true_pairs: the Y of a pair shows the content of its X (otherwise
    X and Y are two collections and partners are drawn). known_answer: a rendering of KNOWN_ANSWERS that
    every pair follows, or None."""
    true_pairs: bool = True
    known_answer: Optional[str] = None

    def __post_init__(self):
        if self.known_answer is not None and self.known_answer not in KNOWN_ANSWERS:
            raise ValueError(f"known_answer {self.known_answer!r} is not one of {sorted(KNOWN_ANSWERS)}")


@dataclass(frozen=True)
class ImageRef:
    """A file, or one half of a side-by-side file (half = "left" or "right")."""
    path: str
    half: Optional[str] = None


def list_images(folder):
    """Sorted image file names in `folder`; UserError naming the folder if missing or empty."""
    if not os.path.isdir(folder):
        raise UserError(f"data folder not found: {folder}")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in data folder: {folder}")
    return names


OTHER_HALF = {"left": "right", "right": "left"}


def side_by_side(folder, x_half):
    """(x_refs, y_refs, names): the `x_half` of each image in `folder` is X, the other half Y."""
    names = list_images(folder)
    x_refs, y_refs = ([ImageRef(os.path.join(folder, n), half) for n in names]
                      for half in (x_half, OTHER_HALF[x_half]))
    return x_refs, y_refs, names


def pair_by_name(x_dir, y_dir):
    """(x_refs, y_refs, names) of the files present under the same name in both folders. Listing order
    is never trusted, and a file without its partner is an error: it means a broken or partial copy."""
    listed = {folder: list_images(folder) for folder in (x_dir, y_dir)}
    for here, there in ((x_dir, y_dir), (y_dir, x_dir)):
        alone = sorted(set(listed[here]) - set(listed[there]))
        if alone:
            raise UserError(f"{os.path.join(here, alone[0])} has no file of the same name in {there} "
                            f"({len(alone)} such files in {here})")
    names = listed[x_dir]
    x_refs, y_refs = ([ImageRef(os.path.join(folder, n)) for n in names] for folder in (x_dir, y_dir))
    return x_refs, y_refs, names


def _open_rgb(path):
    try:
        return decode_rgb(path)
    except DECODE_ERRORS as e:
        raise UserError(f"cannot decode image {path}: {e}") from None


def _ends_with_jpeg_eoi(path):
    with open(path, "rb") as f:
        f.seek(-2, os.SEEK_END)
        return f.read(2) == b"\xff\xd9"


def check_image(path):
    """Raise if `path` would fail to decode, at a fraction of a full decode's cost: a PNG's verify() checks
    every chunk's CRC up to its end chunk, so truncation or damage fails it; a JPEG's verify() checks
    nothing, but the one failure decoding meets is truncation (other damage decodes to wrong pixels), so a
    JPEG that does not end with its end-of-image marker is decoded in full (which also passes one with
    padding after the marker); other formats are decoded in full."""
    with open_image(path) as img:
        if img.format == "PNG" or (img.format == "JPEG" and _ends_with_jpeg_eoi(path)):
            img.verify()
        else:
            img.load()


def _crop(img, half):
    if half is None:
        return img
    w, h = img.size
    return img.crop((0, 0, w // 2, h) if half == "left" else (w // 2, 0, w, h))


def read_rgb(ref):
    """The RGB PIL image `ref` names (one half of the file when ref.half is set)."""
    return _crop(_open_rgb(ref.path), ref.half)


def resized(img, resolution):
    """3 x R x R uint8 tensor: a PIL image resized as every dataset's images are (bicubic)."""
    return TF.pil_to_tensor(img.resize((resolution, resolution), Image.BICUBIC))


def decode_halves(path, halves, resolution):
    """Decode `path` once and return a 3 x R x R uint8 tensor per entry of `halves` (None = whole)."""
    img = _open_rgb(path)
    return [resized(_crop(img, half), resolution) for half in halves]


def load_uint8(ref, resolution):
    """Decode and resize once: a 3 x R x R uint8 tensor (what the cache stores); UserError naming
    the file if it cannot be decoded."""
    return decode_halves(ref.path, [ref.half], resolution)[0]


def to_model_range(image_uint8):
    return image_uint8.float().div_(127.5).sub_(1.0)


def _augment(image, generator):
    """The reference port's AFHQ training augmentation: random resized crop half the time, then a horizontal flip
    half the time. The item's generator makes it reproducible."""
    size = image.shape[-1]
    if torch.rand((), generator=generator) < 0.5:
        scale, ratio = (0.8, 1.0), (0.9, 1.1)
        area = size * size * float(torch.empty(()).uniform_(*scale, generator=generator))
        aspect = float(torch.empty(()).uniform_(*ratio, generator=generator))
        w = min(size, max(1, round((area * aspect) ** 0.5)))
        h = min(size, max(1, round((area / aspect) ** 0.5)))
        top = int(torch.randint(0, size - h + 1, (), generator=generator))
        left = int(torch.randint(0, size - w + 1, (), generator=generator))
        image = TF.resized_crop(image, top, left, h, w, [size, size], antialias=True)
    if torch.rand((), generator=generator) < 0.5:
        image = TF.horizontal_flip(image)
    return image


class PairDataset(Dataset):
    """Pairs (x_refs[i], y_refs[i]) when traits.true_pairs; otherwise X items with a Y partner drawn at
    random (training) or taken in turn (test). Images are decoded when read, or taken from `cache`: uint8
    tensors (x [N,3,R,R], y [M,3,R,R]) decoded from x_refs and y_refs in their order (dataloader.cache).
    `answers`: what a dataset with a known answer needs to render it (the shapes' parameters), or None."""

    def __init__(self, x_refs, y_refs, names, resolution, traits=Traits(), augment=False, random_partner=False,
                 cache=None, answers=None):
        if traits.true_pairs and len(x_refs) != len(y_refs):
            raise ValueError("paired datasets need as many X as Y images")
        self.x_refs, self.y_refs, self.names = list(x_refs), list(y_refs), list(names)
        if cache is not None and tuple(map(len, cache)) != (len(self.x_refs), len(self.y_refs)):
            raise ValueError(f"a cache of {tuple(map(len, cache))} images for {len(self.x_refs)} X and "
                             f"{len(self.y_refs)} Y files")
        self.resolution = resolution
        self.traits = traits
        self.augment = augment
        self.random_partner = random_partner and not traits.true_pairs
        self.cache = cache
        self.answers = answers

    def with_cache(self, x_images, y_images):
        """This dataset reading its images from decoded uint8 tensors aligned with x_refs and y_refs."""
        return PairDataset(self.x_refs, self.y_refs, self.names, self.resolution, self.traits, self.augment,
                           self.random_partner, cache=(x_images, y_images), answers=self.answers)

    def __len__(self):
        return len(self.x_refs)

    def _partner(self, index, generator):
        if self.traits.true_pairs:
            return index
        if self.random_partner:
            return int(torch.randint(0, len(self.y_refs), (), generator=generator))
        return index % len(self.y_refs)

    def _image(self, domain, index):
        if self.cache is not None:
            return self.cache[domain][index]
        refs = self.x_refs if domain == 0 else self.y_refs
        return load_uint8(refs[index], self.resolution)

    def __getitem__(self, item):
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        generator = torch.Generator().manual_seed(seed)
        x = self._image(0, index)
        y = self._image(1, self._partner(index, generator))
        if self.augment:
            x, y = _augment(x, generator), _augment(y, generator)
        return to_model_range(x), to_model_range(y), self.names[index]

    def scan(self, skip_bad_files=False):
        """Check every file once at start-up (check_image). A bad file stops with its name, or with
        skip_bad_files its items are dropped with one warning."""
        bad = set()
        for path in sorted({r.path for r in self.x_refs + self.y_refs}):
            try:
                check_image(path)
            except DECODE_ERRORS as e:
                if not skip_bad_files:
                    raise UserError(f"cannot decode image {path}: {e} "
                                    "(set data.skip_bad_files to skip such files)") from None
                bad.add(path)
        if bad:
            self._drop(bad)
        return len(bad)

    def _drop(self, bad):
        keep_x = [i for i in range(len(self)) if self.x_refs[i].path not in bad
                  and (not self.traits.true_pairs or self.y_refs[i].path not in bad)]
        keep_y = keep_x if self.traits.true_pairs else [j for j, r in enumerate(self.y_refs) if r.path not in bad]
        self.x_refs = [self.x_refs[i] for i in keep_x]
        self.y_refs = [self.y_refs[j] for j in keep_y]
        self.names = [self.names[i] for i in keep_x]
        if self.cache is not None:
            self.cache = tuple(images[torch.tensor(keep, dtype=torch.long)]
                               for images, keep in zip(self.cache, (keep_x, keep_y)))
        if not self.x_refs or not self.y_refs:
            raise UserError(f"every item was unreadable after skipping {len(bad)} bad files")
        warnings.warn(f"skipped {len(bad)} unreadable image files; {len(self)} items remain", stacklevel=3)


def index_seed(index):
    """Seed of an item fetched by plain index (evaluation, tests): fixed per index. The multiplier (2^32
    over the golden ratio, an odd constant) spreads neighbouring indices over the seed space."""
    return 0x9E3779B1 * (index + 1) % (2 ** 63)
