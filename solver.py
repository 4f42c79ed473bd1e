"""Solver: owns the IIAE networks, optimizers, schedulers and checkpoints, and runs train() and test()."""
import contextlib
import json
import os
import signal
import time

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from dataloader.cache import attach_cache
from dataloader.registry import build_dataset
from dataloader.sampler import ResumableSampler, balanced_batches
from metrics.fidelity import KNOWN_ANSWER_DATASETS, fidelity_report, format_fidelity
from models.iiae import GROUPS, IIAE, check_feature_norm, evaluating
from models.losses import LOSS_NAMES, iiae_loss, kl_annealing, kl_scale
from models.translate import fixed_source_rows, translation_rows
from utils import checkpoint as ckpt
from utils.distributed import any_true, mean_over_processes
from utils.errors import UserError
from metrics.codes import compute_codes, retrieval_inputs, save_features
from utils.images import grid_image, save_grid, save_image
from utils.progress import Progress
from metrics.retrieval import format_report, retrieval_report
from utils.rundir import create_run_dir, fresh_subdir

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLoss(UserError):
    exit_code = 3


class Interrupted(UserError):
    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum


class Solver:
    def __init__(self, cfg, context, config_path=None):
        self.cfg, self.ctx, self.config_path = cfg, context, config_path
        self.device = context.device
        torch.manual_seed(cfg.seed)
        self.model = IIAE.from_config(cfg.resolution, cfg.model).to(self.device)
        self.model.noise_shard = (context.rank, context.world_size)
        t = cfg.training
        self._solo_group = None
        if t.sync_bn:
            self._sync_batchnorm()
        if t.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # Fused Adam: 22 ms instead of 97 ms per step for the 64 px network on a 2-core CPU.
        self.optimizers = {name: torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2),
                                                  weight_decay=t.weight_decay,
                                                  fused=self.device.type in ("cpu", "cuda"))
                           for name, params in self.model.parameter_groups().items()}
        self.schedulers = {name: torch.optim.lr_scheduler.MultiStepLR(opt, t.milestones, t.scheduler_gamma)
                           for name, opt in self.optimizers.items()}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        self.iteration = 0
        self._stop_signal = None
        self._resume_rng = None

    def _sync_batchnorm(self):
        """BatchNorm statistics over the global batch under torchrun. SyncBatchNorm runs only on CUDA."""
        if self.device.type != "cuda":
            raise UserError("config: 'training.sync_bn' needs CUDA (SyncBatchNorm does not run on CPU); "
                            "set it to false")
        if self.ctx.distributed:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            # Every process makes its own one-process group (a collective call, hence here).
            self._solo_group, _ = torch.distributed.new_subgroups(group_size=1)

    @contextlib.contextmanager
    def _unsynced_batchnorm(self):
        """Grids and evaluation run on the main process alone and use batch statistics: its SyncBatchNorm
        layers must talk only to itself there, or they would wait forever for the other processes."""
        layers = [m for m in self.model.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
        for m in layers:
            m.process_group = self._solo_group
        try:
            yield
        finally:
            for m in layers:
                m.process_group = None

    # ---- data -------------------------------------------------------------------------------
    def _dataset(self, split, train):
        cfg = self.cfg
        dataset = build_dataset(cfg.dataset, cfg.path_to_data, split, cfg.resolution, cfg.data, train)
        dataset.scan(cfg.data.skip_bad_files)
        attach_cache(dataset, cfg.data.cache, os.path.join(cfg.output_root, ".cache"), verbose=self.ctx.is_main)
        return dataset

    def _train_loader(self, dataset, start_iteration):
        t, cuda = self.cfg.training, self.device.type == "cuda"
        sampler = ResumableSampler(len(dataset), self.cfg.seed, t.batch_size, start_iteration,
                                   self.ctx.rank, self.ctx.world_size)
        # The loader's own generator seeds its workers, so creating it never draws from the global RNG
        # that dropout and sampling use (exact resume).
        return DataLoader(dataset, batch_size=t.batch_size, sampler=sampler, num_workers=t.num_workers,
                          pin_memory=cuda, persistent_workers=t.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def _to_device(self, image):
        image = image.to(self.device, non_blocking=True)
        if self.cfg.training.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return image

    # ---- checkpoints ------------------------------------------------------------------------
    def _state(self):
        return {
            "iteration": self.iteration,
            "resolution": self.cfg.resolution,
            "config": json.dumps(self.cfg.to_dict()),
            "model": self.model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def _load_state(self, state, path, full):
        """Restore the networks (and with full=True everything needed to continue training exactly)."""
        if not isinstance(state, dict) or "model" not in state:
            raise UserError(f"checkpoint {path} is not an IIAE checkpoint (no 'model' entry)")
        saved = state.get("resolution")
        hint = (f"saved at resolution {saved}; this config has {self.cfg.resolution}"
                if saved != self.cfg.resolution else "check the model section")
        check_feature_norm(state["model"], self.cfg.model.feature_norm, path)
        ckpt.load_model_state(self.model, state["model"], path, hint)
        self.iteration = int(state.get("iteration", 0))
        if not full:
            return
        for group in GROUPS:
            self.optimizers[group].load_state_dict(state["optimizers"][group])
            self.schedulers[group].load_state_dict(state["schedulers"][group])
        self.scaler.load_state_dict(state["scaler"])
        self._resume_rng = state["rng"]

    def _restore_rng(self):
        """Put back the RNG state of the checkpoint just before the first step, so dropout and sampling
        continue exactly where the interrupted run left off."""
        rng, self._resume_rng = self._resume_rng, None
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"][:torch.cuda.device_count()])

    def _save(self, run_dir):
        if self.ctx.is_main:
            ckpt.save_checkpoint(os.path.join(run_dir, "models"), self.iteration, self._state(),
                                 self.cfg.training.keep_last)

    # ---- training ---------------------------------------------------------------------------
    def train(self):
        cfg, t = self.cfg, self.cfg.training
        train_set, test_set, run_dir, writer = self._prepare_training()
        fixed = self._fixed_batch(test_set)
        scale = kl_scale(cfg.model.kl_scaling, t.batch_size * self.ctx.world_size, len(train_set))
        weights = {"rec": t.rec_weight, "X_kld": t.X_kld_weight, "S_kld": t.S_kld_weight,
                   "inter_kld": t.inter_kld_weight}
        net = self._wrapped_model()
        data = iter(self._train_loader(train_set, self.iteration))
        watch = NonFiniteWatch(self.device)
        progress = Progress(self.iteration, t.max_iters) if self.ctx.is_main else None
        # A host sync costs nothing on the CPU, so check every step there; on CUDA only when logging.
        check_every = 1 if self.device.type == "cpu" else t.print_freq
        self.model.train()
        self._restore_rng()
        with self._signals():
            while self.iteration < t.max_iters:
                self.iteration += 1
                it, last = self.iteration, self.iteration == t.max_iters
                x, y, _ = next(data)
                anneal = kl_annealing(it, cfg.model.kl_anneal_iters)
                terms = self._step(net, self._to_device(x), self._to_device(y), weights, anneal, scale)
                watch.add(it, terms)
                save_now = it % t.model_save_freq == 0 or last
                if it % check_every == 0 or save_now or it % t.print_freq == 0:
                    watch.check()
                if it % t.print_freq == 0 or last:
                    self._report(terms, anneal, writer, progress)
                if self.ctx.is_main and (it % t.sample_freq == 0 or last):
                    self._sample_grids(fixed, os.path.join(run_dir, "samples", str(it)), writer)
                if self.ctx.is_main and t.eval_freq and it % t.eval_freq == 0:
                    self._evaluate(test_set, writer, t.eval_pairs)
                if save_now:
                    self._save(run_dir)
                if any_true(self._stop_signal is not None, self.ctx):
                    watch.check()
                    if not save_now:
                        self._save(run_dir)
                    self._interrupted(run_dir)
        if self.ctx.is_main:
            progress.close()
            writer.close()
            print(f"finished {self.iteration} iterations; checkpoints in {os.path.join(run_dir, 'models')}",
                  flush=True)
        return run_dir

    def _prepare_training(self):
        """Resume state, data, run directory and TensorBoard writer. Nothing is written before the
        data and the checkpoint are known good."""
        t = self.cfg.training
        if t.resume_iters:
            _, path, state = ckpt.find_checkpoint(t.restored_model_path, t.resume_iters)
            self._load_state(state, path, full=True)
        if self.iteration >= t.max_iters:
            raise UserError(f"config: 'training.max_iters' is {t.max_iters} but the run is already at "
                            f"iteration {self.iteration}; raise max_iters to continue")
        train_set = self._dataset("train", train=True)
        test_set = self._dataset("test", train=False)
        # A run continues in its own directory from its newest good checkpoint; resuming from an older
        # one by number starts a new directory, so the later checkpoints stay.
        run_dir, writer = None, None
        if t.resume_iters == "latest" or (t.resume_iters and self.iteration == ckpt.available_iterations(
                os.path.join(t.restored_model_path, "models"))[-1]):
            run_dir = t.restored_model_path
        if self.ctx.is_main:
            run_dir = create_run_dir(self.cfg, run_dir, self.iteration)
            print(f"run directory: {run_dir}", flush=True)
            writer = SummaryWriter(os.path.join(run_dir, "logs"), purge_step=self.iteration + 1)
        return train_set, test_set, run_dir, writer

    def _wrapped_model(self):
        net = self.model
        if self.ctx.distributed:
            net = DistributedDataParallel(net, device_ids=[self.device] if self.device.type == "cuda" else None)
        return torch.compile(net) if self.cfg.training.compile else net

    def _step(self, net, x, y, weights, anneal, scale):
        """One optimisation step of all three optimizers; returns the loss terms."""
        precision = self.cfg.training.precision
        autocast = (torch.autocast(self.device.type, dtype=_DTYPES[precision]) if precision in _DTYPES
                    else contextlib.nullcontext())
        with autocast:
            outputs = net(x, y)
        terms = iiae_loss(outputs, x, y, weights, anneal, scale)
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total_loss"]).backward()
        for opt in self.optimizers.values():
            self.scaler.step(opt)
        self.scaler.update()
        for sched in self.schedulers.values():
            sched.step()
        return terms

    def _report(self, terms, anneal, writer, progress):
        """Losses (mean over processes) to TensorBoard and the progress line; every process calls it."""
        values = dict(zip(LOSS_NAMES, mean_over_processes(
            torch.stack([terms[n].detach() for n in LOSS_NAMES]), self.ctx).tolist()))
        if self.ctx.is_main:
            self._log_scalars(writer, values, anneal)
            progress.update(self.iteration, values)

    def _log_scalars(self, writer, values, anneal):
        for name, value in values.items():
            writer.add_scalar(f"loss/{name}", value, self.iteration)
        writer.add_scalar("train/lr", self.schedulers["exclusive"].get_last_lr()[0], self.iteration)
        writer.add_scalar("train/kl_anneal", anneal, self.iteration)

    def _fixed_batch(self, dataset):
        n = min(len(dataset), self.cfg.training.batch_size, 8)
        if n < 2:
            raise UserError(f"the test split of {self.cfg.path_to_data} needs at least 2 items for sample grids")
        x, y, _ = next(iter(DataLoader(dataset, batch_size=n, generator=torch.Generator())))
        return self._to_device(x), self._to_device(y)

    def _sample_grids(self, fixed, folder, writer):
        x, y = fixed
        with evaluating(self.model, self.cfg.model.eval_batchnorm), self._unsynced_batchnorm():
            generator = torch.Generator().manual_seed(self.cfg.seed)
            for name, src, ref, d in (("X2Y", x, y, 0), ("Y2X", y, x, 1)):
                grid = grid_image(translation_rows(self.model, src, ref, d, generator=generator))
                save_image(grid, os.path.join(folder, f"{name}.jpg"))
                writer.add_image(f"samples/{name}", grid, self.iteration)

    def _evaluate(self, dataset, writer, max_pairs=0):
        with self._unsynced_batchnorm():
            names, codes = compute_codes(self.model, dataset, self.cfg.test.batch_size, self.device,
                                         self.cfg.model.eval_batchnorm, max_pairs)
            fidelity = None
            if self.cfg.dataset in KNOWN_ANSWER_DATASETS:
                fidelity = fidelity_report(self.model, dataset, self.cfg.test.batch_size, self.device,
                                           self.cfg.model.eval_batchnorm, max_pairs)
                for key in ("x2y_l1", "y2x_l1"):
                    writer.add_scalar(f"translation/{key}", fidelity[key], self.iteration)
        report = retrieval_report(retrieval_inputs(codes))
        for key, value in report.items():
            if key != "num_pairs":
                writer.add_scalar(f"retrieval/{key}", value, self.iteration)
        return names, codes, report, fidelity

    @contextlib.contextmanager
    def _signals(self):
        """First SIGINT/SIGTERM: finish the step, checkpoint, stop. A second one: stop at once."""
        def handler(signum, frame):
            if self._stop_signal is not None:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            self._stop_signal = signum
            print(f"\nsignal {signal.Signals(signum).name}: stopping after this step "
                  "(send it again to stop at once)", flush=True)
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _interrupted(self, run_dir):
        config = self.config_path or os.path.join(run_dir, "config.json")
        raise Interrupted(f"interrupted at iteration {self.iteration}; checkpoint saved; resume with: "
                          f"python main.py {config} --resume {run_dir}", self._stop_signal or signal.SIGINT)

    # ---- testing ----------------------------------------------------------------------------
    def test(self):
        cfg = self.cfg
        it, path, state = ckpt.find_checkpoint(cfg.test.test_path, cfg.test.test_iters)
        self._load_state(state, path, full=False)
        test_set = self._dataset("test", train=False)
        results = fresh_subdir(cfg.test.test_path, "results")
        print(f"testing {path} on {len(test_set)} test pairs; results in {results}", flush=True)
        started = time.monotonic()
        self._result_grids(test_set, results)
        writer = SummaryWriter(os.path.join(cfg.test.test_path, "logs"))
        names, codes, report, fidelity = self._evaluate(test_set, writer)
        writer.close()
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

    def _result_grids(self, dataset, results):
        loader = DataLoader(dataset, batch_sampler=balanced_batches(len(dataset), self.cfg.test.batch_size),
                            generator=torch.Generator())
        limit = self.cfg.test.num_results or len(loader)
        generator = torch.Generator().manual_seed(self.cfg.seed)
        fixed = None
        with evaluating(self.model, self.cfg.model.eval_batchnorm):
            for i, (x, y, _) in enumerate(loader):
                if i >= limit:
                    break
                x, y = self._to_device(x), self._to_device(y)
                fixed = fixed or (x, y)
                for name, src, ref, d in (("X2Y", x, y, 0), ("Y2X", y, x, 1)):
                    save_grid(translation_rows(self.model, src, ref, d, generator=generator),
                              os.path.join(results, f"{name}_{i}.jpg"))
                    save_grid(fixed_source_rows(self.model, fixed[d], ref, d),
                              os.path.join(results, f"fix{name}_{i}.jpg"))


class NonFiniteWatch:
    """Notes, without a host sync per step, the first iteration whose loss terms were not finite;
    check() raises NonFiniteLoss naming it and the terms, before anything is saved."""

    def __init__(self, device):
        self.first = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_terms = torch.zeros(len(LOSS_NAMES), dtype=torch.bool, device=device)

    def add(self, iteration, terms):
        bad = ~torch.isfinite(torch.stack([terms[name].detach() for name in LOSS_NAMES]))
        new = (self.first < 0) & bad.any()
        self.first = torch.where(new, iteration, self.first)
        self.bad_terms = torch.where(new, bad, self.bad_terms)

    def check(self):
        first = int(self.first)
        if first >= 0:
            names = [n for n, b in zip(LOSS_NAMES, self.bad_terms.tolist()) if b]
            raise NonFiniteLoss(f"non-finite loss at iteration {first} in {', '.join(names)}; stopped "
                                "without saving (lower training.lr or the loss weights, or try precision fp32)")
