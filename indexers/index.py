"""The indexing pipeline behind `kg index`: entities from the graph into the text, names and image indexes.

Entities are read in pages ordered by qid (keyset pagination: each page starts after the last qid of the one
before, so no page is read twice and an entity added meanwhile is not skipped); the next page is fetched and the
previous one written while the current one is encoded. For every entity and index, a hash of exactly what that
index encodes (plus the model) is compared with the hash stored in the point's payload: only new or changed inputs
are encoded. So a second run encodes nothing, a changed description re-encodes one text vector, and an interrupted
run resumes by running it again (what was written is recognised as done). The payload is tested the same way, by
a hash of the payload made from the entity as the graph holds it now: an edit made in the graph by any means (a
Cypher `SET`, which leaves the content hash kg ingest stored untouched) refreshes it.

Then the points whose entity is gone from the graph (deleted, or left a stub) are deleted: the collection's point
ids are walked a page at a time, and each page's QIDs looked up in the graph. Deleting is idempotent and every
write before it is too, so a run stopped at any point leaves what a second run finishes.

Cost of the page query, measured on ArcadeDB (2 cores, 100k entities): it scans and sorts the entities after the
page start, so a page costs time proportional to what remains (2.2 s for the first 1000 of 100k, 0.2 s near the
end; 34 s to page through 90k, against about 20 minutes to encode their texts). Neo4j can serve the range and the
order from the qid uniqueness index.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models

from kg.kgstore import entity_words
from kg.kgstore import names as name_index
from kg.kgstore.config import Config
from kg.kgstore.encoders import (
    ImageEncoder,
    TextEncoder,
    image_encoder_from_config,
    image_model_hint,
    text_encoder_from_config,
)
from kg.kgstore.encoders.static_text import StaticTextEncoder
from kg.kgstore.entities import ENTITY_COLUMNS, count_entities, existing_entities, in_degrees, read_entity_page
from kg.kgstore.entity_index import (
    ENTITY_HASH,
    HASH_FIELDS,
    IMAGE,
    INDEXES,
    INITIALS_FIELD,
    NAMES,
    NAMES_FIELD,
    TEXT,
    WORDS,
    ensure_entity_collection,
    has_words,
)
from kg.kgstore.entity_text import entity_text
from kg.kgstore.errors import ConfigError
from kg.kgstore.graph import GraphStore
from kg.kgstore.images import ImageLoader, LoadedImage, is_url
from kg.kgstore.model import point_id
from kg.kgstore.vectors import VectorStore

# Literal Wikidata attributes worth a few words in the text to encode (most others are external identifiers).
KEY_ATTRIBUTES = {
    "P569": "born", "P570": "died", "P571": "founded", "P576": "dissolved", "P577": "published",
    "P1477": "birth name", "P1449": "nickname", "P1813": "short name", "P1082": "population",
}
MAX_ATTRIBUTES = 4
PAYLOAD_SCHEME = "payload-v4"  # v2: `lived`; v3: `initials`; v4: hashed from the payload itself
MAX_SKIP_EXAMPLES = 20
INDEX_COLUMNS = tuple(c for c in ENTITY_COLUMNS if c != "hash")  # the payload is hashed from what it holds


@dataclass
class IndexOptions:
    indexes: Sequence[str] = INDEXES
    explicit: bool = False  # indexes were asked for by name: a missing image model is an error, not a note
    page_size: int = 1000
    text_batch_size: int | None = None  # None: the configured text_batch_size (KG_TEXT_BATCH_SIZE)
    image_batch_size: int = 32
    image_workers: int = 4  # concurrent image fetches (network-bound)
    limit: int | None = None
    recreate: bool = False


@dataclass
class IndexStats:
    """Per index: `seen` entities, `encoded` ones, `unchanged` (hash equal), `skipped` by reason."""

    seen: int = 0
    encoded: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skip_examples: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0  # time spent preparing and encoding this index's inputs
    encoded_per_s: float = 0.0

    def skip(self, qid: str, reason: str, source: str = "") -> None:
        key = reason.split(" (")[0]
        self.skipped[key] = self.skipped.get(key, 0) + 1
        if len(self.skip_examples) < MAX_SKIP_EXAMPLES:
            self.skip_examples.append({"qid": qid, "source": source, "reason": reason})


@dataclass
class IndexSummary:
    collection: str
    entities: int = 0
    pages: int = 0
    seconds: float = 0.0
    entities_per_s: float = 0.0
    indexes: dict[str, IndexStats] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)  # index -> why it did not run
    deleted: int = 0  # points whose entity is no longer in the graph
    hnsw_restored: bool = False  # the HNSW graph was deferred (m=0) and the server now builds it

    @property
    def encoded(self) -> int:
        return sum(s.encoded for s in self.indexes.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EntityRow:
    """What the indexes need of one graph entity."""

    qid: str
    kind: str | None
    label: str | None
    description: str | None
    aliases: list[str]
    sitelinks: int
    images: list[str]
    image_urls: list[str]
    types: list[str]
    attributes: dict[str, list[str]]
    describe: list[str] = field(default_factory=list)
    priors: dict[str, int] = field(default_factory=dict)  # alias form -> count (kg ingest of alias counts)
    degree: int = 0  # incoming relationships from other entities
    # (name forms, base payload), made by the page reader beside the encoding (Indexer.run); None: made when planned
    prepared: tuple[list[str], dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> EntityRow:
        return cls(
            qid=r["qid"], kind=r.get("kind"), label=r.get("label"), description=r.get("description"),
            aliases=list(r.get("aliases") or []), sitelinks=int(r.get("sitelinks") or 0),
            images=list(r.get("images") or []), image_urls=list(r.get("image_urls") or []),
            types=list(r.get("types") or []), attributes=json.loads(r.get("attributes_json") or "{}"),
            describe=list(r.get("describe") or []),
            priors=json.loads(r.get("priors_json") or "{}"),
        )


def row_text(row: EntityRow) -> str:
    """What the text index encodes: "label: description. born: 1952-03-11; ..." (key attributes only): the ones
    the KB names in the entity's `describe`, in its order, else Wikidata's key literals then the rest by name."""
    if row.describe:
        attrs = [(KEY_ATTRIBUTES.get(k, k.replace("_", " ")), row.attributes[k]) for k in row.describe
                 if k in row.attributes]
    else:
        attrs = [(KEY_ATTRIBUTES[k], row.attributes[k]) for k in KEY_ATTRIBUTES if k in row.attributes]
        attrs += [(k.replace("_", " "), v) for k, v in row.attributes.items() if not _is_pid(k)]
        attrs = attrs[:MAX_ATTRIBUTES]
    return entity_text(row.label, row.description, attrs)


def image_sources(row: EntityRow) -> tuple[list[str], list[str]]:
    """(loadable sources: existing local files first, then URLs; local paths that do not exist)."""
    local, missing = [], []
    urls = list(dict.fromkeys(row.image_urls + [i for i in row.images if is_url(i)]))
    for ref in row.images:
        if is_url(ref):
            continue
        if Path(ref).expanduser().is_file():
            local.append(ref)
        elif not urls:  # with URLs, a bare name is a Commons file they already cover
            missing.append(ref)
    return local + urls, missing


def _positive_int(name: str, value: object) -> int:
    """A count from the configuration, where the environment and kg.toml may give it as text."""
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name} must be at least 1, got {number}")
    return number


def _is_pid(key: str) -> bool:
    return key[:1] == "P" and key[1:].isdigit()


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass
class _Plan:
    """What one entity of a page needs written."""

    row: EntityRow
    pid: int | str
    exists: bool
    forms: list[str]
    payload: dict[str, Any] = field(default_factory=dict)  # fields to (re)write
    vectors: dict[str, Any] = field(default_factory=dict)


class _PageReader:
    """Keyset pages, each read in a background thread while the caller works on the one before; the first is asked
    for as soon as the reader is made. `limit` caps the entities read in all."""

    def __init__(self, fetch: Callable[[str, int], list[EntityRow]], page_size: int, limit: int | None):
        self._fetch, self._page_size, self._remaining = fetch, page_size, limit
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kg-index-read")
        self._pending = self._submit("")

    def _submit(self, after: str) -> Future:
        n = self._page_size if self._remaining is None else min(self._page_size, self._remaining)
        return self._pool.submit(self._fetch, after, n)

    def __iter__(self) -> Iterator[list[EntityRow]]:
        while rows := self._pending.result():
            if self._remaining is not None:
                self._remaining -= len(rows)
            self._pending = self._submit(rows[-1].qid)
            yield rows

    def __enter__(self) -> _PageReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class Indexer:
    """Runs the pipeline for one graph and one collection; encoders are loaded from the configuration if not given."""

    def __init__(self, config: Config, graph: GraphStore, vectors: VectorStore, options: IndexOptions | None = None,
                 *, text_encoder: TextEncoder | StaticTextEncoder | None = None, image_encoder: ImageEncoder | None = None,
                 image_loader: ImageLoader | None = None):
        self.config = config
        self.graph = graph
        self.vectors = vectors
        self.options = options or IndexOptions()
        self.collection = config.qdrant.collection
        unknown = set(self.options.indexes) - set(INDEXES)
        if unknown:
            raise ConfigError(f"unknown index(es) {', '.join(sorted(unknown))}; choose from {', '.join(INDEXES)}")
        self.summary = IndexSummary(collection=self.collection)
        self.indexes = [i for i in INDEXES if i in self.options.indexes]
        self.image_encoder = image_encoder or image_encoder_from_config(config)
        if IMAGE in self.indexes and self.image_encoder is None:
            if self.options.explicit:
                raise ConfigError(f"--images needs an image model; {image_model_hint()}")
            self.indexes.remove(IMAGE)
            self.summary.not_run[IMAGE] = image_model_hint()
        self.text_encoder = text_encoder or text_encoder_from_config(config)  # its size shapes the collection
        self.image_loader = image_loader or ImageLoader(config.home / "cache" / "images",
                                                        allow_private=config.models.image_allow_private)
        self.text_batch_size = self.options.text_batch_size or _positive_int("text_batch_size",
                                                                             config.models.text_batch_size)
        self.summary.indexes = {i: IndexStats() for i in self.indexes}

    def total(self) -> int:
        """Entities the run will visit (for progress bars)."""
        n = count_entities(self.graph)
        return min(n, self.options.limit) if self.options.limit is not None else n

    def run(self, progress: Callable[[int, IndexSummary], None] | None = None) -> IndexSummary:
        """With a Qdrant server, each page's write runs in the background while the next page is encoded (one write
        in flight, in page order; a page counts as done once written, and a failed write stops the run). Local
        mode writes in line: its collections are not safe to use from two threads (and on macOS its SQLite files
        refuse a second thread)."""
        with (self._reader(prepare=True) as reader,  # the first page is read while the collection is made ready
              ThreadPoolExecutor(max(1, self.options.image_workers)) as pool,
              ThreadPoolExecutor(1, thread_name_prefix="kg-index-write") as writer):
            started = self.start()
            pending: tuple[Future, int] | None = None
            for rows in reader:
                plans = self.plan_page(rows, pool)
                if pending:
                    self._written(pending, progress)
                    pending = None
                if self.vectors.local:
                    self._write(plans)
                    self.counted(len(rows), progress)
                else:
                    pending = writer.submit(self._write, plans), len(rows)
            if pending:
                self._written(pending, progress)
        return self.finish(started)

    def _written(self, pending: tuple[Future, int], progress: Callable[[int, IndexSummary], None] | None) -> None:
        future, entities = pending
        future.result()
        self.counted(entities, progress)

    def start(self) -> float:
        """Before the pages: the collection made (or checked) and its HNSW build deferred when configured; returns
        the start time for finish()."""
        started = time.monotonic()
        ensure_entity_collection(
            self.vectors, self.collection, text_dim=self.text_encoder.dim,
            image_dim=self.image_encoder.dim if self.image_encoder else None, recreate=self.options.recreate,
        )
        if WORDS in self.indexes and not has_words(self.vectors, self.collection):
            if self.options.explicit:
                raise ConfigError(f"collection {self.collection!r} predates the words index; rebuild it with "
                                  "`kg index --recreate`")
            self.indexes.remove(WORDS)
            del self.summary.indexes[WORDS]
            self.summary.not_run[WORDS] = (f"collection {self.collection!r} predates the words index; "
                                           "`kg index --recreate` adds it")
        self.vectors.defer_hnsw(self.collection)
        return started

    def counted(self, entities: int, progress: Callable[[int, IndexSummary], None] | None = None) -> None:
        """A page of `entities` done."""
        self.summary.entities += entities
        self.summary.pages += 1
        if progress:
            progress(entities, self.summary)

    def finish(self, started: float) -> IndexSummary:
        """After the pages: speed, the points of deleted entities swept, the HNSW build restored."""
        self.summary.seconds = round(time.monotonic() - started, 3)
        if self.summary.seconds:
            self.summary.entities_per_s = round(self.summary.entities / self.summary.seconds, 1)
        self.summary.deleted = self._sweep()
        self.summary.hnsw_restored = self.vectors.restore_hnsw(self.collection)  # also after a killed deferred run
        for stats in self.summary.indexes.values():
            stats.seconds = round(stats.seconds, 3)
            stats.encoded_per_s = round(stats.encoded / stats.seconds, 1) if stats.seconds else 0.0
        return self.summary

    def pages(self) -> Iterator[list[EntityRow]]:
        """Keyset pages with their entities' in-degrees; the next one is read in the background while the caller
        works on the current one."""
        with self._reader() as reader:
            yield from reader

    def _reader(self, prepare: bool = False) -> _PageReader:
        """Reads pages ahead; with `prepare`, also makes each row's name forms and base payload there, off the
        encoding thread."""
        def fetch(after: str, n: int) -> list[EntityRow]:
            rows = [EntityRow.from_record(r) for r in read_entity_page(self.graph, after, n, INDEX_COLUMNS)]
            degrees = in_degrees(self.graph, [r.qid for r in rows]) if rows else {}
            for row in rows:
                row.degree = degrees.get(row.qid, 0)
                if prepare:
                    row.prepared = self._prepare(row)
            return rows

        return _PageReader(fetch, self.options.page_size, self.options.limit)

    def index_page(self, rows: list[EntityRow], pool: ThreadPoolExecutor) -> None:
        """One page encoded where its inputs changed and written in one Qdrant request (idempotent by point id)."""
        self._write(self.plan_page(rows, pool))

    def plan_page(self, rows: list[EntityRow], pool: ThreadPoolExecutor) -> list[_Plan]:
        """What one page needs written: its changed inputs encoded and payload fields, nothing written yet."""
        ids = [point_id(r.qid) for r in rows]
        fields = [ENTITY_HASH, *HASH_FIELDS.values()]
        stored = {p.id: p.payload for p in self.vectors.retrieve(self.collection, ids, fields)}
        plans = []
        for row, pid in zip(rows, ids, strict=True):
            old = stored.get(pid)
            forms, payload = row.prepared or self._prepare(row)
            plan = _Plan(row=row, pid=pid, exists=old is not None, forms=forms)
            if old is None or old.get(ENTITY_HASH) != payload[ENTITY_HASH]:
                plan.payload.update(payload)
            plans.append((plan, old or {}))
        if TEXT in self.indexes:
            self._text(plans)
        if NAMES in self.indexes:
            self._names(plans)
        if IMAGE in self.indexes:
            self._images(plans, pool)
        if WORDS in self.indexes:
            self._words(plans)
        return [p for p, _ in plans]

    @classmethod
    def _prepare(cls, row: EntityRow) -> tuple[list[str], dict[str, Any]]:
        """The entity's name forms and base payload."""
        forms = name_index.name_forms(row.label, row.aliases + sorted(row.priors))
        return forms, cls._base_payload(row, forms)

    @staticmethod
    def _base_payload(row: EntityRow, forms: list[str]) -> dict[str, Any]:
        """The entity's payload, with the hash of its content and layout (a new field is written to every point
        once) under ENTITY_HASH."""
        payload = {
            "qid": row.qid, "kind": row.kind, "label": row.label, "description": row.description,
            "aliases": row.aliases, NAMES_FIELD: forms, INITIALS_FIELD: name_index.initials([row.label, *row.aliases]),
            "types": row.types, "popularity": row.sitelinks,
            "priors": row.priors, "degree": row.degree, "lived": entity_words.life_span(row.attributes),
        }
        payload[ENTITY_HASH] = _digest(PAYLOAD_SCHEME, json.dumps(payload, sort_keys=True, default=str))
        return payload

    def _sweep(self) -> int:
        """Deletes the points of entities no longer in the graph, one page of point ids at a time (the page's QIDs
        looked up in the graph); returns how many. A point without a QID was not written by the indexer and goes
        too."""
        deleted = 0
        for points in self.vectors.scroll(self.collection, self.options.page_size, ["qid"]):
            qids = {p.id: p.payload.get("qid") for p in points}
            present = existing_entities(self.graph, [q for q in qids.values() if isinstance(q, str)])
            gone = [pid for pid, qid in qids.items() if qid not in present]
            self.vectors.delete(self.collection, gone)
            deleted += len(gone)
        return deleted

    def _todo(self, index: str, plans: list[tuple[_Plan, dict]], inputs: Callable[[_Plan], str | None],
              ) -> list[tuple[_Plan, str, str]]:
        """(plan, input, hash) of entities whose input for `index` is new or changed; counts the rest."""
        stats = self.summary.indexes[index]
        todo = []
        for plan, old in plans:
            stats.seen += 1
            value = inputs(plan)
            if value is None:
                continue
            digest = _digest(index, self._model_version(index), value)
            if old.get(HASH_FIELDS[index]) == digest:
                stats.unchanged += 1
            else:
                todo.append((plan, value, digest))
        return todo

    def _model_version(self, index: str) -> str:
        if index == TEXT:
            return self.text_encoder.version
        if index == IMAGE and self.image_encoder is not None:
            return self.image_encoder.version
        if index == WORDS:
            return entity_words.SCHEME
        return name_index.SCHEME

    def _text(self, plans: list[tuple[_Plan, dict]]) -> None:
        stats = self.summary.indexes[TEXT]

        def text_of(plan: _Plan) -> str | None:
            text = row_text(plan.row)
            if not text:
                stats.skip(plan.row.qid, "no label or description")
                return None
            return text

        todo = self._todo(TEXT, plans, text_of)
        if not todo:
            return
        started = time.monotonic()
        matrix = self.text_encoder.encode([t for _, t, _ in todo], batch_size=self.text_batch_size)
        stats.seconds += time.monotonic() - started
        for (plan, _, digest), vector in zip(todo, matrix, strict=True):
            plan.vectors[TEXT] = vector  # a numpy row: made a list by the writer, off the encoding thread
            plan.payload[HASH_FIELDS[TEXT]] = digest
        stats.encoded += len(todo)

    def _names(self, plans: list[tuple[_Plan, dict]]) -> None:
        stats = self.summary.indexes[NAMES]

        def names_of(plan: _Plan) -> str | None:
            if not plan.forms:
                stats.skip(plan.row.qid, "no label or alias")
                return None
            return "\x1e".join(plan.forms)

        started = time.monotonic()
        for plan, _, digest in self._todo(NAMES, plans, names_of):
            vector = name_index.entity_vector(plan.forms)
            plan.vectors[NAMES] = models.SparseVector(indices=vector.indices, values=vector.values)
            plan.payload[HASH_FIELDS[NAMES]] = digest
            stats.encoded += 1
        stats.seconds += time.monotonic() - started

    def _words(self, plans: list[tuple[_Plan, dict]]) -> None:
        stats = self.summary.indexes[WORDS]
        terms: dict[str, list[str]] = {}

        def words_of(plan: _Plan) -> str | None:
            row = plan.row
            found = terms[row.qid] = entity_words.entity_words(row.label, row.description, row.attributes)
            if not found:
                stats.skip(row.qid, "no description or attribute words")
                return None
            return " ".join(found)

        started = time.monotonic()
        for plan, _, digest in self._todo(WORDS, plans, words_of):
            vector = entity_words.sparse_vector(terms[plan.row.qid])
            plan.vectors[WORDS] = models.SparseVector(indices=vector.indices, values=vector.values)
            plan.payload[HASH_FIELDS[WORDS]] = digest
            stats.encoded += 1
        stats.seconds += time.monotonic() - started

    def _images(self, plans: list[tuple[_Plan, dict]], pool: ThreadPoolExecutor) -> None:
        stats = self.summary.indexes[IMAGE]
        sources: dict[str, tuple[list[str], list[str]]] = {}

        def images_of(plan: _Plan) -> str:
            found, missing = sources[plan.row.qid] = image_sources(plan.row)
            return "\x1e".join(found + missing)

        todo = self._todo(IMAGE, plans, images_of)
        started = time.monotonic()
        batch = max(1, self.options.image_batch_size)
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            loaded = list(pool.map(lambda item: self._load(*sources[item[0].row.qid]), chunk))
            good = [(item, img, img.image) for item, img in zip(chunk, loaded, strict=True) if img.image is not None]
            if good and self.image_encoder is not None:
                matrix = self.image_encoder.encode_images([image for _, _, image in good])
                for ((plan, _, digest), img, _), vector in zip(good, matrix, strict=True):
                    plan.vectors[IMAGE] = vector.tolist()
                    plan.payload.update({HASH_FIELDS[IMAGE]: digest, "image": img.source, "image_skip": None})
                stats.encoded += len(good)
            for (plan, _, digest), img in zip(chunk, loaded, strict=True):
                if img.ok:
                    continue
                stats.skip(plan.row.qid, img.skip or "no image", img.source)
                if not img.transient:  # recorded as done until the entity's images change; transient ones retry
                    plan.payload.update({HASH_FIELDS[IMAGE]: digest, "image": None, "image_skip": img.skip})
        stats.seconds += time.monotonic() - started

    def _load(self, found: list[str], missing: list[str]) -> LoadedImage:
        if found:
            return self.image_loader.first(found)
        if missing:  # may appear later: retried on every run (a stat call)
            return LoadedImage(source=missing[0], skip="file not found", transient=True)
        return LoadedImage(source="", skip="no image")

    def _write(self, plans: list[_Plan]) -> None:
        """One Qdrant request per page: new points whole, existing ones by changed vectors and payload fields."""
        for plan in plans:
            plan.vectors = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in plan.vectors.items()}
        self.vectors.update(
            self.collection,
            new=[models.PointStruct(id=p.pid, vector=p.vectors, payload=p.payload) for p in plans if not p.exists],
            vectors={p.pid: p.vectors for p in plans if p.exists and p.vectors},
            payloads={p.pid: p.payload for p in plans if p.exists and p.payload},
        )
