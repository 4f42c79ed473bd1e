"""Codes of your own images, and cross-domain search by the shared code.

    python encode.py MODEL SOURCE... --domain {x,y} --out codes.npz
    python encode.py MODEL QUERY... --domain {x,y} --search GALLERY... [--top-k K] --out matches.json|.csv

The first writes, per image, its path (`names`) and the means and log-variances of its shared and
exclusive codes (`shared_<x|y>_mean`, `shared_<x|y>_logvar`, `exclusive_<x|y>_*`, the keys of test
mode's features.npz). The second ranks a gallery of the other domain (images, folders, or a codes
.npz of that domain from the first form or test mode) by the L2 distance of shared-code means to
each query's, and writes the K nearest per query.
"""
import csv
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch

from inference.cli import add_model_arguments, at_least, model_from, write_file
from inference.codes import encode, nearest
from inference.images import image_paths, read_images
from metrics.codes import CODE_KINDS, code_arrays, save_features
from utils.errors import Parser, UserError, run_command


def parse_args(argv):
    parser = Parser(description="Encode images with a trained IIAE, or search a gallery of the other domain.")
    add_model_arguments(parser)
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="images or folders of images")
    parser.add_argument("--domain", required=True, choices=("x", "y"), help="the domain of the SOURCE images")
    parser.add_argument("--search", nargs="+", metavar="GALLERY",
                        help="images or folders of the other domain, or one codes .npz of it: find each "
                             "source's nearest by shared code")
    parser.add_argument("--top-k", type=at_least(1), metavar="K", help="with --search: matches per query (default 5)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="codes .npz, or with --search the matches as .json or .csv (replaced if it exists)")
    args = parser.parse_args(argv)
    if args.search is None:
        if args.top_k is not None:
            raise UserError("--top-k applies to --search")
        if not args.out.endswith(".npz"):
            raise UserError(f"--out {args.out}: codes are written as .npz")
    elif os.path.splitext(args.out)[1] not in (".json", ".csv"):
        raise UserError(f"--out {args.out}: matches are written as .json or .csv")
    return args


def codes_file(path, domain, dim):
    """(names, shared-code means) of a codes .npz of `domain` with `dim`-dimensional shared codes, checked:
    a file from elsewhere may hold anything, and a names list shorter than the codes would fail the
    search, a longer one drop matches silently."""
    key = f"shared_{'xy'[domain]}_mean"
    try:
        codes = np.load(path)
        if not isinstance(codes, np.lib.npyio.NpzFile):
            raise UserError(f"--search {path}: not a codes .npz of encode.py or test mode (one array: an .npy file?)")
        with codes:
            if "names" not in codes or key not in codes:
                raise UserError(f"--search {path} holds no 'names' and '{key}': not codes of domain "
                                f"{'XY'[domain]}")
            names, means = codes["names"], codes[key]
    except (ValueError, EOFError, zipfile.BadZipFile):
        # numpy's own reason would advise loading a pickle "unsafely", which could run a hostile file's code.
        raise UserError(f"--search {path}: not a gallery written by encode.py or test mode (a codes .npz of "
                        "plain arrays)") from None
    except OSError as e:
        raise UserError(f"--search {path}: cannot read it: {e.strerror or e}") from None
    if names.ndim != 1 or names.dtype.kind != "U":
        raise UserError(f"--search {path}: its 'names' are not file names")
    if means.dtype.kind not in "fiu":
        raise UserError(f"--search {path}: its '{key}' are not numbers")
    if means.ndim != 2 or means.shape[1] != dim:
        raise UserError(f"--search {path}: its codes have shape {list(means.shape)}, this model's "
                        f"shared code has {dim} dimensions")
    if len(names) != len(means):
        raise UserError(f"--search {path}: {len(names)} names for {len(means)} codes")
    if not len(means):
        raise UserError(f"--search {path}: it holds no codes")
    if not np.isfinite(means).all():
        raise UserError(f"--search {path}: it holds codes that are not finite")
    return [str(name) for name in names], torch.from_numpy(means.astype(np.float64))


def gallery_codes(args, loaded, domain):
    """(names, shared-code means) of the gallery of `domain`."""
    if len(args.search) == 1 and args.search[0].endswith(".npz"):
        return codes_file(args.search[0], domain, loaded.model_section["shared_dim"])
    paths = image_paths(args.search, "--search")
    return paths, encode(loaded.model, read_images(paths, loaded.resolution, args.fit), domain, "shared",
                         args.batch_size)[0]


def matches_text(out, queries, gallery, indices, distances):
    """The k matches per query as JSON ([{query, matches: [{name, distance}]}]) or CSV (query, rank, match,
    distance), by out's extension."""
    rows = [(q, [(gallery[j], d) for j, d in zip(idx.tolist(), dist.tolist())])
            for q, idx, dist in zip(queries, indices, distances)]
    if out.endswith(".json"):
        return json.dumps([{"query": q, "matches": [{"name": n, "distance": d} for n, d in m]} for q, m in rows],
                          indent=2)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["query", "rank", "match", "distance"])
    for q, m in rows:
        writer.writerows([q, rank, n, d] for rank, (n, d) in enumerate(m, 1))
    return text.getvalue()


def run(argv):
    args = parse_args(argv)
    loaded = model_from(args)
    domain = "xy".index(args.domain)
    paths = image_paths(args.sources, "SOURCE")
    images = read_images(paths, loaded.resolution, args.fit)
    if args.search is None:
        codes = {(kind, domain): encode(loaded.model, images, domain, kind, args.batch_size) for kind in CODE_KINDS}
        write_file(args.out, lambda f: save_features(f, paths, code_arrays(codes)))
        print(f"encoded {len(paths)} images of {args.domain.upper()} with {loaded.path}: {args.out}", flush=True)
        return
    names, gallery = gallery_codes(args, loaded, 1 - domain)
    queries = encode(loaded.model, images, domain, "shared", args.batch_size)[0]
    indices, distances = nearest(queries, gallery, min(args.top_k or 5, len(names)))
    text = matches_text(args.out, paths, names, indices, distances)
    # A name that is not UTF-8 (os.fsdecode's surrogates) goes back as the file system's own bytes.
    write_file(args.out, lambda f: f.write(text.encode("utf-8", "surrogateescape")))
    print(f"searched {len(names)} images of {'XY'[1 - domain]} for {len(paths)} queries: {args.out}", flush=True)


def main(argv=None):
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
