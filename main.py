"""Command line: `python main.py CONFIG [--set key=value ...] [--resume RUN_DIR | --test RUN_DIR]`.

Reads the JSON config, then trains it with a Solver ("train": 1) or tests a checkpoint with a Tester
("train": 0).
Under `torchrun --nproc_per_node=N main.py CONFIG` each process trains on its own device.
"""
import json
import os
import sys

from utils.config import load_config, resume_differences
from utils.errors import Parser, UserError, run_command
from utils.rundir import check_writable, results_or_nothing, saved_config_path


def parse_args(argv):
    parser = Parser(description="Train or test IIAE from a JSON config.")
    parser.add_argument("config", nargs="?",
                        help="JSON config file (default with --resume or --test: RUN_DIR/config.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set training.max_iters=200 (repeatable)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue RUN_DIR from its newest good checkpoint")
    parser.add_argument("--test", metavar="RUN_DIR",
                        help="test RUN_DIR's newest good checkpoint (another: --set test.test_iters=N)")
    args = parser.parse_args(argv)
    if args.resume and args.test:
        parser.error("--resume and --test exclude each other")
    if args.config is None and args.resume is None and args.test is None:
        parser.error("a config file is required (or --resume RUN_DIR, or --test RUN_DIR)")
    return args


def _check_same_run(cfg, config_path, run_dir, overrides):
    """Resuming with a CONFIG continues the run only if CONFIG trains what the run trained: a key that
    differs (other than RESUME_SAFE ones and deliberate --set changes) stops, naming it."""
    saved_path = saved_config_path(run_dir)
    if not os.path.isfile(saved_path):
        return  # not a run directory; find_checkpoint says so
    differing = resume_differences(cfg, load_config(saved_path, overrides), overrides)
    if differing:
        listed = ", ".join(f"{key} ({json.dumps(was)} in the run, {json.dumps(now)} in {config_path})"
                           for key, was, now in differing)
        raise UserError(f"resume: {config_path} differs from the run's saved config {saved_path} in {listed}; "
                        f"to continue the run as it was: python main.py --resume {run_dir}; to change a key "
                        "on purpose: --set KEY=VALUE")


def run(argv):
    args = parse_args(argv)
    overrides = list(args.overrides)
    config_path = args.config
    if args.resume:
        config_path = config_path or saved_config_path(args.resume)
        overrides += ["training.resume_iters=latest", f"training.restored_model_path={args.resume}", "train=1"]
    if args.test:
        config_path = config_path or os.path.join(args.test, "config.json")
        # A --set may pick another checkpoint; the mode and the run come from --test.
        overrides = ["test.test_iters=latest", *overrides, "train=0", f"test.test_path={args.test}"]
    cfg = load_config(config_path, overrides)
    if args.resume and args.config:
        _check_same_run(cfg, args.config, args.resume, overrides)
    if cfg.train and cfg.training.resume_iters == "latest":  # continues in that run directory
        check_writable(cfg.training.restored_model_path, "the run directory")
    elif cfg.train:
        check_writable(cfg.output_root, "config: 'output_root'")
    else:
        check_writable(cfg.test.test_path, "config: 'test.test_path'")
    if cfg.data.cache == "disk":
        check_writable(os.path.join(cfg.output_root, ".cache"), "config: 'data.cache' is \"disk\" but its folder")

    # Imported after the config is known good, so a typo is reported before torch loads.
    from solver import Solver
    from tester import Tester
    from utils.distributed import setup, teardown

    context = setup(cfg.device)
    try:
        if cfg.train:
            return Solver(cfg, context).train()
        # Test mode writes one results folder: under torchrun the main process tests, the others have nothing to do.
        if context.is_main:
            with results_or_nothing(cfg.test.test_path):
                return Tester(cfg, context).test()
        return None
    finally:
        teardown(context)


def main(argv=None):
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
