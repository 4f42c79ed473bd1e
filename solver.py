"""Solver: owns the IIAE networks, optimizers, schedulers and checkpoint state, and trains them."""
import contextlib
import os
import signal

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from dataloader.registry import load_dataset
from dataloader.sampler import ResumableSampler
from metrics.evaluation import Subject, evaluate, evaluated_pairs, log_scalars, summary_line
from metrics.grids import sample_batch, translation_grid
from metrics.measures import MEASURES
from models.iiae import evaluating
from models.loading import build_model, load_trained
from models.losses import LOSS_NAMES, LOSS_WEIGHTS, iiae_loss, kl_annealing, kl_scale, kl_scaling_warning
from utils import checkpoint as ckpt
from utils.distributed import any_true, mean_over_processes
from utils.errors import UserError
from utils.event_log import EventLog
from utils.images import grid_image, save_image
from utils.memory import check_training_memory
from utils.progress import Progress
from utils.resume import apply_new_schedule, continues_in_place, prepare_in_place, set_aside_newer
from utils.rundir import create_run_dir
from utils.runlock import RunLock
from utils.stopping import Interrupted, NonFiniteWatch, StopSignals, check_finite_weights
from utils.terminal_log import TerminalLog

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _write_error(what, path, run_dir, error):
    """A failed write (a full disk, a file system gone read-only) stops with one line naming the file and
    the last good checkpoint: the writes are atomic, so the earlier checkpoints are intact."""
    models = os.path.join(run_dir, "models")
    done = ckpt.available_iterations(models)
    last = f"iteration {done[-1]} (resume with: python main.py --resume {run_dir})" if done else "none"
    return UserError(f"cannot write {what} {path}: {error.strerror or error}; the last good checkpoint in {models} "
                     f"is {last}")


@contextlib.contextmanager
def _writing(what, path, run_dir):
    try:
        yield
    except OSError as e:
        raise _write_error(what, path, run_dir, e) from None


class Solver:
    def __init__(self, cfg, context):
        self.cfg, self.ctx = cfg, context
        self.device = context.device
        check_training_memory(lambda: build_model(cfg.resolution, cfg.model, "meta"), self.device,
                              "lower resolution or the model section's sizes")
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.resolution, cfg.model, self.device)
        self.model.noise_shard = (context.rank, context.world_size)
        t = cfg.training
        self._solo_group = None
        if t.sync_bn:
            self._sync_batchnorm()
        if t.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # Fused Adam: a fraction of the unfused optimizer step on the CPU (docs/measurements.md).
        self.optimizers = {name: torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2),
                                                  weight_decay=t.weight_decay,
                                                  fused=self.device.type in ("cpu", "cuda"))
                           for name, params in self.model.parameter_groups().items()}
        self.schedulers = {name: torch.optim.lr_scheduler.MultiStepLR(opt, t.milestones, t.scheduler_gamma)
                           for name, opt in self.optimizers.items()}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        self.loss_weights = {name: t[name] for name in LOSS_WEIGHTS}
        self.checkpoint = ckpt.CheckpointIO(self.model, self.optimizers, self.schedulers, self.scaler,
                                            cfg.resolution, cfg.to_dict())
        self.iteration = 0

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

    # ---- the public pieces of training (bench/speed.py times train_step alone) --------------------
    def train_loader(self, dataset, start_iteration):
        t, cuda = self.cfg.training, self.device.type == "cuda"
        sampler = ResumableSampler(len(dataset), self.cfg.seed, t.batch_size, start_iteration,
                                   self.ctx.rank, self.ctx.world_size)
        # The loader's own generator seeds its workers, so creating it never draws from the global RNG
        # that dropout and sampling use (exact resume).
        return DataLoader(dataset, batch_size=t.batch_size, sampler=sampler, num_workers=t.num_workers,
                          pin_memory=cuda, persistent_workers=t.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def to_device(self, image):
        image = image.to(self.device, non_blocking=True)
        if self.cfg.training.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return image

    def wrapped_model(self):
        """The model as the step runs it: in DistributedDataParallel under torchrun, compiled on request."""
        net = self.model
        if self.ctx.distributed:
            net = DistributedDataParallel(net, device_ids=[self.device] if self.device.type == "cuda" else None)
        return torch.compile(net) if self.cfg.training.compile else net

    def train_step(self, net, x, y, anneal, scale):
        """One optimisation step of all three optimizers on a batch on the device (to_device); returns the
        loss terms. net: wrapped_model(); anneal: the KL annealing a(t); scale: the KL scale."""
        precision = self.cfg.training.precision
        autocast = (torch.autocast(self.device.type, dtype=_DTYPES[precision]) if precision in _DTYPES
                    else contextlib.nullcontext())
        with autocast:
            outputs = net(x, y, self.loss_weights["cross_rec_weight"] > 0)
        terms = iiae_loss(outputs, x, y, self.loss_weights, anneal, scale, self.cfg.training.rec_loss)
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total_loss"]).backward()
        for opt in self.optimizers.values():
            self.scaler.step(opt)
        self.scaler.update()
        for sched in self.schedulers.values():
            sched.step()
        return terms

    # ---- training ---------------------------------------------------------------------------
    def train(self):
        """Train to training.max_iters; returns the run directory."""
        cfg, t, ctx = self.cfg, self.cfg.training, self.ctx
        with TerminalLog(enabled=ctx.is_main) as log, RunLock() as lock, EventLog() as writer:
            train_set, test_set, fixed, run_dir = self._prepare_training(log, lock, writer)
            scale = kl_scale(cfg.model.kl_scaling, t.batch_size * ctx.world_size, len(train_set))
            warning = kl_scaling_warning(cfg.model.kl_scaling, t.batch_size, ctx.world_size, len(train_set),
                                         named="kl_scaling" not in cfg.model.defaulted)
            if warning and ctx.is_main:
                print(warning, flush=True)
            net = self.wrapped_model()
            data = iter(self.train_loader(train_set, self.iteration))
            watch = NonFiniteWatch(LOSS_NAMES, self.device)
            progress = Progress(self.iteration, t.max_iters) if ctx.is_main else None
            # A host sync costs nothing on the CPU, so check every step there; on CUDA only when logging.
            check_every = 1 if self.device.type == "cpu" else t.print_freq
            self.model.train()
            self.checkpoint.restore_rng()
            with StopSignals() as stop:
                while self.iteration < t.max_iters:
                    self.iteration += 1
                    it, last = self.iteration, self.iteration == t.max_iters
                    x, y, _ = next(data)
                    anneal = kl_annealing(it, cfg.model.kl_anneal_iters)
                    terms = self.train_step(net, self.to_device(x), self.to_device(y), anneal, scale)
                    watch.add(it, terms)
                    save_now = it % t.model_save_freq == 0 or last
                    if it % check_every == 0 or save_now:
                        watch.check()
                    if it % t.print_freq == 0 or last:
                        self._report(terms, anneal, writer, progress)
                    if ctx.is_main and (it % t.sample_freq == 0 or last):
                        self._sample_grids(fixed, run_dir, writer)
                    if ctx.is_main and t.eval_freq and it % t.eval_freq == 0:
                        progress.note(self._evaluate(test_set, writer, 0 if last else t.eval_pairs))
                    if save_now:
                        self._save(run_dir)
                    # Under torchrun the stop flag takes an all-reduce and a host sync, so the processes
                    # agree on it only when they log or save anyway.
                    if (not ctx.distributed or it % t.print_freq == 0 or save_now) and \
                            any_true(stop.received is not None, ctx):
                        watch.check()
                        if not save_now:
                            self._save(run_dir)
                        raise Interrupted.at(it, run_dir, stop.received or signal.SIGINT)
            if ctx.is_main:
                progress.close()
                writer.close()
                print(f"finished {self.iteration} iterations; checkpoints in {os.path.join(run_dir, 'models')}",
                      flush=True)
        return run_dir

    def _prepare_training(self, log, lock, writer):
        """Resume state, data, the fixed batch of the sample grids and run directory (with log.txt, locked
        with `lock`, and the TensorBoard `writer` opened). Nothing is written before the data and the
        checkpoint are known good."""
        t = self.cfg.training
        # A run continues in its own directory from its newest good checkpoint; resuming from an older
        # one by number starts a new directory, so the later checkpoints stay.
        in_place = bool(t.resume_iters) and continues_in_place(t.restored_model_path, t.resume_iters)
        if in_place and self.ctx.is_main:
            prepare_in_place(t.restored_model_path, lock)
        if t.resume_iters:
            trained = load_trained(t.restored_model_path, t.resume_iters, self.device, config=self.cfg,
                                   into=self.model)
            if in_place and self.ctx.is_main:
                set_aside_newer(t.restored_model_path, trained.iteration)
            self.iteration = self.checkpoint.load(trained.state, trained.path)
            self._apply_new_schedule()
        if self.iteration >= t.max_iters:
            raise UserError(f"config: 'training.max_iters' is {t.max_iters} but the run is already at "
                            f"iteration {self.iteration}; raise max_iters to continue")
        train_set = self._dataset("train", train=True)
        test_set = self._dataset("test", train=False)
        fixed = self._fixed_batch(test_set)
        run_dir = t.restored_model_path if in_place else None
        if self.ctx.is_main:
            run_dir = create_run_dir(self.cfg, run_dir, self.iteration)
            if not in_place:
                lock.take(run_dir)
            log.open(os.path.join(run_dir, "log.txt"))
            print(f"run directory: {run_dir}", flush=True)
            logs = os.path.join(run_dir, "logs")
            writer.open(logs, lambda e: _write_error("TensorBoard log", logs, run_dir, e),
                        purge_step=self.iteration + 1)
        return train_set, test_set, fixed, run_dir

    def _apply_new_schedule(self):
        changed = apply_new_schedule(self.optimizers, self.schedulers, self.cfg.training)
        if changed and self.ctx.is_main:
            lr = self.schedulers["exclusive"].get_last_lr()[0]
            print(f"resume: the restored optimizers and schedulers take the new {', '.join(changed)} instead of "
                  f"the checkpoint's (learning rate {lr:g} from iteration {self.iteration + 1})", flush=True)

    def _dataset(self, split, train):
        cfg = self.cfg
        return load_dataset(cfg.dataset, cfg.path_to_data, split, cfg.resolution, cfg.data, train,
                            os.path.join(cfg.output_root, ".cache"), self.ctx)

    def _save(self, run_dir):
        # On every process (their weights are the same), so that all stop alike.
        check_finite_weights(self.model, self.iteration)
        if self.ctx.is_main:
            models = os.path.join(run_dir, "models")
            with _writing("checkpoint", ckpt.checkpoint_path(models, self.iteration), run_dir):
                self.checkpoint.save(models, self.iteration, self.cfg.training.keep_last)

    # ---- what the loop reports --------------------------------------------------------------
    def _report(self, terms, anneal, writer, progress):
        """Losses (mean over processes) to TensorBoard and the progress line; every process calls it."""
        values = dict(zip(LOSS_NAMES, mean_over_processes(
            torch.stack([terms[n].detach() for n in LOSS_NAMES]), self.ctx).tolist()))
        if self.ctx.is_main:
            for name, value in values.items():
                writer.add_scalar(f"loss/{name}", value, self.iteration)
            writer.add_scalar("train/lr", self.schedulers["exclusive"].get_last_lr()[0], self.iteration)
            writer.add_scalar("train/kl_anneal", anneal, self.iteration)
            progress.update(self.iteration, values)

    def _fixed_batch(self, dataset):
        n = min(len(dataset), self.cfg.training.batch_size, 8)
        if n < 2:
            raise UserError(f"the test split of {self.cfg.path_to_data} needs at least 2 items for sample grids")
        x, y, _ = next(iter(DataLoader(dataset, batch_size=n, generator=torch.Generator())))
        return self.to_device(x), self.to_device(y)

    def _sample_grids(self, fixed, run_dir, writer):
        x, y = fixed
        folder = os.path.join(run_dir, "samples", str(self.iteration))
        with evaluating(self.model, self.cfg.model.eval_batchnorm), self._unsynced_batchnorm():
            batch = sample_batch(self.model, x, y, self.cfg.seed)
            for d, name in enumerate(("X2Y", "Y2X")):
                grid = grid_image(translation_grid(batch, d))
                path = os.path.join(folder, f"{name}.jpg")
                with _writing("sample grid", path, run_dir):
                    save_image(grid, path)
                writer.add_image(f"samples/{name}", grid, self.iteration)

    def _evaluate(self, dataset, writer, max_pairs):
        cfg = self.cfg
        with self._unsynced_batchnorm():
            reports, _ = evaluate(self.model, dataset, MEASURES, Subject.of(dataset), cfg.test.batch_size,
                                  self.device, cfg.model.eval_batchnorm, cfg.seed, max_pairs)
        log_scalars(writer, MEASURES, reports, self.iteration)
        return summary_line(MEASURES, reports, self.iteration, evaluated_pairs(dataset, max_pairs))
