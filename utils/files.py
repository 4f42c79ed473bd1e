"""Results that appear complete or not at all: checkpoints, cache files, preprocessed images, generated
data sets."""
import contextlib
import errno
import os
import re
import secrets
import shutil

from utils.errors import UserError

_TEMPORARY = re.compile(r"^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$")


def temporary_name(path):
    """A new name beside `path` for what is to become it."""
    folder, name = os.path.split(os.path.abspath(path))
    # Hidden, so an image listing never picks it up; random, so processes on several machines sharing a
    # file system cannot collide; with the writer's process id, so remove_stale() knows when it is orphaned.
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path, fsync=True):
    """Yield a temporary name beside `path` at which the block writes a file or a folder. When the block
    completes, a file is fsynced (unless fsync=False) and the result renamed to `path`, replacing a file
    or an empty folder. After an exception, Ctrl-C included, the temporary is removed and `path` is left
    as it was, so no reader ever sees half of it. A folder's files are not fsynced one by one: thousands
    of flushes would dominate the run, and a power cut's casualty is an image the start-up scan names.
    A temporary that cannot be removed (a file system gone read-only) stays for remove_stale(): the error
    that stopped the block is the one raised, not the cleanup's."""
    tmp = temporary_name(path)
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
        with contextlib.suppress(OSError):
            if os.path.isdir(tmp) and not os.path.islink(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.lexists(tmp):
                os.remove(tmp)


def open_no_follow(path, flags, mode=0o644):
    """os.open of a file the project writes in a run directory, never through a symbolic link: one planted
    there (`ln -s ~/notes RUN/log.txt`) would have the run's lines or its PID written into the target."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UserError(f"{path} is a symbolic link; files in a run directory are never written through "
                            "one: remove it") from None
        raise


def cannot_write(path, error):
    """The UserError of a failed write of `path`: the file in the way of its folder, else the system's reason."""
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return UserError(f"cannot write {path}: {existing} is a file, not a folder")
    return UserError(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def writing(path):
    """A failed write in the block (a read-only file system, a full disk, a file where a folder must be)
    is one UserError naming the file (the one the system names, else `path`), as the commands' other
    errors are."""
    try:
        yield
    except OSError as e:
        failed = os.path.abspath(os.fsdecode(e.filename)) if e.filename else None
        # Making `path`'s folders failed on one of them: name `path`, and the file in its way.
        within = failed is None or os.path.commonpath([failed, os.path.abspath(path)]) == failed
        raise cannot_write(path if within else e.filename, e) from None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale(folder, target=None):
    """Remove the temporaries of atomic_path in `folder` whose writer is gone (a SIGKILL or power cut
    mid-write leaves them, as large as what they were to become); only those of `folder/target` when
    given. Returns their names. A writer on another machine looks gone, so call it only where this
    machine's processes alone write (a run's models/, the output a command is about to write)."""
    stale = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        m = _TEMPORARY.match(name)
        if m and (target is None or m.group(1) == target) and not _alive(int(m.group(2))):
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            stale.append(name)
    return stale


def user_cache_dir():
    """Where what is built once for every run is kept (the digit classifier of the content measure):
    `$XDG_CACHE_HOME/iiae`, by default `~/.cache/iiae`."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "iiae")
