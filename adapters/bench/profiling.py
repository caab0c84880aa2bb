"""Optional profiles of the measured sections (`--profile DIR`).

Single-threaded sections run under cProfile (call counts, own and cumulative time);
the output is a .prof file (read it with `python -m pstats` or snakeviz) and a short
top list. The HTTP ingest spreads its work over the server's threads, which cProfile
does not follow, so it is sampled instead: every few milliseconds the stack of every
thread is recorded, and functions are ranked by the share of samples they are on
(cumulative) or at the top of (own). Profiled runs are slower: their figures are not
the benchmark's figures, so a profiled section is run separately from the timed one.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType


class Profiles:
    def __init__(self, directory: str | None, top: int = 25) -> None:
        self.directory = Path(directory) if directory else None
        self.top = top
        self.summaries: dict[str, str] = {}
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    @contextlib.contextmanager
    def cprofile(self, name: str) -> Iterator[None]:
        if self.directory is None:  # not enabled
            yield
            return
        profile = cProfile.Profile()
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            path = self.directory / f"{name}.prof"
            profile.dump_stats(str(path))
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).strip_dirs()
            out.write(f"--- {name}: top {self.top} by own time ({path}) ---\n")
            stats.sort_stats("tottime").print_stats(self.top)
            out.write(f"--- {name}: top {self.top} by cumulative time ---\n")
            stats.sort_stats("cumulative").print_stats(self.top)
            self.summaries[name] = _trim(out.getvalue())
            (self.directory / f"{name}.txt").write_text(self.summaries[name])

    @contextlib.contextmanager
    def sampled(self, name: str, interval: float = 0.002) -> Iterator[None]:
        if self.directory is None:  # not enabled
            yield
            return
        sampler = _Sampler(interval)
        sampler.start()
        try:
            yield
        finally:
            sampler.stop()
            text = sampler.summary(name, self.top)
            self.summaries[name] = text
            (self.directory / f"{name}.txt").write_text(text)

    def print(self) -> None:
        for text in self.summaries.values():
            print(text, file=sys.stderr)


def _trim(text: str) -> str:
    # pstats prints a header of blank and bookkeeping lines; keep the tables.
    return "\n".join(line for line in text.splitlines() if line.strip()) + "\n"


class _Sampler:
    """Samples every thread's stack but its own; counts functions per sample."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples = 0
        self.own: Counter[str] = Counter()
        self.cumulative: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        frame: FrameType | None
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                names = []
                while frame is not None:
                    code = frame.f_code
                    names.append(f"{Path(code.co_filename).name}:{code.co_firstlineno}"
                                 f"({code.co_name})")
                    frame = frame.f_back
                if not names or _idle(names[0]):
                    continue
                self.samples += 1
                self.own[names[0]] += 1
                for name in set(names):
                    self.cumulative[name] += 1

    def summary(self, name: str, top: int) -> str:
        lines = [f"--- {name}: sampled every {self.interval * 1000:.0f} ms, {self.samples} "
                 "busy-thread samples of the service's threads (threads parked in queues, "
                 "locks or selectors left out) ---",
                 "  own%   cum%  function"]
        for function, count in self.own.most_common(top):
            lines.append(f"{100 * count / max(self.samples, 1):6.1f} "
                         f"{100 * self.cumulative[function] / max(self.samples, 1):6.1f}  "
                         f"{function}")
        lines.append(f"--- {name}: top {top} by cumulative share ---")
        for function, count in self.cumulative.most_common(top):
            lines.append(f"{100 * count / max(self.samples, 1):6.1f}  {function}")
        return "\n".join(lines) + "\n"


_IDLE = {
    "threading.py": ("(wait)", "(_wait_for_tstate_lock)", "(join)"),
    "queue.py": ("(get)",),
    "selectors.py": ("(select)",),
    "socketserver.py": ("(serve_forever)",),
}


def _idle(top_frame: str) -> bool:
    """A thread parked in a queue, a lock, a selector or sleep is not doing work."""
    filename = top_frame.split(":", 1)[0]
    return top_frame.endswith(_IDLE.get(filename, ())) or top_frame.endswith("(sleep)")


def now() -> float:
    return time.perf_counter()
