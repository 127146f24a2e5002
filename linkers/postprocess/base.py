"""The post-processing stage's interface: what runs on a batch's results after the NIL decision.

Each `PostProcessor` sees the batch (its documents, mentions, results and candidates) and may change a result or
add new ones (a pronoun's link). The `Linker` runs them in order: by default the short name that follows its
longer name (`longer_names.FollowLongerNames`), then pronoun coreference (`pronouns.PronounCoreference`) unless
`coref` is off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kg.linkers.candidates.generator import Work
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.records import Document, MentionResult


@dataclass
class PostBatch:
    docs: list[Document]
    work: Work  # results[i] is work[i]'s for i < len(work); later results are ones post-processors added
    results: list[MentionResult]
    candidates: list[list[Candidate]]  # each mention's retrieved candidates, in retrieval order


class PostProcessor(Protocol):
    name: str

    def process(self, batch: PostBatch) -> None:
        """Change `batch.results` in place or append to it."""
        ...
