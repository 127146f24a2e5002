"""Concurrent link requests share encoder calls: one worker thread links whatever requests are waiting as one
batch (the context encoder runs once over all their mentions), so under load the cost per request falls, and a
lone request waits for nobody. A request that stops waiting (its deadline passed, or the server is stopping) stops
its batch's work at the linker's next check, so a timed-out request does not hold the worker for the ones after."""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kg.cli.web.limits import MAX_MENTIONS, too_many_mentions
from kg.linkers.corpus import Document
from kg.linkers.pipeline import Cancelled, Linker, MentionResult

STUCK_GRACE_S = 1.0  # a batch still running this long after its last request's deadline cannot be cancelled


@dataclass
class _Job:
    key: object  # the linker settings: only jobs with equal settings share a batch
    doc: Document
    deadline: float = math.inf  # time.monotonic() after which nobody waits for the result
    future: Future = field(default_factory=Future)
    gone: bool = False  # the request stopped waiting before its deadline (cancelled, server stopping)

    def wanted(self, now: float) -> bool:
        return not self.gone and now < self.deadline


@dataclass
class BatchStats:
    batches: int = 0
    documents: int = 0
    largest: int = 0
    cancelled: int = 0


class LinkBatcher:
    def __init__(self, linker_for: Callable[[object], Linker], max_docs: int = 32, wait_s: float = 0.0):
        self._linker_for = linker_for
        self.max_docs = max_docs
        self.wait_s = wait_s
        self.stats = BatchStats()
        self._expected, self._last_seconds = 0, 0.0  # clients seen by the last batch, and its time
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._busy: tuple[float, float] | None = None  # the running batch: (started, its last deadline)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="kg-link-batcher", daemon=True)
        self._thread.start()

    def _wait(self) -> float:
        """How long the first request waits for others: `wait_s` when set; else, when several clients were seen
        last time (the last batch and what queued up while it ran), up to a quarter of the last batch's time (at
        most 50 ms) until they are all back: their next requests arrive one by one as their answers do, and
        without the wait they would split into small batches that take turns; after a lone request, nothing."""
        if self.wait_s or self._expected < 2:
            return self.wait_s
        return min(self._last_seconds / 4, 0.05)

    def submit(self, key: object, doc: Document) -> Future:
        """The document's results, waited for however long they take."""
        return self._put(key, doc, math.inf).future

    def _put(self, key: object, doc: Document, timeout_s: float) -> _Job:
        job = _Job(key, doc, time.monotonic() + timeout_s)
        self._queue.put(job)
        return job

    async def link(self, key: object, doc: Document, timeout_s: float) -> list[MentionResult]:
        """The document's results; `asyncio.TimeoutError` after `timeout_s`, and then (as when the caller is
        cancelled) its work stops."""
        job = self._put(key, doc, timeout_s)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job.future), timeout_s)
        finally:
            job.gone = True

    def worker(self) -> dict[str, Any]:
        """For /health: how long the running batch has run, and a problem when it runs past its deadline."""
        busy = self._busy
        if busy is None:
            return {"busy_s": None, "queued": self._queue.qsize(), "problem": None}
        now = time.monotonic()
        over = now - busy[1]
        problem = (f"the link worker has run one batch for {now - busy[0]:.1f} s, {over:.1f} s longer than its "
                   "deadline: it is stuck in a step that cannot be cancelled (loading a model, a store that does "
                   "not answer); link requests wait for it") if over > STUCK_GRACE_S else None
        return {"busy_s": round(now - busy[0], 3), "queued": self._queue.qsize(), "problem": problem}

    def close(self, wait_s: float = 1.0) -> None:
        """Stop: the running batch is cancelled at its next check, queued requests are dropped."""
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout=wait_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None or self._closing:
                return
            jobs = [first]
            deadline = time.monotonic() + self._wait()
            stop = False
            while len(jobs) < self.max_docs:
                if len(jobs) >= self._expected and self.wait_s == 0:
                    deadline = 0.0  # the clients seen last time are all here: take what else waits, and go
                try:
                    left = deadline - time.monotonic()
                    job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            for group in _groups(jobs):
                self._link(group)
            if stop or self._closing:
                return

    def _link(self, jobs: list[_Job]) -> None:
        now = time.monotonic()
        # requests that stopped waiting are dropped before any work is done for them
        jobs = [j for j in jobs if j.wanted(now) and j.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        started = time.monotonic()
        self._busy = (started, max(j.deadline for j in jobs))
        try:
            self._link_now(jobs)
        except Cancelled as exc:  # nobody waits for these results any more
            self.stats.cancelled += len(jobs)
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        except BaseException as exc:  # every waiting request hears of it; the worker goes on
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        finally:
            self._busy = None
        self._expected, self._last_seconds = len(jobs) + self._queue.qsize(), time.monotonic() - started
        self.stats.batches += 1
        self.stats.documents += len(jobs)
        self.stats.largest = max(self.stats.largest, len(jobs))

    def _link_now(self, jobs: list[_Job]) -> None:
        """Mentions first (a request with too many gets 413 alone), then the batch, cancelled when every request
        in it has stopped waiting or the server is stopping."""
        linker = self._linker_for(jobs[0].key)
        found = linker.mentions_many([j.doc for j in jobs])
        kept: list[tuple[_Job, list]] = []
        for job, mentions in zip(jobs, found):
            if len(mentions) > MAX_MENTIONS:
                job.future.set_exception(too_many_mentions(len(mentions), detected=job.doc.mentions is None))
            else:
                kept.append((job, mentions))
        if not kept:
            return

        def cancelled() -> bool:
            now = time.monotonic()
            return self._closing or not any(j.wanted(now) for j, _ in kept)

        results = linker.link_batch([j.doc for j, _ in kept], [m for _, m in kept], cancelled=cancelled)
        by_doc: dict[str, list[MentionResult]] = {}
        for r in results:
            by_doc.setdefault(r.doc_id, []).append(r)
        for j, _ in kept:
            j.future.set_result(by_doc.get(j.doc.id, []))


def _groups(jobs: list[_Job]) -> list[list[_Job]]:
    """Jobs with equal settings together, in arrival order; a document id twice goes to a later group (results
    are told apart by document id)."""
    groups: list[tuple[object, set[str], list[_Job]]] = []
    for job in jobs:
        for key, ids, members in groups:
            if key == job.key and job.doc.id not in ids:
                ids.add(job.doc.id)
                members.append(job)
                break
        else:
            groups.append((job.key, {job.doc.id}, [job]))
    return [members for _, _, members in groups]
