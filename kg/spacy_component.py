"""spaCy component "kg_linker": links the entities a pipeline's NER (any NER before it) found to the KB, through the
Python API, so that a spaCy user adds entity linking with one line:

    nlp.add_pipe("kg_linker", config={"home": "/data/kg", "options": {"method": "features"}})

It sets each entity's `kb_id_` (the QID; "" when NIL) and `ent._.kg_score` / `ent._.kg_label`. spaCy finds the
factory through the `spacy_factories` entry point, so no import is needed; importing this module registers it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.tokens import Doc, Span

if TYPE_CHECKING:  # spaCy imports this module through its entry point whenever any pipeline loads: stay light
    from kg.api import KG, LinkedMention

for _name in ("kg_score", "kg_label"):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=None)


class KgLinker:
    """Links doc.ents as given spans (no detection of its own): one link batch per document, or per `nlp.pipe`
    batch. The KG opens on the first document, so a pipeline can be built and saved without the stores."""

    def __init__(self, home: str | None, settings: dict[str, Any], options: dict[str, Any], batch_size: int):
        from kg.linkers.config import validate

        validate(options, extra=("write",))  # a bad option is an error when the pipeline is built, not at its first document
        self.home = home
        self.settings = dict(settings)
        self.options = {**options, "detect": False}  # spans come from the pipeline's NER
        self.batch_size = batch_size
        self._kg: KG | None = None

    @property
    def kg(self) -> KG:
        if self._kg is None:
            from kg.api import KG

            self._kg = KG.open(self.home, **self.settings)
        return self._kg

    def close(self) -> None:
        """Releases the KG's linker threads and store connections (a later document opens it again)."""
        if self._kg is not None:
            self._kg.close()
            self._kg = None

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self._link([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= (batch_size or self.batch_size):
                yield from self._link(batch)
                batch = []
        if batch:
            yield from self._link(batch)

    def _link(self, docs: list[Doc]) -> list[Doc]:
        todo = [(n, doc) for n, doc in enumerate(docs) if doc.ents]
        records = ({"id": f"spacy-{n}", "text": doc.text,
                    "mentions": [{"start": e.start_char, "end": e.end_char} for e in doc.ents]} for n, doc in todo)
        linked = self.kg.link_many(records, **self.options) if todo else iter(())
        for (_, doc), result in zip(todo, linked):
            _annotate(doc, result.mentions)
        return docs


def _annotate(doc: Doc, mentions: list[LinkedMention]) -> None:
    """Sets kb_id (kept on the tokens, so doc.ents is rebuilt with it) and the extensions of each entity."""
    by_span = {(m.start, m.end): m for m in mentions}
    ents = []
    for ent in doc.ents:
        m = by_span.get((ent.start_char, ent.end_char))
        qid = m.qid if m is not None and m.qid else ""
        ents.append(Span(doc, ent.start, ent.end, label=ent.label_, kb_id=qid))
    doc.ents = ents
    for ent in doc.ents:
        m = by_span.get((ent.start_char, ent.end_char))
        ent._.kg_score = m.score if m is not None else None
        ent._.kg_label = m.label if m is not None else None


@Language.factory("kg_linker", default_config={"home": None, "settings": {}, "options": {}, "batch_size": 64})
def make_kg_linker(nlp: Language, name: str, home: str | None, settings: dict[str, Any], options: dict[str, Any],
                   batch_size: int) -> KgLinker:
    """`home`: KG_HOME (None: the usual resolution); `settings`: kg.toml keys (graph_uri, qdrant_url, ...);
    `options`: link options (method, top_k, nil_threshold, context, llm, ...)."""
    return KgLinker(home, settings, options, batch_size)


__all__ = ["KgLinker", "make_kg_linker"]
