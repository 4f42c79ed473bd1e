"""The ways a training run stops early: a signal (finish the step, checkpoint, exit) and a loss or
weights that are not finite (stop without saving)."""
import os
import signal

import torch

from utils.errors import UserError


class NonFiniteLoss(UserError):
    exit_code = 3


class Interrupted(UserError):
    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum

    @classmethod
    def at(cls, iteration, run_dir, signum):
        """The stop at `iteration` of the run in run_dir (None on the processes other than the main one
        under torchrun, which know no run directory and leave the resume command to the main one)."""
        if run_dir is None:
            return cls(f"interrupted at iteration {iteration}; the main process saved the checkpoint", signum)
        # --resume alone reads the run's saved config, so the --set overrides it began with hold.
        return cls(f"interrupted at iteration {iteration}; checkpoint saved; resume with: "
                   f"python main.py --resume {run_dir}", signum)


class StopSignals:
    """While active, the first SIGINT or SIGTERM is only noted in `received`, so the loop can finish its
    step, write a checkpoint and stop; a second one stops the process at once."""

    def __enter__(self):
        self.received = None
        self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.received is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.received = signum
        print(f"\nsignal {signal.Signals(signum).name}: stopping after this step "
              "(send it again to stop at once)", flush=True)

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)


class NonFiniteWatch:
    """Notes, without a host sync per step, the first iteration whose loss terms (those named in `names`)
    were not finite; check() raises NonFiniteLoss naming it and the terms, before anything is saved."""

    def __init__(self, names, device):
        self.names = tuple(names)
        self.first = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_terms = torch.zeros(len(self.names), dtype=torch.bool, device=device)

    def add(self, iteration, terms):
        bad = ~torch.isfinite(torch.stack([terms[name].detach() for name in self.names]))
        new = (self.first < 0) & bad.any()
        self.first = torch.where(new, iteration, self.first)
        self.bad_terms = torch.where(new, bad, self.bad_terms)

    def check(self):
        first = int(self.first)
        if first >= 0:
            names = [n for n, b in zip(self.names, self.bad_terms.tolist()) if b]
            raise NonFiniteLoss(f"non-finite loss at iteration {first} in {', '.join(names)}; stopped "
                                "without saving (lower training.lr or the loss weights, or try precision fp32)")


def check_finite_weights(model, iteration):
    """NonFiniteLoss unless every floating-point parameter and buffer of `model` is finite: a huge step
    (a learning rate decayed by a gamma of 1e300) overflows the weights while the loss that took it was
    finite, and such a checkpoint must never be saved as the run's newest good one."""
    bad = [name for name, tensor in model.state_dict().items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise NonFiniteLoss(f"non-finite network weights after iteration {iteration} ({bad[0]}{more}); stopped "
                            "without saving (lower training.lr or scheduler_gamma, or try precision fp32)")
