"""A one-line progress bar for the benchmark harness, on stderr: runs done of the total,
elapsed time and an estimate of the rest. Where stderr is not a terminal (CI logs, pipes)
it prints one plain line per finished run instead."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class Progress:
    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.bar = enabled and self.stream.isatty()
        self.start = time.perf_counter()
        self.label = ""
        self._drawn = False

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        tail = f" eta {_clock(eta)}" if eta is not None else ""
        text = f"[{bar}] {self.done}/{self.total} {_clock(elapsed)}{tail}  {self.label}"
        columns = shutil.get_terminal_size((100, 20)).columns
        return text[: max(columns - 1, 20)]

    def redraw(self) -> None:
        if self.bar:
            self.stream.write("\r\x1b[2K" + self._line())
            self.stream.flush()
            self._drawn = True

    def clear(self) -> None:
        if self.bar and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def show(self, label: str) -> None:
        """The run about to start."""
        self.label = label
        self.redraw()

    def note(self, message: str) -> None:
        """A message that stays (failures, skips), printed above the bar."""
        self.clear()
        print(message, file=self.stream, flush=True)
        self.redraw()

    def advance(self, line: str = "") -> None:
        """One run finished; without a bar its log line is printed."""
        self.done += 1
        if self.bar:
            self.redraw()
        elif line:
            print(f"{line}  [{self.done}/{self.total}]", file=self.stream, flush=True)

    def close(self) -> None:
        self.clear()
