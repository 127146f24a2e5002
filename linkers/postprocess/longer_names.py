"""Post-processor: a short name takes the entity its document's longer name was linked to ("Saban" after
"Nick Saban"), as news writes it."""

from __future__ import annotations

from collections.abc import Callable

from kg.linkers.candidates.generator import Work, is_surname, longer_names
from kg.linkers.postprocess.base import PostBatch
from kg.linkers.records import NIL, MentionResult

# NER labels of places and events: such a one-word mention is its own entity, not a longer name's short form
PLACE_LABELS = frozenset({"GPE", "LOC", "NORP", "FAC", "EVENT"})


def follow_longer_names(work: Work, results: list[MentionResult], common: Callable[[str], bool] | None = None) -> None:
    """A short name takes the entity its document's longer name was linked to ("Saban" after "Nick Saban"),
    when that entity is among its own candidates: in-document coreference, as news writes it. Only a word that
    can be a name: not a place (a place keeps its own entity), not a common noun (`common`: some KB name
    writes it in lowercase)."""
    linked: dict[tuple[str, str], MentionResult] = {}
    for (doc, m), r in zip(work, results):
        if r.qid:
            linked.setdefault((doc.id, m.surface), r)
    for (doc, m), longer, r in zip(work, longer_names(work), results):
        full = linked.get((doc.id, longer)) if longer else None
        if full is None or full.qid == r.qid or full.qid not in {c["qid"] for c in r.candidates}:
            continue
        if not is_surname(m.surface) or m.ner_label in PLACE_LABELS or (common is not None and common(m.surface)):
            continue  # "California" after "Southern California", "Education" after "Department of Education"
        r.trace["coreference"] = {"longer": longer, "was": r.qid or NIL}
        r.qid, r.score = full.qid, next(c["score"] for c in r.candidates if c["qid"] == full.qid)


class FollowLongerNames:
    """`follow_longer_names` on a batch; `common` says a word is a common noun (the detector's KB gazetteer)."""

    name = "longer names"

    def __init__(self, common: Callable[[str], bool] | None = None):
        self.common = common

    def process(self, batch: PostBatch) -> None:
        follow_longer_names(batch.work, batch.results, self.common)
