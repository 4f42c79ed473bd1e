"""Results that appear complete or not at all: checkpoints, cache files, preprocessed images, generated
data sets."""
import contextlib
import os
import secrets
import shutil


@contextlib.contextmanager
def atomic_path(path, fsync=True):
    """Yield a temporary name beside `path` at which the block writes a file or a folder. When the block
    completes, a file is fsynced (unless fsync=False) and the result renamed to `path`, replacing a file
    or an empty folder. After an exception, Ctrl-C included, the temporary is removed and `path` is left
    as it was, so no reader ever sees half of it. A folder's files are not fsynced one by one: thousands
    of flushes would dominate the run, and a power cut's casualty is an image the start-up scan names."""
    folder, name = os.path.split(os.path.abspath(path))
    # Hidden, so an image listing never picks it up; random, so processes on several machines sharing a
    # file system cannot collide.
    tmp = os.path.join(folder, f".{name}.tmp-{secrets.token_hex(4)}")
    try:
        yield tmp
        if fsync and os.path.isfile(tmp):
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
