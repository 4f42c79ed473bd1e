"""Test mode ("train": 0): a checkpoint's result grids, every measure of metrics/measures.py and the codes
of the test split, written to a fresh `results/` folder of its run directory, from one pass over the
test pairs. Its TensorBoard scalars go to `logs/test/<results folder>`, apart from the training curve."""
import json
import os
import time

import torch

from dataloader.registry import load_dataset
from metrics.codes import batch_codes, save_features
from metrics.evaluation import DIRECTIONS, Subject, evaluate, log_scalars, tables
from metrics.grids import fixed_source_grid, translation_grid
from metrics.measures import MEASURES
from models.loading import load_trained
from utils.errors import UserError
from utils.event_log import EventLog
from utils.files import atomic_path, remove_stale
from utils.images import save_grid
from utils.rundir import fresh_name


class Tester:
    """Tests the checkpoint `test.test_iters` of the run `test.test_path` on the config's test split."""

    def __init__(self, cfg, context):
        self.cfg, self.device = cfg, context.device
        self.context = context

    def test(self):
        """Returns the results folder."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        trained = load_trained(cfg.test.test_path, cfg.test.test_iters, self.device, config=cfg)
        iteration, path = trained.iteration, trained.path
        test_set = load_dataset(cfg.dataset, cfg.path_to_data, "test", cfg.resolution, cfg.data, False,
                                os.path.join(cfg.output_root, ".cache"), self.context)
        if len(test_set) < 2 and cfg.model.eval_batchnorm == "batch":
            raise UserError(f"the test split of {cfg.path_to_data} has one pair, and BatchNorm batch statistics "
                            "(model.eval_batchnorm \"batch\") cannot normalise a single item; test it with "
                            "--set model.eval_batchnorm=running")
        final = fresh_name(cfg.test.test_path, "results")
        print(f"testing {path} on {len(test_set)} test pairs; results in {final}", flush=True)
        started = time.monotonic()
        remove_stale(cfg.test.test_path, os.path.basename(final))  # what a killed test left
        # Written into a temporary sibling renamed at the end: an error or a signal midway leaves no
        # half-filled results folder.
        with atomic_path(final, fsync=False) as results:
            os.makedirs(results)
            reports = self._write_results(trained, test_set, results)
        with EventLog() as writer:
            writer.open(os.path.join(cfg.test.test_path, "logs", "test", os.path.basename(final)))
            log_scalars(writer, MEASURES, reports, iteration)
        print(tables(MEASURES, reports), flush=True)
        print(f"test finished in {time.monotonic() - started:.1f} s", flush=True)
        return final

    def _write_results(self, trained, test_set, results):
        """The result grids, features.npz and each measure's report into `results`; returns the reports."""
        cfg, iteration = self.cfg, trained.iteration
        names, codes, fixed = [], [], []

        def draw_grids(i, batch):
            names.extend(batch.names)
            codes.append(batch_codes(batch))
            if cfg.test.num_results and i >= cfg.test.num_results:
                return
            if not fixed:
                fixed.append(batch)
            for d, direction in enumerate(DIRECTIONS):
                label = direction.upper()
                save_grid(translation_grid(batch, d), os.path.join(results, f"{label}_{i}.jpg"))
                save_grid(fixed_source_grid(fixed[0], batch, d), os.path.join(results, f"fix{label}_{i}.jpg"))

        reports, _ = evaluate(trained.model, test_set, MEASURES, Subject.of(test_set), cfg.test.batch_size,
                              self.device, cfg.model.eval_batchnorm, cfg.seed, on_batch=draw_grids)
        save_features(os.path.join(results, "features.npz"), names,
                      {key: torch.cat([part[key] for part in codes]) for key in codes[0]})
        for name, report in reports.items():
            with open(os.path.join(results, f"{name}.json"), "w") as f:
                json.dump({**report, "iteration": iteration, "eval_batchnorm": cfg.model.eval_batchnorm}, f, indent=2)
        return reports
