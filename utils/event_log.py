"""TensorBoard's event file, whose failed writes (a full disk) are the command's one error line instead of
the traceback of the thread that TensorBoard writes from."""
import contextlib
import threading

from torch.utils.tensorboard import SummaryWriter

from utils.files import cannot_write


class EventLog:
    """While active, a SummaryWriter that open() starts. A write the file system refuses, also one in
    the writer's thread (which then stays quiet), makes the next add_scalar, add_image or close raise
    the UserError that open()'s `error` makes of the OSError. Leaving the block closes the writer."""

    def __init__(self):
        self._error = self._writer = self._failed = None
        self._threads = set()

    def __enter__(self):
        self._previous_hook = threading.excepthook
        threading.excepthook = self._thread_failed
        return self

    def _thread_failed(self, args):
        # The writer's thread keeps its error for the next call to raise, then re-raises it, which would
        # print it with its traceback.
        if args.thread in self._threads and issubclass(args.exc_type, OSError):
            self._failed = self._failed or args.exc_value
        else:
            self._previous_hook(args)

    @contextlib.contextmanager
    def _writes(self):
        try:
            yield
        except OSError as e:
            raise self._error(e) from None

    def open(self, folder, error=None, **options):
        """Write an event file in `folder` from now on; error(OSError) is the UserError of a failed write
        (by default cannot_write of `folder`), options are SummaryWriter's."""
        self._error = error or (lambda e: cannot_write(folder, e))
        before = set(threading.enumerate())
        with self._writes():
            self._writer = SummaryWriter(folder, **options)
        self._threads = set(threading.enumerate()) - before

    def add_scalar(self, *args):
        with self._writes():
            self._writer.add_scalar(*args)

    def add_image(self, *args):
        with self._writes():
            self._writer.add_image(*args)

    def close(self):
        """Write what is pending and stop the writer's thread; then raise what failed there."""
        writer, self._writer = self._writer, None
        with self._writes():
            if writer is not None:
                writer.close()
            failed, self._failed = self._failed, None
            if failed is not None:
                raise failed

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.close()
            else:
                with contextlib.suppress(Exception):  # the error on its way is the one to report
                    self.close()
        finally:
            threading.excepthook = self._previous_hook
