"""The one exception type for mistakes a user can make (config, data, paths, checkpoints).

main.py turns it into a single line on stderr and a non-zero exit status; anything else
is a bug and keeps its traceback.
"""
import argparse


class UserError(Exception):
    """A problem the user can fix: the message names the key, file or value at fault."""
    exit_code = 2


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are a UserError, so they print as one `error:` line like every other
    (argparse's own prints its usage first)."""

    def error(self, message):
        raise UserError(message)


def one_line(error):
    """The user-facing line of an error, also when a DataLoader worker re-raised it with its traceback."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and "Original Traceback" in str(error):
        return lines[-1].split(": ", 1)[-1]
    return lines[0] if lines else type(error).__name__


def run_command(run, argv=None):
    """run(argv) for a command line (argv None: sys.argv[1:]): a UserError becomes one `error:` line on
    stderr and its exit status, Ctrl-C exit status 130. Returns the exit status."""
    import sys
    try:
        run(sys.argv[1:] if argv is None else argv)
    except UserError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


def run_script(main):
    """Run a command-line script's main(): a UserError becomes one line on stderr and its exit status."""
    import sys
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
