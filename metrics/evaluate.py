"""Test mode ("train": 0): a checkpoint's translation grids, cross-domain retrieval, translation fidelity and
codes, written to a fresh `results/` folder of its run directory; and the measures training logs as it goes."""
import json
import os
import time

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from dataloader.registry import load_dataset
from dataloader.sampler import balanced_batches
from metrics.codes import compute_codes, retrieval_inputs, save_features
from metrics.fidelity import KNOWN_ANSWER_DATASETS, fidelity_report, format_fidelity
from metrics.retrieval import format_report, retrieval_report
from models.iiae import IIAE, check_decoder, check_feature_norm, evaluating
from models.translate import fixed_source_rows, translation_rows
from utils import checkpoint as ckpt
from utils.errors import UserError
from utils.images import save_grid
from utils.rundir import fresh_subdir


def retrieval(model, dataset, batch_size, device, batchnorm, max_pairs=0):
    """(names, codes, report): the codes of the dataset's pairs (the first max_pairs when > 0) and their
    cross-domain retrieval report."""
    names, codes = compute_codes(model, dataset, batch_size, device, batchnorm, max_pairs)
    return names, codes, retrieval_report(retrieval_inputs(codes))


def evaluate(model, dataset_name, dataset, batch_size, device, batchnorm, max_pairs=0):
    """(names, codes, retrieval report, fidelity report): retrieval() and, where the dataset's right
    translation is known (KNOWN_ANSWER_DATASETS), the translations' distance to it; else None."""
    names, codes, report = retrieval(model, dataset, batch_size, device, batchnorm, max_pairs)
    fidelity = (fidelity_report(model, dataset, batch_size, device, batchnorm, max_pairs)
                if dataset_name in KNOWN_ANSWER_DATASETS else None)
    return names, codes, report, fidelity


def log_evaluation(writer, report, fidelity, step):
    """TensorBoard scalars `retrieval/<kind>_<direction>_top<k>` and, with a fidelity report,
    `translation/x2y_l1` and `translation/y2x_l1`."""
    for key, value in report.items():
        if key != "num_pairs":
            writer.add_scalar(f"retrieval/{key}", value, step)
    if fidelity is not None:
        for key in ("x2y_l1", "y2x_l1"):
            writer.add_scalar(f"translation/{key}", fidelity[key], step)


def evaluation_line(report, fidelity, step):
    """One line for the terminal: shared and exclusive top-1 both ways and, with a fidelity report, the
    translation L1 both ways."""
    line = (f"evaluation at {step} ({report['num_pairs']} test pairs): shared top-1 {report['shared_x2y_top1']:.3f} / "
            f"{report['shared_y2x_top1']:.3f}, exclusive {report['exclusive_x2y_top1']:.3f} / "
            f"{report['exclusive_y2x_top1']:.3f} (X2Y / Y2X)")
    if fidelity is not None:
        line += f", translation L1 {fidelity['x2y_l1']:.3f} / {fidelity['y2x_l1']:.3f}"
    return line


def result_grids(model, dataset, folder, batch_size, num_results, batchnorm, seed, device):
    """For each of the first num_results test batches (all when 0): X2Y_<i>.jpg and Y2X_<i>.jpg (translation
    rows), fixX2Y_<i>.jpg and fixY2X_<i>.jpg (the first batch's sources in this batch's styles)."""
    loader = DataLoader(dataset, batch_sampler=balanced_batches(len(dataset), batch_size),
                        generator=torch.Generator())
    limit = num_results or len(loader)
    generator = torch.Generator().manual_seed(seed)
    fixed = None
    with evaluating(model, batchnorm):
        for i, (x, y, _) in enumerate(loader):
            if i >= limit:
                break
            x, y = x.to(device), y.to(device)
            fixed = fixed or (x, y)
            for name, src, ref, d in (("X2Y", x, y, 0), ("Y2X", y, x, 1)):
                save_grid(translation_rows(model, src, ref, d, generator=generator),
                          os.path.join(folder, f"{name}_{i}.jpg"))
                save_grid(fixed_source_rows(model, fixed[d], ref, d), os.path.join(folder, f"fix{name}_{i}.jpg"))


def run_test(cfg, context):
    """Test the checkpoint `test.test_iters` of the run `test.test_path` on the test split; returns the
    results folder."""
    it, path, state = ckpt.find_checkpoint(cfg.test.test_path, cfg.test.test_iters)
    torch.manual_seed(cfg.seed)
    model = IIAE.from_config(cfg.resolution, cfg.model).to(context.device)
    check_feature_norm(ckpt.networks_of(state, path), cfg.model.feature_norm, path)
    check_decoder(ckpt.networks_of(state, path), cfg.model.decoder, path)
    ckpt.load_networks(model, state, path, cfg.resolution)
    test_set = load_dataset(cfg.dataset, cfg.path_to_data, "test", cfg.resolution, cfg.data, False,
                            os.path.join(cfg.output_root, ".cache"), context)
    if len(test_set) < 2 and cfg.model.eval_batchnorm == "batch":
        raise UserError(f"the test split of {cfg.path_to_data} has one pair, and BatchNorm batch statistics "
                        "(model.eval_batchnorm \"batch\") cannot normalise a single item; test it with "
                        "--set model.eval_batchnorm=running")
    results = fresh_subdir(cfg.test.test_path, "results")
    print(f"testing {path} on {len(test_set)} test pairs; results in {results}", flush=True)
    started = time.monotonic()
    result_grids(model, test_set, results, cfg.test.batch_size, cfg.test.num_results, cfg.model.eval_batchnorm,
                 cfg.seed, context.device)
    names, codes, report, fidelity = evaluate(model, cfg.dataset, test_set, cfg.test.batch_size, context.device,
                                              cfg.model.eval_batchnorm)
    with SummaryWriter(os.path.join(cfg.test.test_path, "logs")) as writer:
        log_evaluation(writer, report, fidelity, it)
    save_features(os.path.join(results, "features.npz"), names, codes)
    report.update(iteration=it, eval_batchnorm=cfg.model.eval_batchnorm)
    with open(os.path.join(results, "retrieval.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(format_report(report), flush=True)
    if fidelity is not None:
        fidelity.update(iteration=it, eval_batchnorm=cfg.model.eval_batchnorm)
        with open(os.path.join(results, "translation.json"), "w") as f:
            json.dump(fidelity, f, indent=2)
        print(format_fidelity(fidelity), flush=True)
    print(f"test finished in {time.monotonic() - started:.1f} s", flush=True)
    return results
