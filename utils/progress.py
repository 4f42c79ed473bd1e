"""A progress line with rate and ETA: redrawn in place on a terminal, one line per update otherwise."""
import sys
import time


def format_duration(seconds):
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    def __init__(self, start, total, stream=None):
        self.start, self.total = start, total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()

    def line(self, iteration, values):
        done = iteration - self.start
        elapsed = time.monotonic() - self.t0
        rate = elapsed / done if done else 0.0
        eta = rate * (self.total - iteration)
        shown = " ".join(f"{k.replace('_loss', '')} {v:.4g}" for k, v in values.items())
        return (f"[{iteration}/{self.total}] {100 * iteration / self.total:5.1f}% "
                f"{rate:.3f} s/it elapsed {format_duration(elapsed)} ETA {format_duration(eta)} | {shown}")

    def update(self, iteration, values):
        text = self.line(iteration, values)
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text):
        """A line that stays above the progress line (on a terminal the next update redraws below it)."""
        self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
