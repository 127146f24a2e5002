"""The public Python API: one object per KG_HOME, the way ReFinED, spaCy and neo4j-graphrag are used, instead of
the seven objects (configuration, both stores, schema, method options, linker) a program had to assemble.

    from kg import KG
    with KG.open() as kg:
        for m in kg.link("Obama visited Paris"):
            print(m.surface, m.qid, m.score)

`kg link`, `kg eval` and `kg serve` build their stores and linkers through the same objects (kg.context,
kg.service), so the API links exactly as the CLI and the server do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kg.context import StoreContext
from kg.kgstore.cards import EntityCard
from kg.kgstore.config import OPEN_SECTIONS, SECTIONS, load_config
from kg.kgstore.linked import EntityMentions
from kg.linkers.config import LinkConfig
from kg.linkers.corpus import parse_document
from kg.linkers.evaluation.data_paths import data_paths
from kg.linkers.evaluation.datasets import Dataset, load_dataset, with_splits
from kg.linkers.pipeline import Linker, LinkOptions, MentionResult
from kg.linkers.run import (
    EvalResult,
    evaluate_given_candidates,
    evaluate_mentions,
    evaluate_spans,
    require_kb,
)
from kg.service import SearchResult, Service

if TYPE_CHECKING:  # the ingest and index modules are imported when first called (readers, encoders)
    from kg.indexers.index import IndexSummary
    from kg.indexers.ingest import IngestSummary


@dataclass
class LinkedMention:
    """One mention and what it was linked to (qid None: NIL, nothing in the KB fits)."""

    start: int | None  # character offsets in the text (None: an image box mention)
    end: int | None
    surface: str
    qid: str | None
    label: str | None  # the chosen entity's label and description
    description: str | None
    score: float | None  # the method's score of the chosen entity (the learned method's is calibrated, 0..1)
    nil: bool
    detector: str | None  # which detector found the span (None: a given span)
    result: MentionResult = field(repr=False)  # everything the linker knows: candidates, trace (`kg link --explain`)


@dataclass
class LinkedDoc:
    """A document of `link_many` with its mentions, in the order given."""

    id: str
    mentions: list[LinkedMention]


def config_key(name: str) -> str:
    """`graph_uri` -> "graph.uri", `link_top_k` -> "link.top_k": settings are kg.toml's keys ("graph.uri" works as
    given), written with an underscore after the section so that they can be keyword arguments."""
    section, _, rest = name.partition("_")
    return f"{section}.{rest}" if "." not in name and rest and section in (*SECTIONS, *OPEN_SECTIONS) else name


class KG:
    """A knowledge graph (both stores of one KG_HOME) with its linkers; close it (or use `with`) to release the
    linkers' threads and the store connections."""

    def __init__(self, context: StoreContext):
        self.context = context
        self.config = context.config
        self.service = Service(context)
        self._kb_checked = False

    @classmethod
    def open(cls, home: str | Path | None = None, **settings: Any) -> KG:
        """`home`: the data directory (None: KG_HOME, else ~/.kg); `settings`: kg.toml's keys, e.g.
        graph_uri="bolt://...", qdrant_url=..., qdrant_collection=... (precedence as the CLI's flags: over the
        environment and kg.toml), and the link options as link_<option> (link_method="features", link_top_k=5: the
        default of every `link` call, linkers.config.LinkConfig). Stores connect on first use. An unknown setting
        is a ConfigError."""
        overrides = {config_key(k): v for k, v in settings.items()}
        return cls(StoreContext(load_config({"home": home, **overrides})))

    def __enter__(self) -> KG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the linkers' threads and the store connections (idempotent)."""
        self.service.close()
        self.context.close()

    # -------------------------------------------------------------------------------------------- linking
    def link_options(self, options: Mapping[str, Any] | None = None, *, write: bool = False) -> LinkOptions:
        """`options` (LinkConfig's fields) over KG.open's link settings, the environment's, kg.toml's [link] and the
        defaults; an unknown or bad option is an InputError naming it."""
        return self.service.link_options(options, write=write)

    def build_linker(self, options: LinkOptions) -> Linker:
        """A linker with every `kg link` option, for long jobs such as `kg link`; the caller closes it. An empty
        graph or index is a ConfigError saying which step to run."""
        self._require_kb()
        return self.service.build_linker(options)

    def link(self, text: str, *, mentions: Sequence[Mapping[str, Any]] | None = None, doc_id: str = "text",
             **options: Any) -> list[LinkedMention]:
        """The mentions of `text`, linked. `mentions`: given spans ({"start", "end"}, as in a corpus file) to link
        instead of detecting them; `options`: the link options (linkers.config.LinkConfig's fields: method, top_k,
        nil_threshold, context, detector, detect, llm, llm_margin, ...), and write=True to write the document and
        its links into the graph under `doc_id`."""
        record: dict[str, Any] = {"id": doc_id, "text": text}
        if mentions is not None:
            record["mentions"] = [dict(m) for m in mentions]
        return next(self.link_many([record], **options)).mentions

    def link_many(self, docs: Iterable[str | Mapping[str, Any]], **options: Any) -> Iterator[LinkedDoc]:
        """Each document linked, yielded in order as its batch is done (documents are read lazily, linked in
        batches that share one encoder call, and the next batch's mentions are detected while one is linked).
        A document is a text, or a corpus record {"id", "text", "mentions"?, "image"?} (docs/corpus-format.md);
        a bad record is an InputError naming it. Options as `link`."""
        write = bool(options.pop("write", False))
        linker = self._linker(self.link_options(options, write=write))
        numbered = ({"id": f"doc-{n}", "text": d} if isinstance(d, str) else dict(d) for n, d in enumerate(docs, 1))
        documents = (parse_document(record, self.config.home) for record in numbered)
        for batch, results in linker.link_batches(documents):
            described = self.service.described([r.qid for r in results if r.qid])
            by_doc: dict[str, list[LinkedMention]] = {d.id: [] for d in batch}
            for r in results:
                label, description = described.get(r.qid, (None, None)) if r.qid else (None, None)
                by_doc[r.doc_id].append(LinkedMention(r.start, r.end, r.surface, r.qid, label, description,
                                                      r.score, r.qid is None, r.detector, r))
            for d in batch:
                yield LinkedDoc(d.id, by_doc[d.id])

    def _linker(self, options: LinkOptions) -> Linker:
        self._require_kb()
        return self.service.linker(options)

    def _require_kb(self) -> None:
        if not self._kb_checked:
            require_kb(self.service.stores())
            self._kb_checked = True

    # -------------------------------------------------------------------------------------------- building
    def ingest(self, paths: Iterable[str | Path], **options: Any) -> list[IngestSummary]:
        """KB files into the graph, as `kg ingest` (options: IngestOptions' fields, e.g. fmt, langs, limit,
        resume); one summary per file. Re-ingesting a file changes nothing."""
        from kg.indexers.ingest import IngestOptions, ingest

        summaries = []
        for path in map(Path, paths):
            opts = IngestOptions(**options)
            if opts.errors_path is None:
                opts.errors_path = (self.config.home / "ingest-errors" /
                                    f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
            summaries.append(ingest(self.context.graph(), path, opts))
        self._kb_checked = False
        return summaries

    def index(self, **options: Any) -> IndexSummary:
        """The graph's entities into the vector indexes, as `kg index` (options: IndexOptions' fields, e.g.
        indexes=("text", "names"), limit, recreate); incremental, so a second call encodes nothing."""
        from kg.indexers.index import Indexer, IndexOptions

        summary = Indexer(self.config, self.context.graph(), self.context.vectors(), IndexOptions(**options)).run()
        self._kb_checked = False
        return summary

    # -------------------------------------------------------------------------------------------- reading
    def search(self, text: str, by: str = "name", k: int = 10, type_: str = "") -> SearchResult:
        """Entities by name (exact, with spelling suggestions), by description text, or by image; `type_`: only
        entities of that type (a QID)."""
        return self.service.search(text, by, k, type_)

    def entity(self, qid: str) -> EntityCard:
        """An entity's card: label, description, aliases, types, relations (an unknown QID is an InputError)."""
        return self.service.card(qid)

    def mentions(self, qid: str, limit: int = 20) -> EntityMentions:
        """Where the entity is mentioned in the documents linked with write=True (or by `kg link`)."""
        return self.service.mentions(qid, limit)

    # -------------------------------------------------------------------------------------------- evaluation
    def eval(self, dataset: str, *, split: str = "test", limit: int | None = None, spans: str = "detect",
             **options: Any) -> dict[str, Any]:
        """The metrics of linking a dataset with gold answers (what `kg eval --json` prints: hits@k, MRR, or span
        precision/recall/F1, with the protocol); nothing is written. `options`: the link options (as `link`'s,
        `detector` included)."""
        return self.evaluate(dataset, split, limit, self.link_options(options), spans=spans).data

    def evaluate(self, dataset: str, split: str, limit: int | None, margs: LinkConfig, *, spans: str = "detect",
                 report: bool = False, report_all: bool = False) -> EvalResult:
        """`kg eval`: the dataset's protocol chosen by its kind (given candidates, span-level, mention-level; a
        built-in dataset's KB slice is loaded when the graph lacks it)."""
        ds = load_dataset(dataset, split if dataset in with_splits() else None, limit, data_paths(self.config))
        want = {"report": report, "report_all": report_all}
        if ds.given is not None:
            return evaluate_given_candidates(self.config, ds, margs, **want)
        if ds.articles is not None:
            return evaluate_spans(self.service.stores(), ds, margs, gold_spans=spans == "gold", **want)
        self.ensure_kb(ds)
        return evaluate_mentions(self.service.stores(), ds, margs, **want)

    def ensure_kb(self, dataset: Dataset) -> None:
        """A built-in dataset's KB slice is ingested and indexed when the graph does not have it yet."""
        if dataset.kb is None:
            return
        from kg.indexers.kb_slice import ensure_kb_slice

        ensure_kb_slice(self.config, self.context.graph(), self.context.vectors(), dataset.name, dataset.kb)


__all__ = ["KG", "LinkedDoc", "LinkedMention", "config_key"]
