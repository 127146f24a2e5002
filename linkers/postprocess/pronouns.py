"""Post-processor: the pronouns of the detected documents, each linked as the person mention before it
(`linkers.postprocess.coref` holds the rules)."""

from __future__ import annotations

from kg.kgstore.neighbourhood import Neighbourhood
from kg.linkers.candidates.generator import Work
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.postprocess import coref
from kg.linkers.postprocess.base import PostBatch
from kg.linkers.records import Document, MentionResult


def pronoun_results(docs: list[Document], work: Work, results: list[MentionResult],
                    retrieved: list[list[Candidate]], neighbourhood: Neighbourhood | None = None) -> list[MentionResult]:
    """The pronouns of the detected documents, each linked as the person mention before it: its gender read from
    the graph where there is one, a person left NIL kept as an antecedent that links nothing."""
    types = {c.qid: c.payload.get("types") for cands in retrieved for c in cands}
    detected = [(doc, m, r) for (doc, m), r in zip(work, results) if m.detected and r.start is not None]
    linked = sorted({r.qid for _, _, r in detected if r.qid})
    neighbours = neighbourhood.out(linked) if neighbourhood is not None and linked else {}
    persons: dict[str, list[coref.Antecedent]] = {}
    for doc, m, r in detected:
        if r.start is None or r.end is None:
            continue
        gender = coref.gender_of(neighbours.get(r.qid, frozenset())) if r.qid else None
        if (coref.is_person(types.get(r.qid), m.ner_label, gender) if r.qid else m.ner_label == "PERSON"):
            persons.setdefault(doc.id, []).append(coref.Antecedent(r.start, r.end, r.qid, r.mention_id, gender))
    by_id = {r.mention_id: r for r in results}
    covered: dict[str, list[tuple[int, int]]] = {}
    for r in results:
        if r.start is not None and r.end is not None:
            covered.setdefault(r.doc_id, []).append((r.start, r.end))
    out = []
    for doc in docs:
        if doc.mentions is not None:
            continue
        for link in coref.resolve(doc.text, persons.get(doc.id, []), covered.get(doc.id, [])):
            source = by_id[link.antecedent.mention_id]
            if source.qid is None:
                continue  # (resolve links a pronoun only to a linked person)
            out.append(MentionResult(
                doc_id=doc.id, mention_id=f"{doc.id}#{link.start}-{link.end}", surface=link.surface,
                start=link.start, end=link.end, box=None, qid=source.qid, score=source.score,
                candidates=source.candidates[:1], retrieved=[source.qid], detector=coref.DETECTOR,
                trace={"stages": ["coreference"], "coreference": {"antecedent": source.mention_id,
                                                                  "surface": source.surface}}))
    return out


class PronounCoreference:
    """`pronoun_results` appended to the batch's results; `neighbourhood` reads persons' genders from the graph."""

    name = "coreference"

    def __init__(self, neighbourhood: Neighbourhood | None = None):
        self.neighbourhood = neighbourhood

    def process(self, batch: PostBatch) -> None:
        batch.results += pronoun_results(batch.docs, batch.work, batch.results, batch.candidates, self.neighbourhood)
