"""Entities by name, the way candidate generation and `kg search` want them: exact names and fuzzy 3-gram hits
rescored by name similarity, and longer names ending with a surname.

`by_name` is the fast path the papers' candidate generation relies on (I2CR: fuzzy top-10 names): one Qdrant
request asks for the exact normalised-name matches (keyword payload index) and the nearest hashed 3-gram vectors
(sparse index) together (`Searcher.name_rows_many`); rapidfuzz's WRatio rescores that short list against every label
and alias, ties going to the more popular entity; a second request fetches the payload of the survivors.
"""

from __future__ import annotations

from collections.abc import Sequence

from kg.kgstore import names as name_index
from kg.kgstore.entity_index import LABEL_FIELD, NAMES_FIELD
from kg.kgstore.search import Hit, Searcher
from kg.linkers.candidates.name_scores import name_score


class NameLookup:
    """Name strategies over one collection's `Searcher`."""

    def __init__(self, searcher: Searcher):
        self.searcher = searcher

    def by_name(self, text: str, top_k: int = 10) -> list[Hit]:
        """Exact normalised-name matches plus fuzzy 3-gram candidates, rescored with rapidfuzz WRatio."""
        return self.by_name_many([text], top_k)[0]

    def by_name_many(self, texts: list[str], top_k: int = 10, fields: list[str] | None = None,
                     exact_only: Sequence[bool] | None = None, namesakes: int = 0) -> list[list[Hit]]:
        """`by_name` for many names in two round trips (linkers query a whole batch of mentions at once).

        `namesakes`: where more than `top_k` entities bear exactly the name, up to this many of them are returned
        (most popular first), for the caller to rank them by what it knows (the mention's context) before it cuts:
        in an open-world KB most namesakes have no popularity to tell them apart, and the famous one must not be
        lost to an arbitrary cut.

        Candidates come with only their names and popularity (payload decoding dominates the cost of a large
        candidate list); the payload `fields` (default HIT_FIELDS) are fetched for the `top_k` survivors alone.
        Names with the same normal form are looked up once. `exact_only[i]`: text i is known to be a KB name
        (a detected mention), so only entities with exactly that name are wanted: no fuzzy query, and no names
        to rescore (an exact match scores 1). A form is looked up fuzzily if any of its texts asks for it.
        """
        forms = [name_index.normalise(t) for t in texts]
        fuzzy: dict[str, bool] = {}
        for i, f in enumerate(forms):
            if f:
                fuzzy[f] = fuzzy.get(f, False) or exact_only is None or not exact_only[i]
        found = self.searcher.name_rows_many(fuzzy, top_k, namesakes)
        ranked: dict[str, list[tuple[object, float, str]]] = {}
        for form, rows in found.items():
            rescored = [
                (1.0 if match == "exact" else
                 max((name_score(form, f) for f in payload.get(NAMES_FIELD) or []), default=0.0) / 100,
                 payload.get("popularity") or 0, pid, match)
                for pid, match, payload in rows
            ]
            exact = sum(1 for r in rescored if r[3] == "exact")
            best = sorted(rescored, key=lambda r: (r[0], r[1]), reverse=True)[:max(top_k, min(exact, namesakes))]
            ranked[form] = [(pid, score, match) for score, _, pid, match in best]
        return self.searcher.hits([ranked.get(form, []) if form else [] for form in forms], fields)

    def by_surname_many(self, words: list[str | None], top_k: int = 10,
                        fields: list[str] | None = None) -> list[list[Hit]]:
        """Entities whose label is a longer name ending with the word ("Neruda": "Pablo Neruda", "Jan Neruda"),
        most popular first: biographies and news name a person by surname alone, often without the full name
        anywhere in the text. One request per distinct word (the label's full-text index), then one for payloads.
        """
        forms = [name_index.normalise(w) if w else "" for w in words]
        raw = {f: w.strip() for f, w in zip(forms, words) if f and w and " " not in f}  # local mode matches case
        distinct = list(raw)
        ranked: dict[str, list[tuple[object, float, str]]] = {}
        for form, rows in zip(distinct, self.searcher.label_rows_many([raw[f] for f in distinct])):
            ends = [(payload.get("popularity") or 0, pid) for pid, payload in rows
                    if ends_with(name_index.normalise(payload.get(LABEL_FIELD) or ""), form)]
            ranked[form] = [(pid, 1.0, "surname") for _, pid in sorted(ends, key=lambda r: r[0], reverse=True)[:top_k]]
        return self.searcher.hits([ranked.get(form, []) for form in forms], fields)


def ends_with(label_form: str, word: str) -> bool:
    """A name of two to four words whose last word is `word` (a surname, or a place's last word)."""
    words = label_form.split()
    return 2 <= len(words) <= 4 and words[-1] == word
