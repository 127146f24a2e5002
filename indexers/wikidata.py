"""Wikidata entity JSON (dump / API / stream layout) -> `EntityRecord`.

Pure parsing of one entity document: no I/O, so that `indexers.sources` can call it in worker processes on
batches of raw lines. Items (Q) and properties (P) become records; lexemes, media-info and other entity types
return None so that the caller can count them as skipped. A document whose shape is wrong raises `ValueError`
with a short reason, which the caller records against the input line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from kg.kgstore.model import PID_RE, EntityRecord, Relation, is_qid

__all__ = [
    "IMAGE_PIDS",
    "commons_file_url",
    "parse_entity",
    "render_quantity",
    "render_time",
    "wikipedia_url",
]

# Properties whose commonsMedia values are pictures of (or for) the entity: they feed `images`, not `attributes`.
# P18 (image) comes first so that the main picture is images[0].
IMAGE_PIDS: tuple[str, ...] = (
    "P18", "P154", "P41", "P94", "P242", "P109", "P117", "P14", "P158", "P1766", "P1801", "P2716", "P2910",
    "P3383", "P5775", "P8517", "P4291",
)
_IMAGE_PID_SET = frozenset(IMAGE_PIDS)
_KINDS = {"item": "Q", "property": "P"}
# An entity document without "type" is known by its id (items, properties, lexemes and their forms and senses,
# media info, entity schemas) and Wikidata's fields; anything else is a line of another format, never "skipped".
_WIKIBASE_ID = re.compile(r"[QPLME][1-9][0-9]*(?:-[FS][1-9][0-9]*)?$")
_WIKIDATA_KEYS = frozenset({"labels", "descriptions", "aliases", "claims", "statements", "sitelinks", "lemmas",
                            "forms", "senses", "lexicalCategory", "representations", "glosses"})
_TIME_RE = re.compile(r"^([+-]?)(\d+)-(\d{1,2})-(\d{1,2})T")
_ENTITY_URI_RE = re.compile(r"^https?://(?:www\.)?wikidata\.org/entity/([QPL][1-9][0-9]*)$")


def wikipedia_url(title: str, lang: str = "en") -> str:
    """URL of a Wikipedia article from its sitelink title (spaces become underscores, the rest percent-encoded)."""
    return f"https://{lang}.wikipedia.org/wiki/{quote(title.replace(' ', '_'))}"


def commons_file_url(name: str) -> str:
    """Download URL of a Wikimedia Commons file name (Special:FilePath redirects to the current file)."""
    return f"https://commons.wikimedia.org/wiki/Special:FilePath/{quote(name.replace(' ', '_'))}"


def render_time(value: Mapping[str, Any]) -> str | None:
    """A Wikidata time value as ISO-like text cut to its precision: 11 -> 1952-03-11, 10 -> 1952-03, <=9 -> 1952.

    BCE years keep their leading '-'. Zero month/day (unknown) shorten the result instead of printing '-00'.
    """
    text = value.get("time")
    if not isinstance(text, str):
        return None
    m = _TIME_RE.match(text)
    if not m:
        return None
    sign, year, month, day = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    precision = value.get("precision", 11)
    if not isinstance(precision, int):
        precision = 11
    out = f"{'-' if sign == '-' else ''}{year:04d}"
    if precision >= 10 and month:
        out += f"-{month:02d}"
        if precision >= 11 and day:
            out += f"-{day:02d}"
    return out


def render_quantity(value: Mapping[str, Any]) -> str | None:
    """'+42' unit '1' -> '42'; a unit entity URL keeps its QID: '+1.96' metre -> '1.96 Q11573'."""
    amount = value.get("amount")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        amount = str(amount)
    if not isinstance(amount, str) or not amount:
        return None
    amount = amount[1:] if amount.startswith("+") else amount
    unit = value.get("unit")
    if not isinstance(unit, str) or unit in ("", "1"):
        return amount
    m = _ENTITY_URI_RE.match(unit)
    return f"{amount} {m.group(1) if m else unit}"


def parse_entity(
    doc: dict, langs: Sequence[str] = ("en",), fallback: str | None = "mul"
) -> EntityRecord | None:
    """One Wikidata entity document -> EntityRecord, or None for entity types kg does not store (lexemes, ...).

    `langs` are tried in order for label and description, then `fallback` ("mul" is Wikidata's language-neutral
    label). Raises ValueError with a short reason when the document is not a well-formed entity.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"entity is a JSON {type(doc).__name__}, not an object")
    eid = doc.get("id")
    if eid is None:
        raise ValueError("entity has no 'id'")
    if not isinstance(eid, str) or not eid:
        raise ValueError(f"entity 'id' is not a non-empty string: {eid!r}")
    if "missing" in doc:  # wbgetentities answers {"id": ..., "missing": ""} for deleted or unknown ids
        return None
    etype = doc.get("type")
    if etype is None:  # API answers sometimes omit it; the id prefix says the same thing
        etype = _WIKIBASE_ID.match(eid) and {"Q": "item", "P": "property"}.get(eid[:1], "other")
        if not etype or not _WIKIDATA_KEYS & doc.keys():
            raise ValueError(f"not a Wikidata entity (id {eid[:60]!r}, no type, labels or claims): a line of another "
                             "format? Give each format its own file")
    if not isinstance(etype, str):
        raise ValueError(f"entity 'type' is not a string: {etype!r}")
    if etype not in _KINDS:
        return None
    if not is_qid(eid) or eid[0] != _KINDS[etype]:
        raise ValueError(f"id {eid[:60]!r} is not a valid {etype} id")

    chosen = _chosen_languages(langs, fallback)
    labels_map = _term_map(doc, "labels")
    descriptions_map = _term_map(doc, "descriptions")
    labels = {lang: labels_map[lang] for lang in chosen if lang in labels_map}
    label = next(iter(labels.values()), None)
    description = next((descriptions_map[lang] for lang in chosen if lang in descriptions_map), None)

    aliases_map = _alias_map(doc)
    aliases = _dedupe(
        [a for lang in chosen for a in aliases_map.get(lang, [])] + list(labels.values()), exclude=label
    )

    sitelinks = _as_map(doc, "sitelinks")
    wikipedia_title = None
    enwiki = sitelinks.get("enwiki")
    if isinstance(enwiki, dict) and isinstance(enwiki.get("title"), str) and enwiki["title"]:
        wikipedia_title = enwiki["title"]

    modified = doc.get("modified")
    if modified is not None and not isinstance(modified, str):
        raise ValueError(f"'modified' is not a string: {modified!r}")

    record = EntityRecord(
        qid=eid,
        kind=etype,
        label=label,
        description=description,
        aliases=aliases,
        labels=labels,
        wikipedia_title=wikipedia_title,
        wikipedia_url=wikipedia_url(wikipedia_title) if wikipedia_title else None,
        sitelinks=len(sitelinks),
        modified=modified,
    )
    _fill_claims(record, _as_map(doc, "claims"), chosen)
    return record


def _chosen_languages(langs: Sequence[str], fallback: str | None) -> list[str]:
    if isinstance(langs, str):  # a bare "en" would otherwise be read as ("e", "n")
        langs = (langs,)
    chosen = list(dict.fromkeys(langs))
    if fallback and fallback not in chosen:
        chosen.append(fallback)
    return chosen


def _as_map(doc: Mapping[str, Any], key: str) -> dict:
    """A JSON object field; Wikidata serialises an empty map as [] (PHP arrays), so [] counts as {}."""
    value = doc.get(key)
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' is a JSON {type(value).__name__}, not an object")
    return value


def _term_map(doc: Mapping[str, Any], key: str) -> dict[str, str]:
    """labels/descriptions: {lang: {"language", "value"}} -> {lang: value}."""
    out: dict[str, str] = {}
    for lang, term in _as_map(doc, key).items():
        if not isinstance(term, dict) or not isinstance(term.get("value"), str):
            raise ValueError(f"'{key}.{lang}' has no string 'value'")
        if term["value"]:
            out[lang] = term["value"]
    return out


def _alias_map(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lang, terms in _as_map(doc, "aliases").items():
        if isinstance(terms, dict):  # some old API answers key aliases by index
            terms = list(terms.values())
        if not isinstance(terms, list):
            raise ValueError(f"'aliases.{lang}' is not a list")
        values = []
        for term in terms:
            if not isinstance(term, dict) or not isinstance(term.get("value"), str):
                raise ValueError(f"'aliases.{lang}' has an entry without a string 'value'")
            if term["value"]:
                values.append(term["value"])
        out[lang] = values
    return out


def _dedupe(values: Iterable[str], exclude: str | None = None) -> list[str]:
    seen = {exclude} if exclude is not None else set()
    out = []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _entity_target(value: Any) -> str | None:
    """Target id of a wikibase-entityid value (item or property), from 'id' or the older 'numeric-id'."""
    if not isinstance(value, dict):
        return None
    prefix = _KINDS.get(value.get("entity-type", ""))
    if prefix is None:
        return None  # lexeme / form / sense targets are not graph entities here
    target = value.get("id")
    if target is None and isinstance(value.get("numeric-id"), int):
        target = f"{prefix}{value['numeric-id']}"
    if isinstance(target, str) and is_qid(target) and target[0] == prefix:
        return target
    return None


def _fill_claims(record: EntityRecord, claims: dict, chosen: list[str]) -> None:
    """Split claims into relations (entity values), images, types and readable literal attributes."""
    relations: dict[tuple[str, str], None] = {}
    images: dict[str, list[str]] = {}
    attributes: dict[str, list[str]] = {}
    for pid, statements in claims.items():
        if not isinstance(pid, str) or not PID_RE.fullmatch(pid):
            raise ValueError(f"claim key {str(pid)[:40]!r} is not a property id")
        if statements == []:
            continue
        if not isinstance(statements, list):
            raise ValueError(f"'claims.{pid}' is not a list")
        texts: list[str] = []
        mono_other: list[str] = []  # monolingual texts in other languages: used only if none match
        for statement in statements:
            if not isinstance(statement, dict) or not isinstance(statement.get("mainsnak"), dict):
                raise ValueError(f"'claims.{pid}' has a statement without a 'mainsnak'")
            snak = statement["mainsnak"]
            if snak.get("snaktype", "value") != "value":
                continue  # novalue / somevalue say nothing we can store
            datavalue = snak.get("datavalue")
            if not isinstance(datavalue, dict):
                continue
            dtype, value = datavalue.get("type"), datavalue.get("value")
            if dtype == "wikibase-entityid":
                target = _entity_target(value)
                if target:
                    relations[(pid, target)] = None
            elif dtype == "string":
                if isinstance(value, str) and value:
                    if pid in _IMAGE_PID_SET:
                        images.setdefault(pid, []).append(value)
                    else:
                        texts.append(value)
            elif dtype == "time":
                text = render_time(value) if isinstance(value, dict) else None
                if text:
                    texts.append(text)
            elif dtype == "quantity":
                text = render_quantity(value) if isinstance(value, dict) else None
                if text:
                    texts.append(text)
            elif dtype == "monolingualtext":
                if isinstance(value, dict) and isinstance(value.get("text"), str) and value["text"]:
                    (texts if value.get("language") in chosen else mono_other).append(value["text"])
            elif dtype == "globecoordinate":
                if isinstance(value, dict):
                    lat, lon = value.get("latitude"), value.get("longitude")
                    if _is_number(lat) and _is_number(lon):
                        texts.append(f"{lat},{lon}")
        if not texts and mono_other:
            texts = mono_other[:1]
        if texts:
            attributes[pid] = _dedupe(texts)

    record.relations = [Relation(pid, target) for pid, target in relations]
    record.types = [t for p, t in relations if p == "P31"]
    record.subclass_of = [t for p, t in relations if p == "P279"]
    record.images = _dedupe(name for pid in IMAGE_PIDS for name in images.get(pid, []))
    record.image_urls = [commons_file_url(name) for name in record.images]
    record.attributes = attributes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
