"""What a run continuing in its own directory does before training: take the run's lock, remove the
temporaries killed writers left, say plainly when there is nothing to resume, and keep aside a newest
checkpoint that does not load, so that training on never writes over a file the user had."""
import bisect
import collections
import os

from utils import checkpoint as ckpt
from utils.errors import UserError
from utils.files import remove_stale
from utils.rundir import saved_config_path


def continues_in_place(run_dir, resume_iters):
    """Whether resuming run_dir from resume_iters continues in run_dir itself: from its newest checkpoint
    ("latest", or that number). Resuming from an older one starts a new directory, so the later stay."""
    existing = ckpt.available_iterations(os.path.join(run_dir, "models"))
    return resume_iters == "latest" or bool(existing) and resume_iters == existing[-1]


def prepare_in_place(run_dir, lock):
    """Lock run_dir (a RunLock), remove its dead writers' checkpoint temporaries and stop with one line
    when no checkpoint is left to resume from (a run killed while writing its first)."""
    if not os.path.isdir(run_dir):
        raise UserError(f"run directory not found: {run_dir}")
    lock.take(run_dir)
    models = os.path.join(run_dir, "models")
    stale = remove_stale(models)
    if stale:
        print(f"removed {len(stale)} partial checkpoint file(s) a killed run left in {models}", flush=True)
    if not ckpt.available_iterations(models):
        config = saved_config_path(run_dir)
        if not os.path.isfile(config):  # not a run directory
            raise UserError(f"no checkpoints in {models}")
        raise UserError(f"{run_dir} has no checkpoint to resume from (it stopped before writing its first); "
                        f"start it again with: python main.py {config}")


def set_aside_newer(run_dir, iteration):
    """Rename the checkpoints of run_dir newer than `iteration` (the newest that loaded, so those did not)
    to `<n>-checkpoint.pt.unloadable`, before training on writes those numbers again."""
    models = os.path.join(run_dir, "models")
    for newer in (it for it in ckpt.available_iterations(models) if it > iteration):
        path = ckpt.checkpoint_path(models, newer)
        aside, n = f"{path}.unloadable", 1
        while os.path.lexists(aside):
            n += 1
            aside = f"{path}.unloadable_{n}"
        os.rename(path, aside)
        print(f"moved the unloadable checkpoint {path} aside to {aside}; continuing from iteration {iteration}",
              flush=True)


def _restored_schedule(optimizer, scheduler):
    """The training keys a restored optimizer and its MultiStepLR run with (the checkpoint's)."""
    group = optimizer.param_groups[0]
    return {"lr": group["initial_lr"], "beta1": group["betas"][0], "beta2": group["betas"][1],
            "weight_decay": group["weight_decay"], "milestones": sorted(scheduler.milestones.elements()),
            "scheduler_gamma": scheduler.gamma}


def apply_new_schedule(optimizers, schedulers, t):
    """Give the optimizers and schedulers restored from a checkpoint the config's (`t`, its training
    section) learning rate, Adam settings, milestones and gamma where a `--set` on resume changed them:
    loading a state dict brings back the checkpoint's own. The learning rate is then what the new schedule
    gives at the restored iteration. Returns the changed keys' names; none changed, nothing is touched,
    so an unchanged resume stays bit-exact."""
    first = next(iter(optimizers))
    restored = _restored_schedule(optimizers[first], schedulers[first])
    changed = [key for key, value in restored.items() if value != (sorted(t[key]) if key == "milestones" else t[key])]
    if not changed:
        return []
    for name, optimizer in optimizers.items():
        scheduler = schedulers[name]
        scheduler.milestones, scheduler.gamma = collections.Counter(t.milestones), t.scheduler_gamma
        scheduler.base_lrs = [t.lr] * len(optimizer.param_groups)
        # MultiStepLR's closed form: each milestone reached so far (one at 0 counts from the start) decays once.
        lr = t.lr * t.scheduler_gamma ** bisect.bisect_right(sorted(m for m in t.milestones if m >= 0),
                                                             scheduler.last_epoch)
        for group in optimizer.param_groups:
            group.update(initial_lr=t.lr, lr=lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay)
        scheduler._last_lr = [lr] * len(optimizer.param_groups)
    return [f"training.{key}" for key in changed]
