"""Where a linking run's time goes, stage by stage (`bench/link.py --profile`).

The timers stay in the library: `stage(name)` costs one global read when no profile is recording, so there is
nothing to switch off. A stage's time is its own: a stage inside another (a Qdrant request inside candidate
retrieval) is taken out of its parent's. Time is kept per thread, because the pipeline overlaps work: the linking
thread's stages, with its `waiting: ...` stages where it blocks on background work, add up to the run's wall clock
(less what no stage covers, reported as such); the background threads' stages (the next batch's detection, the
words overlap, the graph reads ahead) are busy time that runs beside it and is not part of that sum.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

UNTIMED = "other (no stage)"


@dataclass
class Profile:
    """Seconds and calls per (thread, stage); `thread` is "linking" for the thread that records, else the name
    of the background thread's pool ("kg-detect", "kg-overlap", "kg-graph")."""

    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    wall: float = 0.0
    _owner: int = field(default_factory=threading.get_ident)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage_name: str, seconds: float) -> None:
        current = threading.current_thread()
        thread = "linking" if current.ident == self._owner else current.name.rsplit("_", 1)[0]
        with self._lock:
            key = (thread, stage_name)
            self.seconds[key] = self.seconds.get(key, 0.0) + seconds
            self.calls[key] = self.calls.get(key, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """The linking thread's stages (and what none covers) first, largest first, then each background thread's;
        `share`: of the run's wall clock."""
        linking = sorted(((s, v) for (t, s), v in self.seconds.items() if t == "linking"), key=lambda r: -r[1])
        covered = sum(v for _, v in linking)
        out: list[dict[str, Any]] = [{"thread": "linking", "stage": s, "seconds": v, "calls": self.calls[("linking", s)]}
                                     for s, v in linking]
        out.append({"thread": "linking", "stage": UNTIMED, "seconds": max(0.0, self.wall - covered), "calls": 0})
        background = sorted(((t, s, v) for (t, s), v in self.seconds.items() if t != "linking"),
                            key=lambda r: (r[0], -r[2]))
        out += [{"thread": t, "stage": s, "seconds": v, "calls": self.calls[(t, s)]} for t, s, v in background]
        for row in out:
            row["share"] = float(row["seconds"]) / self.wall if self.wall > 0 else 0.0
        return out

    def to_json(self) -> dict[str, Any]:
        rows = self.rows()
        busy: dict[str, float] = {}
        for r in rows:
            if r["thread"] != "linking":
                busy[r["thread"]] = busy.get(r["thread"], 0.0) + r["seconds"]
        return {"wall_seconds": self.wall, "stages": rows, "background_busy_seconds": busy}

    def table(self) -> str:
        """The rows as text: the linking thread's add up to the wall clock, the background ones overlap it."""
        lines = [f"  {'thread':<11}{'stage':<40}{'seconds':>9}{'share':>8}{'calls':>7}"]
        for r in self.rows():
            lines.append(f"  {r['thread']:<11}{r['stage']:<40}{r['seconds']:>9.2f}{r['share']:>8.1%}{r['calls']:>7}")
        lines.append(f"  {'linking':<11}{'= wall clock':<40}{self.wall:>9.2f}{1:>8.1%}")
        lines.append("  (background threads' seconds are busy time beside the linking thread, not part of its sum;"
                     " the linking thread's 'waiting: ...' rows are where it blocked on them)")
        return "\n".join(lines)


_recording: Profile | None = None
_stacks = threading.local()  # per thread: [seconds of nested stages] for each stage open in it


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Times the block as `name` when a profile is recording (its own time: nested stages' is taken out)."""
    profile = _recording
    if profile is None:
        yield
        return
    stack = getattr(_stacks, "open", None)
    if stack is None:
        stack = _stacks.open = []
    stack.append(0.0)
    started = time.perf_counter()
    try:
        yield
    finally:
        took = time.perf_counter() - started
        nested = stack.pop()
        if stack:
            stack[-1] += took
        profile.add(name, took - nested)


@contextmanager
def recording() -> Iterator[Profile]:
    """Records the stages of everything the block runs (one recording at a time, in this process)."""
    global _recording
    if _recording is not None:
        raise RuntimeError("a profile is already recording")
    profile = Profile()
    _recording = profile
    started = time.perf_counter()
    try:
        yield profile
    finally:
        profile.wall = time.perf_counter() - started
        _recording = None
