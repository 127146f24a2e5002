"""Concurrent link requests share encoder calls: one worker thread links whatever requests are waiting as one
batch (the context encoder runs once over all their mentions), so under load the cost per request falls, and a
lone request waits for nobody."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

from linkers.corpus import Document
from linkers.pipeline import Linker, MentionResult


@dataclass
class _Job:
    key: object  # the linker settings: only jobs with equal settings share a batch
    doc: Document
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    batches: int = 0
    documents: int = 0
    largest: int = 0


class LinkBatcher:
    def __init__(self, linker_for: Callable[[object], Linker], max_docs: int = 32, wait_s: float = 0.0):
        self._linker_for = linker_for
        self.max_docs = max_docs
        self.wait_s = wait_s
        self.stats = BatchStats()
        self._expected, self._last_seconds = 0, 0.0  # clients seen by the last batch, and its time
        self._queue: queue.Queue[_Job | None] = queue.Queue()
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
        job = _Job(key, doc)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
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
            if stop:
                return

    def _link(self, jobs: list[_Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # timed-out requests are dropped
        if not jobs:
            return
        started = time.monotonic()
        try:
            results = self._linker_for(jobs[0].key).link_batch([j.doc for j in jobs])
        except BaseException as exc:  # every waiting request hears of it; the worker goes on
            for j in jobs:
                j.future.set_exception(exc)
            return
        by_doc: dict[str, list[MentionResult]] = {}
        for r in results:
            by_doc.setdefault(r.doc_id, []).append(r)
        for j in jobs:
            j.future.set_result(by_doc.get(j.doc.id, []))
        self._expected, self._last_seconds = len(jobs) + self._queue.qsize(), time.monotonic() - started
        self.stats.batches += 1
        self.stats.documents += len(jobs)
        self.stats.largest = max(self.stats.largest, len(jobs))


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
