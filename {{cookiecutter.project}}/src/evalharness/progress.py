"""Progress: a redrawn bar on a terminal, plain periodic lines in CI logs (no carriage-return noise)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "eval", stream: TextIO | None = None, every_s: float = 5.0):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self.done = 0
        self.problems = 0
        self.started = self._last = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, ok: bool = True) -> None:
        with self._lock:
            self.done += 1
            self.problems += 0 if ok else 1
            now = time.monotonic()
            if self.tty:
                self._draw()
            elif now - self._last >= self.every_s or self.done == self.total:
                self._last = now
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        note = f", {self.problems} not ok" if self.problems else ""
        return f"{self.label}: {self.done}/{self.total} cases{note} ({elapsed:.0f}s elapsed, ~{eta:.0f}s left)"

    def _draw(self) -> None:
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self._line()}")
        self.stream.flush()
