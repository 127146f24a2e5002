"""KAR, knowledge-aware re-ranking (FissFuse + KAR paper, digest in shared/docs/papers/fissfuse_kar.md).

The base ranking's top-K candidates go to the LLM with their descriptions and a few facts read from the graph
(types, attributes, relations), in the paper's "select one" form: one call per mention. The chosen candidate
moves to the top and the rest keep the base order, so Hits@k for k >= K cannot change. The paper's prompt is
not published (it is in a figure), so this one follows its text: mention sentence plus numbered candidates.
"""

from __future__ import annotations

from typing import Any

from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.llm import CallLog, parse_choice
from kg.linkers.ranking.llm.facts import EntityFacts, entity_facts
from kg.linkers.ranking.llm_method import LLMReranker, Outcome, candidate_description, clip_text, llm_method_builder
from kg.linkers.ranking.registry import Method, register_method

SYSTEM = ("You are an entity linking assistant. You are given a mention in a text and a numbered list of candidate "
          "entities from a knowledge base. Select the one candidate the mention refers to, using the text and what "
          "you know about the candidates.")


class KarReranker(LLMReranker):
    name = "kar"
    setting_types = {"k": int, "facts": int}  # candidates shown (5), facts per candidate (5)
    default_budget = 1

    @property
    def k(self) -> int:
        return int(self.settings.get("k", 5))

    def prepare(self, items: list[tuple[MentionInput, list[Candidate]]]) -> None:
        """One graph read for the facts of every candidate the batch's prompts will show."""
        graph = self.services.graph
        shown = [c for _, ranked in items for c in ranked[: self.k]]
        if graph is None or not shown:
            return
        facts = entity_facts(graph, [c.qid for c in shown], max_facts=int(self.settings.get("facts", 5)))
        for c in shown:
            if c.qid in facts:
                c.payload["facts"] = facts[c.qid]

    def prompt(self, mention: MentionInput, top: list[Candidate]) -> list[dict[str, str]]:
        lines = []
        for i, c in enumerate(top, 1):
            facts: EntityFacts | None = c.payload.get("facts")
            about = clip_text(facts.line(), 300) if facts else candidate_description(c)
            lines.append(f"{i}. {c.label or c.qid}: {about}" if about else f"{i}. {c.label or c.qid}")
        user = (f"Text: {clip_text(mention.context, 600)}\nMention: {mention.surface}\n\nCandidates:\n"
                + "\n".join(lines)
                + f'\n\nWhich candidate does "{mention.surface}" refer to? Answer with its number as JSON: '
                  '{"answer": <number>}')
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def decide(self, mention: MentionInput, ranked: list[Candidate], log: CallLog, trace: dict[str, Any]) -> Outcome:
        top = ranked[: self.k]
        schema = {"type": "object", "properties": {"answer": {"type": "integer", "enum": list(range(1, len(top) + 1))}},
                  "required": ["answer"]}
        reply = self.llm.chat(self.prompt(mention, top), log=log, schema=schema)
        choice = parse_choice(reply.text, [c.label or c.qid for c in top], allow_nil=False)
        trace["answer"] = reply.text[:200]
        if choice is None or choice.index is None:
            trace["fallback"] = "answer maps to no candidate: base ranking kept"
            return Outcome()
        trace["parsed"] = choice.how
        return Outcome(pick=top[choice.index])


register_method(Method('kar', llm_method_builder(KarReranker), 'an LLM method on top of features: one call, select one of the top 5', needs_llm=True,
                       default_budget='1', order=30, settings=KarReranker.setting_types))
