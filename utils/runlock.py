"""A run directory's lock: one training process at a time writes a run's checkpoints, so a second
`--resume` of a run being trained stops with one line instead of racing it.

The lock is an flock on `<run>/.training.lock`, which the kernel releases when its holder exits in any
way, SIGKILL and power cut included: the file a killed run leaves behind is simply taken over.
"""
import contextlib
import fcntl
import os

from utils.errors import UserError
from utils.files import open_no_follow

LOCK_NAME = ".training.lock"


class RunLock:
    """While active, take(run_dir) holds run_dir's lock (one run directory at a time); leaving releases it."""

    def __enter__(self):
        self._fd, self._path = None, None
        return self

    def take(self, run_dir):
        path = os.path.join(run_dir, LOCK_NAME)
        while True:
            fd = open_no_follow(path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{run_dir} is being trained by process {holder} (lock {path}); wait for it to "
                                "finish or stop it") from None
            # A holder that was releasing may have removed the file we opened: lock the one at `path`.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd, self._path = fd, path

    def __exit__(self, *exc):
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.remove(self._path)
            os.close(self._fd)  # releases the flock
            self._fd = None
