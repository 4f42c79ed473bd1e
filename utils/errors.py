"""The one exception type for mistakes a user can make (config, data, paths, checkpoints).

main.py turns it into a single line on stderr and a non-zero exit status; anything else
is a bug and keeps its traceback.
"""
import argparse
import contextlib
import functools
import os
import signal
import sys
import threading


class UserError(Exception):
    """A problem the user can fix: the message names the key, file or value at fault."""
    exit_code = 2


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are a UserError, so they print as one `error:` line like every other
    (argparse's own prints its usage first)."""

    def error(self, message):
        raise UserError(message)


def seed(text):
    """An argparse type: a seed, in [0, 2^64) as the config's (numpy and torch take no negative one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
    if not 0 <= value < 2 ** 64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^64), got {value}")
    return value


def one_line(error):
    """The user-facing line of an error, also when a DataLoader worker re-raised it with its traceback."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and "Original Traceback" in str(error):
        return lines[-1].split(": ", 1)[-1]
    return lines[0] if lines else type(error).__name__


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `kill`, a batch scheduler or a closing terminal sends) as if it were Ctrl-C, so that
    the same cleanups run: temporaries and staging folders removed, nothing half-written kept."""


def _terminated(owner, signum, frame):
    if os.getpid() != owner:
        # A forked worker (a multiprocessing pool's, a DataLoader's) inherited the handler: it ends as
        # SIGTERM ends a process, quietly, as a pool ends its workers when it closes.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While active (in the main thread; elsewhere signals cannot be handled), SIGTERM raises Terminated."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, functools.partial(_terminated, os.getpid()))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def interruption(error):
    """(message, exit status) of a KeyboardInterrupt: 130 for Ctrl-C, 128 + 15 for SIGTERM."""
    if isinstance(error, Terminated):
        return "interrupted by SIGTERM", 128 + signal.SIGTERM
    return "interrupted", 130


def run_command(run, argv=None):
    """run(argv) for a command line (argv None: sys.argv[1:]): a UserError becomes one `error:` line on
    stderr and its exit status, Ctrl-C or SIGTERM `error: interrupted` and 130 or 143. Returns the exit
    status."""
    # Names that are not UTF-8 (a file system's raw bytes) print escaped instead of failing.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        with sigterm_as_interrupt():
            run(sys.argv[1:] if argv is None else argv)
    except UserError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        message, status = interruption(e)
        print(f"error: {message}", file=sys.stderr)
        return status
    return 0


def run_script(main):
    """Run a command-line script's main() (which reads sys.argv) as run_command does, and exit."""
    sys.exit(run_command(lambda argv: main()))
