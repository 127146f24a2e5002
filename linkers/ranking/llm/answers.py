"""Map a model's free-form answer onto one of the candidates shown to it.

Models answer in many shapes ("3", "[3]", '{"answer": "Paris"}', "<|ANSWER|>: Paris (city)", a sentence that
names the entity...). Parsing tolerantly keeps weak or unconstrained models useful; returning None instead of
guessing lets the caller record the failure and fall back to the non-LLM ranking."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from kg.kgstore.names import normalise

JSON_KEYS = ("answer", "choice", "entity", "name")
NIL_WORDS = ("nil", "none", "null", "no match", "not in the list", "none of the above", "no answer")
FUZZY_MIN = 90.0
_TAG = re.compile(r"<\|ANSWER\|>\s*:?\s*(.*)", re.IGNORECASE)
_NUMBER = re.compile(
    r"^\s*(?:(?:the\s+)?(?:answer|choice|option|candidate)(?:\s*(?:is|:|=))*\s*)?"  # "The answer is: 3"
    r"[\[(#]?\s*(\d{1,4})\s*[\])]?\s*(?:[.:,;)\-]|\s|$)",  # "3", "3.", "[3]", "(3)", "#3", "3) Name"
    re.IGNORECASE,
)
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)


@dataclass
class Choice:
    index: int | None  # 0-based index into options, None when nil
    nil: bool
    how: str  # "json", "answer-tag", "number", "exact", "contained", "fuzzy", "nil"


def parse_choice(text: str, options: list[str], *, allow_nil: bool) -> Choice | None:
    """The option (0-based) or NIL the text names, or None when nothing maps unambiguously.

    Order: a JSON object with answer/choice/entity/name; an ``<|ANSWER|>:`` tag; the whole text equal to an
    option; a leading number (1-based, as prompts number candidates); an option named inside the text (the
    longest, as whole words); a unique fuzzy match (WRatio >= 90); a NIL phrase. When several options share a
    name, the first of them is returned (options come best-first from the prior ranking)."""
    text = _THINK.sub(" ", text or "").strip()
    if not text:
        return None
    norm_options = [normalise(o) for o in options]

    for obj in _json_objects(text):
        keys = {str(k).casefold(): v for k, v in obj.items()}
        for key in JSON_KEYS:
            if key in keys:
                found = _map_value(keys[key], options, norm_options, allow_nil, "json")
                if found is not None:
                    return found
    tag = _TAG.search(text)
    if tag:
        found = _map_value(tag.group(1).splitlines()[0] if tag.group(1) else "", options, norm_options, allow_nil,
                           "answer-tag")
        if found is not None:
            return found
    return _map_text(text, options, norm_options, allow_nil)


def _map_value(value: Any, options: list[str], norm_options: list[str], allow_nil: bool, how: str) -> Choice | None:
    """A JSON value or tag text: a 1-based number, a nil word, or a name."""
    if value is None:
        return Choice(None, True, how) if allow_nil else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return _by_number(value, options, allow_nil, how)
    if not isinstance(value, str):
        return None
    stripped = value.strip().strip("\"'`*[]() .")
    if stripped.isdigit():
        return _by_number(int(stripped), options, allow_nil, how)
    found = _map_text(value, options, norm_options, allow_nil)
    return None if found is None else Choice(found.index, found.nil, how)


def _by_number(number: int, options: list[str], allow_nil: bool, how: str) -> Choice | None:
    if 1 <= number <= len(options):
        return Choice(number - 1, False, how)
    if number == 0 and allow_nil:
        return Choice(None, True, how)
    return None


def _map_text(text: str, options: list[str], norm_options: list[str], allow_nil: bool) -> Choice | None:
    norm = normalise(text)
    if not norm:
        return None
    if norm in norm_options:  # before numbers: an option may itself start with a number ("1984", "2 Chainz")
        return Choice(norm_options.index(norm), False, "exact")
    number = _NUMBER.match(text)
    if number:
        found = _by_number(int(number.group(1)), options, allow_nil, "number")
        if found is not None:
            return found
    padded = f" {norm} "
    inside = [i for i, o in enumerate(norm_options) if o and f" {o} " in padded]
    if inside:
        longest = max(len(norm_options[i]) for i in inside)
        top = [i for i in inside if len(norm_options[i]) == longest]
        if len({norm_options[i] for i in top}) == 1:
            return Choice(top[0], False, "contained")
    fuzzy = _fuzzy(norm, norm_options)
    if fuzzy is not None:
        return Choice(fuzzy, False, "fuzzy")
    if allow_nil and any(f" {w} " in padded for w in NIL_WORDS):
        return Choice(None, True, "nil")
    return None


def _fuzzy(norm: str, norm_options: list[str]) -> int | None:
    """The first option of the single best-scoring name, if it scores >= FUZZY_MIN and no other name ties."""
    best: dict[str, tuple[float, int]] = {}
    for i, option in enumerate(norm_options):
        if option and option not in best:
            best[option] = (fuzz.WRatio(norm, option), i)
    ranked = sorted(best.values(), key=lambda s: -s[0])
    if not ranked or ranked[0][0] < FUZZY_MIN:
        return None
    if len(ranked) > 1 and ranked[1][0] >= ranked[0][0]:
        return None
    return ranked[0][1]


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object that decodes at some '{' in the text (models wrap JSON in prose and code fences)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
            pos = text.find("{", end)
        else:
            pos = text.find("{", pos + 1)
    return found
