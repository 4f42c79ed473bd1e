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


def run_script(main):
    """Run a command-line script's main(): a UserError becomes one line on stderr and its exit status."""
    import sys
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
