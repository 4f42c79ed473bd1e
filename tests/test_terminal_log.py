"""log.txt: what the terminal showed, from before the run directory existed to the error line."""
import io
import sys

import pytest

from utils.errors import UserError
from utils.progress import Progress
from utils.terminal_log import TerminalLog


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_log_holds_what_the_terminal_showed(tmp_path, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    path = tmp_path / "log.txt"
    with pytest.raises(UserError):
        with TerminalLog() as log:
            print("cached 10 images")  # before the run directory exists
            log.open(path)
            progress = Progress(0, 4)
            for it in (2, 4):
                progress.update(it, {"total_loss": 1.0})
            raise UserError("non-finite loss\nsecond line")
    lines = path.read_text().splitlines()
    assert lines[0] == "cached 10 images"
    assert [line[:5] for line in lines[1:3]] == ["[2/4]", "[4/4]"]  # one line per redraw
    assert lines[3:] == ["error: non-finite loss"]
    assert sys.stdout is terminal and sys.stderr is terminal
    assert "\r\033[K[4/4]" in terminal.getvalue()  # the terminal itself still redraws in place


def test_disabled_log_passes_everything_through(tmp_path, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    with TerminalLog(enabled=False) as log:
        print("rank 1")
        log.open(tmp_path / "log.txt")
        assert sys.stdout is terminal
    assert terminal.getvalue() == "rank 1\n" and not (tmp_path / "log.txt").exists()


@pytest.mark.parametrize("fails", ["open", "later"])
def test_a_log_that_cannot_be_written_never_stops_the_terminal(tmp_path, monkeypatch, fails):
    """On a disk that fills up, writing log.txt fails: the terminal keeps every line and says once that
    the log stopped; the run itself decides what a full disk means (its checkpoints say so in one line)."""
    import builtins
    import errno
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    real_open = builtins.open

    class Full(io.StringIO):
        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_log(file, *args, **kwargs):
        return Full() if str(file).endswith("log.txt") else real_open(file, *args, **kwargs)
    with pytest.raises(UserError, match="stopped"):
        with TerminalLog() as log:
            print("before")
            if fails == "open":
                monkeypatch.setattr(builtins, "open", full_log)
            log.open(tmp_path / "log.txt")
            if fails == "later":
                log._file = Full()
            print("after")
            raise UserError("stopped")
    lines = terminal.getvalue().splitlines()
    assert lines == ["before", f"warning: cannot write {tmp_path / 'log.txt'} (No space left on device); the "
                     "terminal's lines are no longer logged", "after"]
