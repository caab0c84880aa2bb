"""Progress bars for the command line's long work (demo, replay, audit, bench).

A bar is one line on stderr, redrawn in place, and only when stderr is a terminal:
piped or captured output (a script, CI, `2> log`) gets nothing from it, so stdout's
JSON and stderr's progress lines stay exactly what they were. The bar is erased when
its work ends; what the work did is said by the command's own lines. No dependency:
`\\r` and the "erase to end of line" escape are all it takes.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from types import TracebackType
from typing import TextIO

_ERASE = "\r\x1b[K"  # back to the line's start, erase to its end
_REDRAW_EVERY = 0.1  # seconds: fast enough to look alive, cheap for tight loops
_current: Progress | None = None  # the bar on screen, which say() prints above


class Progress:
    """`with Progress("replay feed", total=n) as bar: ... bar.update(done)`.

    `total` may be unknown (None, or given later to update): the bar then shows the
    count and the elapsed time only. `say(line)` prints a line above the bar (the
    bar would otherwise be drawn over it)."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "",
                 note: str = "", stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.done = 0
        self.note = note
        self._started = time.monotonic()
        self._drawn_at: float | None = None
        self._lock = threading.RLock()  # a ticking bar is drawn from two threads
        self._stop_ticking = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        global _current
        _current = self
        self._draw()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def update(self, done: int, total: int | None = None, note: str | None = None) -> None:
        self.done = done
        self.total = total if total is not None else self.total
        self.note = note if note is not None else self.note
        finished = self.total is not None and done >= self.total
        if self._drawn_at is None or finished or (
                time.monotonic() - self._drawn_at >= _REDRAW_EVERY):
            self._draw()

    def tick(self, every: float = 1.0) -> Progress:
        """Redraw every `every` seconds from a thread of its own, so that the elapsed
        time moves during work that reports no count for minutes (a benchmark)."""
        if self.enabled and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, args=(every,), daemon=True,
                                            name="progress-bar")
            self._ticker.start()
        return self

    def say(self, line: str) -> None:
        """A line of its own on stderr, the bar redrawn below it."""
        with self._lock:
            if self.enabled and self._drawn_at is not None:
                self.stream.write(_ERASE)
            print(line, file=self.stream, flush=True)
            self._draw()

    def close(self) -> None:
        global _current
        self._stop_ticking.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.enabled and self._drawn_at is not None:
                self.stream.write(_ERASE)
                self.stream.flush()
            self._drawn_at = None
        if _current is self:
            _current = None

    def render(self, width: int) -> str:
        """The bar's text, at most `width` characters."""
        elapsed = time.monotonic() - self._started
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            share = min(1.0, self.done / self.total)
            counts = f"{self.done:,}/{self.total:,}{unit} {share:4.0%} {elapsed:.0f}s"
            room = width - len(self.label) - len(counts) - 4
            if self.note:
                counts += f" {self.note}"
            if room >= 10:
                cells = min(room, 30)
                filled = int(cells * share)
                return f"{self.label} [{'#' * filled}{'.' * (cells - filled)}] {counts}"[:width]
            return f"{self.label} {counts}"[:width]
        text = self.label + (f" {self.done:,}{unit}" if self.done else "") + f" {elapsed:.0f}s"
        return (f"{text} {self.note}" if self.note else text)[:width]

    def _draw(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write(_ERASE + self.render(width))
            self.stream.flush()
            self._drawn_at = time.monotonic()

    def _tick(self, every: float) -> None:
        while not self._stop_ticking.wait(every):
            self._draw()


def say(line: str, stream: TextIO | None = None) -> None:
    """Print a progress line to stderr, above the bar on screen if there is one."""
    if _current is not None and stream in (None, _current.stream):
        _current.say(line)
    else:
        print(line, file=stream if stream is not None else sys.stderr, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no bar
        return False
