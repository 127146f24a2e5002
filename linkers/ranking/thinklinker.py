"""ThinkLinker's dialogue (digest in shared/docs/papers/thinklinker.md), on the base scorer.

For each of the base ranking's top-R candidates, the LLM asks one question that would tell the candidate apart
(EQG: it sees the candidate's name and description, and its own earlier questions), and answers it from the
mention's context alone (CVR: it never sees the candidate). The answers join the mention's text, which is
encoded again, and every candidate is re-scored by the base scorer with the new context similarity. 2R calls
per mention. The paper's trained fusion of the answers (ANW/RGA) belongs to the trained-scorer work.
"""

from __future__ import annotations

from typing import Any

from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.scalar import cosine
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.llm import BudgetExhausted, CallLog
from kg.linkers.ranking.llm_method import LLMReranker, Outcome, candidate_description, llm_method_builder
from kg.linkers.ranking.registry import Method, register_method

EQG_SYSTEM = (
    "You are a dialog agent that helps refine entity search by asking targeted questions. You will be given an "
    "entity from a knowledge base (called the 'anchor entity'); this anchor entity may not be the exact entity I'm "
    "actually looking for. Your task is to generate exactly ONE clear and specific question that helps to "
    "disambiguate the target entity. Prefer questions about: category or time range; field, industry, use or "
    "function; geography; alternative names or abbreviations; key characteristics. Rules: 1. Do not mention the "
    "entity name. 2. Do not repeat questions. 3. Ask exactly ONE question. 4. Never give an empty output. 5. No "
    "yes/no questions. 6. Do not answer it yourself. 7. You have {rounds} rounds and you can only ask one question "
    "at a time.")
EQG_USER = ("Here is the information for the retrieved entity. Read it carefully, then ask a single question to help "
            "identify my target entity. Note: sometimes the description may be missing or vague. Please do not raise "
            "questions that have already been raised in previous rounds.\nName: {name}\nDescription: {desc}\nQuestion:")
CVR_SYSTEM = (
    "You are an entity-search assistant. Primary goal: identify the target entity for a mention by using context "
    "first; answers should help entity linking. Rules: 1. First determine the mention's contextual type. 2. If it "
    "differs from the type the question implies, output '<Mention> is a <CONTEXTUAL TYPE>.' plus affirmative facts "
    "about the mention in that type, ignoring the question, with no negatives. 3. If the types match, answer the "
    "question directly in an affirmative sentence. 4. Use one or two sentences. 5. Affirmative statements only; "
    "never use 'not' or 'no'. Be factual, precise, and concise.")
CVR_USER = "Name: {name}\nContext: {context}\nQuestion: {question}\nThe answer is:"


class ThinkLinkerReranker(LLMReranker):
    name = "thinklinker"
    setting_types = {"rounds": int}  # question/answer rounds (3)

    @property
    def rounds(self) -> int:
        return int(self.settings.get("rounds", 3))

    @property
    def default_budget(self) -> int:  # type: ignore[override]
        return 2 * self.rounds

    def decide(self, mention: MentionInput, ranked: list[Candidate], log: CallLog, trace: dict[str, Any]) -> Outcome:
        if self.services.encode is None:
            trace["fallback"] = "no text encoder to re-score with"
            return Outcome()
        dialogue = [{"role": "system", "content": EQG_SYSTEM.format(rounds=self.rounds)}]
        answers: list[str] = []
        turns: list[dict[str, str]] = []
        trace["dialogue"] = turns
        try:
            for c in ranked[: self.rounds]:
                dialogue.append({"role": "user", "content": EQG_USER.format(
                    name=c.label or c.qid, desc=candidate_description(c) or "(none)")})
                question = _first_line(self.llm.chat(dialogue, log=log, max_tokens=48).text)
                dialogue.append({"role": "assistant", "content": question})
                if not question:
                    continue
                answer = " ".join(self.llm.chat([
                    {"role": "system", "content": CVR_SYSTEM},
                    {"role": "user", "content": CVR_USER.format(name=mention.surface, context=mention.context,
                                                                question=question)},
                ], log=log, max_tokens=64).text.split())
                turns.append({"about": c.qid, "question": question, "answer": answer})
                if answer:
                    answers.append(answer)
        except BudgetExhausted:
            trace["budget_spent"] = True
        if not answers:
            trace["fallback"] = "no usable answers: base ranking kept"
            return Outcome()
        refined = " ".join([mention.context, *answers])
        vector = self.services.encode([refined])[0]
        for c in ranked:
            entity = mention.text_vectors.get(c.qid)
            c.features = {**c.features, "context": cosine(vector, entity) if entity is not None else 0.0}
        return Outcome(order=self.base.rank(ranked))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


register_method(Method('thinklinker', llm_method_builder(ThinkLinkerReranker), 'question/answer dialogue, 2 calls per candidate asked about', needs_llm=True,
                       default_budget='2 x rounds', order=50, settings=ThinkLinkerReranker.setting_types))
