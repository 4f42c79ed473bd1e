"""The one exception type for mistakes a user can make (config, data, paths, checkpoints).

main.py turns it into a single line on stderr and a non-zero exit status; anything else
is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: the message names the key, file or value at fault."""
    exit_code = 2


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
    """run_command for a script whose main() reads sys.argv itself; exits with its status."""
    import sys
    sys.exit(run_command(lambda _argv: main()))
