"""The one exception type for mistakes a user can make (config, data, paths, checkpoints).

main.py turns it into a single line on stderr and a non-zero exit status; anything else
is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: the message names the key, file or value at fault."""
    exit_code = 2
