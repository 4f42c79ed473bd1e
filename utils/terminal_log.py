"""`log.txt` in the run directory: a plain-text copy of what the terminal showed during training."""
import contextlib
import sys

from utils.errors import UserError, one_line
from utils.files import open_no_follow

_REDRAW = "\r\033[K"  # how utils.progress redraws its line on a terminal


class TerminalLog:
    """While active, everything this process writes to stdout and stderr also goes to a log file. What
    comes before open() names the file is kept in memory (the run directory is made only once the data
    and the checkpoint are known good) and written first. A progress line redrawn in place becomes one
    line per redraw, and a UserError that ends the block is logged as the one line the user sees. A log
    that cannot be written (a full disk) stops with one warning; the terminal goes on.
    enabled=False (processes other than rank 0) passes everything through untouched."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._pending = []
        self._file = None
        self._path = None
        self._stopped = False
        self._line_start = True

    def __enter__(self):
        if self.enabled:
            self._streams = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = (_Tee(stream, self) for stream in self._streams)
        return self

    def open(self, path):
        """Append from now on to `path` (a resumed run continues its log), after what came before."""
        if not self.enabled:
            return
        self._path = path
        pending, self._pending = self._pending, []
        try:
            # Flushed on every write: a DataLoader worker forked later must not inherit unwritten text.
            # A name that is not UTF-8 (a file system's bytes) is escaped, as the terminal shows it.
            self._file = open(path, "a", encoding="utf-8", errors="backslashreplace", opener=open_no_follow)
            for text in pending:
                self._file.write(text)
            self._file.flush()
        except OSError as e:
            self._stop(e)

    def _stop(self, error):
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
        self._file, self._stopped = None, True
        self._streams[1].write(f"warning: cannot write {self._path} ({error.strerror or error}); the terminal's "
                               "lines are no longer logged\n")

    def write(self, text):
        for i, part in enumerate(text.split(_REDRAW)):
            if i and not self._line_start:
                self._append("\n")
            self._append(part)

    def _append(self, text):
        if not text:
            return
        self._line_start = text.endswith("\n")
        if self._file is not None:
            try:
                self._file.write(text)
                self._file.flush()
            except OSError as e:
                self._stop(e)
        elif not self._stopped:
            self._pending.append(text)

    def __exit__(self, exc_type, exc, tb):
        if not self.enabled:
            return
        sys.stdout, sys.stderr = self._streams
        if self._file is not None:
            if isinstance(exc, UserError):
                self.write(("" if self._line_start else "\n") + f"error: {one_line(exc)}\n")
            if self._file is not None:  # unless writing that line stopped the log
                with contextlib.suppress(OSError):
                    self._file.close()


class _Tee:
    """A text stream writing to `stream` and to the log; anything else (isatty, fileno, encoding) is the
    stream's."""

    def __init__(self, stream, log):
        self._stream, self._log = stream, log

    def write(self, text):
        self._log.write(text)
        return self._stream.write(text)

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)
