"""The `shapes` dataset and its known-answer measures (metrics/shapes.py), against images whose right
answer is known: the rendered shapes themselves, hand-made masks and hand-computed values."""
import json
import math

import pytest
import torch
from PIL import Image

from dataloader import make_shapes
from dataloader.base import resized
from dataloader.registry import build_dataset
from metrics import shapes
from metrics.evaluation import EvalBatch, Subject
from utils.config import build_config
from utils.errors import UserError

RES = 32
SIZES = {"train": 2, "val": 0, "test": 6}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "s"
    make_shapes.make(str(root), SIZES, seed=3, side=64)
    return str(root)


def load(root, split="test"):
    cfg = build_config({"dataset": "shapes", "path_to_data": root})
    return build_dataset("shapes", root, split, RES, cfg.data, train=False)


def halves(params, resolution=RES):
    """(X, Y) of draw_parameters() dicts rendered and resized as the data are, N x 3 x R x R in [0, 1]."""
    pairs = [[resized(Image.fromarray(h), resolution) for h in make_shapes.render_halves(p)] for p in params]
    return tuple(torch.stack([p[d] for p in pairs]).float() / 255 for d in (0, 1))


# The record make_shapes writes and the dataset that reads it

def test_the_record_draws_every_pair_again(data):
    with open(f"{data}/{make_shapes.RECORD}") as f:
        assert json.load(f) == {"format": make_shapes.RECORD_FORMAT, "seed": 3, "side": 64, "splits": SIZES}
    params, side = make_shapes.read_parameters(data)
    assert side == 64 and list(params)[:3] == ["train/00001.png", "train/00002.png", "test/00001.png"]
    first_test = make_shapes.draw_parameters(8, seed=3, side=64)[2]
    assert params["test/00001.png"]["kind"] == first_test["kind"]
    assert (params["test/00001.png"]["fill"] == first_test["fill"]).all()


def test_the_right_answer_in_the_pairs_own_style_is_the_pair(data):
    """Drawn in its own style, a pair's shape is exactly the image on disk, as the dataset reads it."""
    dataset = load(data)
    for i in range(len(dataset)):
        x, y, name = dataset[i]
        for domain, image in enumerate((x, y)):
            answer = dataset.answers.right_answer(name, name, domain, RES)
            assert torch.equal(answer.float() / 127.5 - 1, image), (name, domain)


def test_a_right_answer_takes_the_shape_of_one_pair_and_the_style_of_the_other(data):
    dataset = load(data)
    a, b = dataset.names[:2]
    pa, pb = dataset.answers.params[a], dataset.answers.params[b]
    y = make_shapes.with_style(pa, pb, 1)
    assert y["kind"] == pa["kind"] and (y["centre"] == pa["centre"]).all() and (y["fill"] == pb["fill"]).all()
    assert y["thickness"] == pa["thickness"]
    x = make_shapes.with_style(pa, pb, 0)
    assert x["thickness"] == pb["thickness"] and (x["fill"] == pa["fill"]).all()


def test_the_shapes_dataset_names_what_is_wrong(data, tmp_path):
    with pytest.raises(UserError, match="shapes.json not found"):
        make_shapes.make(str(tmp_path / "old"), {"train": 1, "test": 1}, side=32)
        (tmp_path / "old" / make_shapes.RECORD).unlink()
        load(str(tmp_path / "old"))
    make_shapes.make(str(tmp_path / "extra"), {"train": 1, "test": 1}, side=32)
    (tmp_path / "extra" / "test" / "00001.png").rename(tmp_path / "extra" / "test" / "09999.png")
    with pytest.raises(UserError, match="09999.png is not one of the pairs"):
        load(str(tmp_path / "extra"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / make_shapes.RECORD).write_text("{not json")
    with pytest.raises(UserError, match="cannot read .*shapes.json"):
        make_shapes.read_parameters(str(tmp_path / "bad"))


def test_the_subject_carries_the_answers_through_the_cache(data):
    from dataloader.cache import cached
    dataset = cached(load(data), "memory", None, verbose=False)
    subject = Subject.of(dataset)
    assert subject.answers is not None and shapes.ShapeMeasures().applies(subject)
    assert not shapes.ShapeMeasures().applies(Subject(subject.traits))


# Silhouettes, regions and the pure measures

def test_silhouettes_of_rendered_shapes_match_the_true_shape():
    params = make_shapes.draw_parameters(12, seed=7)
    x, y = halves(params, 64)
    truth = torch.stack([torch.from_numpy(make_shapes.shape_alpha(p)).float() for p in params])[:, None]
    truth = torch.nn.functional.avg_pool2d(truth, 2) > 0.5
    assert shapes.iou(shapes.silhouette(y, 1), truth).min() > 0.85
    # The outline's silhouette holds the line as well, so it is larger than the shape, never smaller.
    outlined = shapes.silhouette(x, 0)
    assert (truth & ~outlined).sum() == 0 and shapes.iou(outlined, truth).min() > 0.5


def test_outline_silhouette_fills_what_a_closed_line_encloses():
    image = torch.ones(2, 3, 16, 16)
    image[0, :, 4, 4:12] = image[0, :, 11, 4:12] = image[0, :, 4:12, 4] = image[0, :, 4:12, 11] = 0
    filled = shapes.outline_silhouette(image)
    # The 8 x 8 ring and its inside (widened by a pixel to close, then narrowed). A blank image draws nothing.
    assert filled[0, 0].sum() == 64 and filled[0, 0, 4:12, 4:12].all()
    assert filled[1].sum() == 0


def test_iou_by_hand():
    a = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    b = torch.zeros_like(a)
    a[0, 0, :2] = True   # 8 pixels
    b[0, 0, 1:3] = True  # 8 pixels, 4 shared
    assert shapes.iou(a, b).tolist() == pytest.approx([4 / 12, 1.0])  # the second pair: both empty


def test_framing_leaves_only_the_kind():
    """The same square at two places and sizes frames to nearly the same image."""
    masks = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
    masks[0, 0, 5:15, 40:50] = True
    masks[1, 0, 20:50, 10:40] = True
    framed = shapes.framed(masks, 32)
    assert framed.shape == (2, 1, 32, 32)
    assert (framed[0] - framed[1]).abs().mean() < 0.05 and framed[0, 0, 16, 16] == 1 and framed[0, 0, 0, 0] < 0.1
    assert shapes.framed(torch.zeros(1, 1, 8, 8), 32).sum() == 0


def test_stripe_correlation_colour_error_and_thickness_by_hand():
    fill = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    fill[..., :2, :] = True
    background = ~fill
    striped = torch.zeros(1, 3, 4, 4)
    striped[..., 0, :] = 0.8
    striped[..., 1, :] = 0.2
    fainter, inverted, flat = 0.5 + (striped - 0.5) / 3, 1 - striped, torch.full((1, 3, 4, 4), 0.4)
    assert shapes.stripe_correlation(fainter, striped, fill).item() == pytest.approx(1)
    assert shapes.stripe_correlation(inverted, striped, fill).item() == pytest.approx(-1)
    assert shapes.stripe_correlation(flat, striped, fill).item() == 0
    # Fill means 0.5 against 0.5, background 0 against 0.3: errors 0 and 0.3, mean 0.15.
    target = torch.zeros(1, 3, 4, 4)
    target[..., :2, :] = 0.5
    target[..., 2:, :] = 0.3
    assert shapes.colour_error(striped, target, fill, background).item() == pytest.approx(0.15)
    # A line of 2 x 10 black pixels on white: 20 of ink over a 10-pixel outline, 2 pixels thick.
    line = torch.ones(1, 3, 12, 12)
    line[..., 1:3, 1:11] = 0
    assert shapes.line_thickness(line, torch.tensor([10.0])).item() == pytest.approx(2)


def test_fill_regions_keep_a_pixel_from_the_edge():
    alpha = torch.zeros(1, 1, 10, 10)
    alpha[..., 2:8, 2:8] = 1
    fill, background = shapes.fill_regions(alpha)
    assert fill.sum() == 16 and fill[0, 0, 3:7, 3:7].all()
    assert background.sum() == 100 - 64 and not background[0, 0, 1:9, 1:9].any()


def test_the_classifier_tells_kinds_apart_on_shapes_it_never_saw():
    model = shapes.train_classifier(RES, count=1200, epochs=5)
    params = make_shapes.draw_parameters(120, seed=11)
    kinds = torch.tensor([make_shapes.KINDS.index(p["kind"]) for p in params])
    x, y = halves(params)
    for domain, images in enumerate((x, y)):
        accuracy = (shapes.kinds_drawn(model, images, domain) == kinds).float().mean().item()
        assert accuracy > 0.8, (domain, accuracy)


# The measure, on translations whose score is known

def oracle_batch(dataset, translate):
    """An EvalBatch over the whole test split, pair i with i + 1 as its reference, whose translations are
    translate(batch, source domain, reference names)."""
    n = len(dataset)
    items = [dataset[i] for i in range(n)]
    x, y = (torch.stack([it[d] for it in items]) for d in (0, 1))
    order = [(i + 1) % n for i in range(n)]
    names = [it[2] for it in items]
    batch = EvalBatch.__new__(EvalBatch)
    batch.subject, batch.names, batch.num_random = Subject.of(dataset), names, 2
    batch.reference_names = [names[j] for j in order]
    batch.sources, batch.references, batch._cache = (x, y), (x[order], y[order]), {}
    batch.translation = lambda src, style="reference": translate(batch, src)
    batch.random_translations = lambda src, count=None: torch.stack([translate(batch, src)] * 2)
    return batch


def right_answers(batch, src):
    answers, resolution = batch.subject.answers, batch.sources[0].shape[-1]
    return torch.stack([answers.right_answer(n, r, 1 - src, resolution)
                        for n, r in zip(batch.names, batch.reference_names)]).float() / 255


@pytest.fixture
def measure(monkeypatch):
    model = shapes.train_classifier(RES, count=300, epochs=2)
    monkeypatch.setattr(shapes, "shape_classifier", lambda resolution, cache_dir: model)
    return shapes.ShapeMeasures()


def test_the_right_answer_scores_as_its_yardsticks(data, measure):
    batch = oracle_batch(load(data), right_answers)
    report = measure.summarise(measure.collect(batch))
    assert report["x2y_style_error"] == 0 and report["y2x_style_error"] == 0
    assert report["x2y_iou_ratio"] == pytest.approx(1) and report["y2x_iou_ratio"] == pytest.approx(1)
    assert report["x2y_texture"] == pytest.approx(1)
    assert report["num_pairs"] == len(batch)
    assert report["x2y_own_style_error"] > 0.05 and report["y2x_own_style_error"] > 0.1
    for text in (measure.table(report), measure.line(report)):
        assert "kind kept" in text and "nan" not in text


def test_a_flat_blob_scores_no_texture_and_a_blank_outline_no_shape(data, measure):
    def blob(batch, src):
        answer = right_answers(batch, src)
        if src == 0:  # the fill's mean colour everywhere inside the shape: no stripes
            alpha = torch.stack([batch.subject.answers.silhouette(n, RES) for n in batch.names])[:, None]
            inside = alpha > 0.5
            mean = (answer * inside).flatten(2).sum(2) / inside.flatten(2).sum(2)
            return torch.where(inside, mean[..., None, None], answer)
        return torch.ones_like(answer)  # Y2X: white, no line
    report = measure.summarise(measure.collect(oracle_batch(load(data), blob)))
    assert report["x2y_texture"] == pytest.approx(0, abs=1e-6) and report["x2y_iou_ratio"] > 0.9
    assert report["y2x_iou"] == 0


def test_test_mode_on_a_shapes_run_prints_the_measures(data, tmp_path, monkeypatch, capsys):
    from tests.small import NARROW
    import main
    model = shapes.train_classifier(RES, count=300, epochs=2)
    monkeypatch.setattr(shapes, "shape_classifier", lambda resolution, cache_dir: model)
    config = {"dataset": "shapes", "path_to_data": data, "resolution": RES, "output_root": str(tmp_path),
              "model": dict(NARROW), "training": {"max_iters": 2, "batch_size": 2, "print_freq": 1,
                                                  "sample_freq": 100, "model_save_freq": 2, "eval_freq": 100}}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    assert main.main([str(path)]) == 0
    run = next(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    capsys.readouterr()
    assert main.main(["--test", str(run)]) == 0
    out = capsys.readouterr().out
    assert "kind kept, reference style" in out and "texture (stripe correlation" in out
    assert math.isfinite(float(out.split("model / right answer")[1].split()[0]))
