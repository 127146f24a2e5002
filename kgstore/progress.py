"""Progress of long jobs on stderr: a tqdm bar on a terminal, and when stderr is not a TTY (a log file, nohup, CI)
one plain line every few seconds with the count, rate and ETA, so a job nobody watches still says it is alive.

`progress(msg)` is for the waits that have no count (a server starting, a model export, a gazetteer build).
`KG_PROGRESS_EVERY` sets the seconds between lines (default 10; 0 turns the lines off).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_EVERY_S = 10.0


def _every() -> float:
    try:
        return float(os.environ.get("KG_PROGRESS_EVERY", DEFAULT_EVERY_S))
    except ValueError:
        return DEFAULT_EVERY_S


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(msg: str) -> None:
    """One line saying what kg is waiting for (always shown: these waits are rare and can take minutes)."""
    if _every() > 0 or _tty():
        print(f"kg: {msg}", file=sys.stderr, flush=True)


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class LineProgress:
    """The part of tqdm's interface kg uses, printing a line every `every` seconds instead of drawing a bar."""

    def __init__(self, iterable: Iterable | None = None, *, desc: str, unit: str, total: int | None = None,
                 every: float | None = None):
        self.iterable, self.desc, self.unit, self.total = iterable, desc, unit.strip(), total
        self.every = _every() if every is None else every
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._start = self._last = time.monotonic()
        self._printed = False

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.postfix = values

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.every > 0 and now - self._last >= self.every:
            self._last = now
            self._line(now)

    def _line(self, now: float, done: bool = False) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.n / elapsed
        parts = [f"{self.n:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:,.1f} {self.unit}/s")
        parts.append(f"elapsed {_duration(elapsed)}")
        if self.total and rate > 0 and not done:
            parts.append(f"ETA {_duration(max(self.total - self.n, 0) / rate)}")
        parts += [f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in self.postfix.items()]
        print(f"kg: {self.desc}{': done' if done else ''}: " + ", ".join(parts), file=sys.stderr, flush=True)
        self._printed = True

    def close(self) -> None:
        if self._printed:  # a job that printed progress also says where it ended
            self._line(time.monotonic(), done=True)
            self._printed = False


def progress_bar(iterable: Iterable | None = None, *, desc: str, unit: str, total: int | None = None):
    """A tqdm bar on a terminal, else a `LineProgress`."""
    if _tty():
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, unit=unit, total=total, file=sys.stderr)
    return LineProgress(iterable, desc=desc, unit=unit, total=total)
