"""Custom entity JSONL: add entities that Wikidata lacks (or override what kg knows about a Wikidata item).

One JSON object per line (UTF-8; blank lines are ignored). A line describes one entity::

    {"id": "acme:widget-1", "label": "Widget One", "aliases": ["W1"], "description": "ACME's first widget",
     "types": ["Q39546"], "images": ["images/widget-1.jpg"], "attributes": {"weight_kg": 1.5},
     "relations": [{"pid": "P176", "target": "acme:acme-corp"}, {"pid": "designed_by", "target": "Q42"}]}

Fields:

- ``qid`` *or* ``id`` (exactly one, required). ``qid`` is a Wikidata item id (``Q42``): the record gets kind
  "item" and merges with that item. ``id`` is a user id matching ``[A-Za-z][A-Za-z0-9_.:-]{0,199}`` (the whole string); a
  prefix such as ``acme:`` keeps it apart from other sources. An ``id`` that is itself a Q-id is read as
  ``qid``; one that looks like a Wikidata property or lexeme id (``P31``, ``L7``) is refused.
- ``label`` (required): the main name, a non-empty string.
- ``aliases``: list of other names (strings). Duplicates and the label itself are dropped.
- ``description``: a short text.
- ``labels``: ``{language: name}``.
- ``images``: list of strings. ``http(s)://`` URLs are kept as URLs; ``File:Name.jpg`` (or
  ``commons:Name.jpg``) names a Wikimedia Commons file and is stored as ``Name.jpg`` with its Commons
  download URL; anything else is a local path, stored as given (relative paths are relative to where
  ``kg`` runs). ``image_urls`` of the record holds only the URLs (given or Commons ones).
- ``types``: list of entity ids (Q-ids or user ids) this entity is an instance of; each one is also a
  ``P31`` relation (and ``P31`` relations are also types), as for Wikidata items.
- ``attributes``: ``{name: value}``, value a string, a number or a list of strings/numbers; stored as text.
- ``describe``: the attribute names, in order, that describe the entity: its text vector embeds them after the
  label and description (without it: Wikidata's key dates and names, then the other attributes alphabetically,
  four at most).
- ``relations``: list of ``{"pid": ..., "target": ...}``. ``pid`` is a Wikidata property id (``P17``) or
  a relation name matching ``[A-Za-z][A-Za-z0-9_]{0,63}`` (not ``REFERS_TO`` or ``HAS_MENTION``, in any case:
  the linking layer's); ``target`` is an entity id (Q-id or user
  id). ``P279`` targets also fill ``subclass_of``.
- ``sitelinks``: a non-negative integer, used as a popularity prior (how many Wikipedias cover it).
- ``wikipedia_title``: English Wikipedia article title; its URL is derived.
- ``modified``: optional timestamp string, kept as is.

Any other field is an error (so that a typo such as ``alias`` is reported instead of silently ignored).
`parse_custom` raises ValueError naming the bad field; the ingest pipeline records it against the line.
See also docs/custom-entities.md.
"""

from __future__ import annotations

import re
from typing import Any

from kg.indexers.wikidata import commons_file_url, wikipedia_url
from kg.kgstore.model import PID_RE, RESERVED_REL_TYPES, USER_ID_RE, EntityRecord, Relation, is_entity_id, is_qid

__all__ = ["FIELDS", "RELATION_NAME_RE", "parse_custom"]

RELATION_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_ITEM_RE = re.compile(r"Q[1-9][0-9]*")
_URL_RE = re.compile(r"^https?://", re.IGNORECASE)
_COMMONS_PREFIXES = ("File:", "file:", "commons:", "Commons:")
FIELDS = (
    "qid", "id", "label", "aliases", "description", "labels", "images", "types", "attributes", "relations",
    "sitelinks", "wikipedia_title", "modified", "describe",
)


def parse_custom(doc: dict) -> EntityRecord:
    """One custom-entity JSON object -> EntityRecord (kind "item" for a Q-id, else "custom").

    Raises ValueError whose message starts with the offending field name.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"entity is a JSON {type(doc).__name__}, not an object")
    unknown = [k for k in doc if k not in FIELDS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field (known: {', '.join(FIELDS)})")

    qid, kind = _entity_id(doc)
    label = doc.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError("label: required, a non-empty string")
    label = label.strip()

    record = EntityRecord(qid=qid, kind=kind, label=label)
    record.description = _opt_str(doc, "description")
    record.aliases = _dedupe((a.strip() for a in _str_list(doc, "aliases")), exclude=label)
    record.labels = _labels(doc)
    record.wikipedia_title = _opt_str(doc, "wikipedia_title")
    record.wikipedia_url = wikipedia_url(record.wikipedia_title) if record.wikipedia_title else None
    record.modified = _opt_str(doc, "modified")

    sitelinks = doc.get("sitelinks", 0)
    if not isinstance(sitelinks, int) or isinstance(sitelinks, bool) or not 0 <= sitelinks < 1 << 63:
        raise ValueError("sitelinks: must be a non-negative integer below 2**63 (the graph stores 64-bit integers)")
    record.sitelinks = sitelinks

    for image in _str_list(doc, "images"):
        image = image.strip()
        if not image:
            raise ValueError("images: empty string")
        if _URL_RE.match(image):
            record.images.append(image)
            record.image_urls.append(image)
        elif image.startswith(_COMMONS_PREFIXES):
            name = image.split(":", 1)[1].strip()
            if not name:
                raise ValueError(f"images: {image!r} names no Commons file")
            record.images.append(name)
            record.image_urls.append(commons_file_url(name))
        else:
            record.images.append(image)
    record.images = _dedupe(record.images)
    record.image_urls = _dedupe(record.image_urls)

    record.attributes = _attributes(doc)
    record.describe = _str_list(doc, "describe")
    missing = [name for name in record.describe if name not in record.attributes]
    if missing:
        raise ValueError(f"describe: {missing[0]!r} is not one of the entity's attributes")

    relations: dict[tuple[str, str], None] = {}
    for t in _str_list(doc, "types"):
        if not is_entity_id(t):
            raise ValueError(f"types: {t[:80]!r} is not an entity id")
        relations[("P31", t)] = None
    for rel in _relations(doc):
        relations[rel] = None
    record.relations = [Relation(p, t) for p, t in relations]
    record.types = [t for p, t in relations if p == "P31"]
    record.subclass_of = [t for p, t in relations if p == "P279"]
    return record


def _entity_id(doc: dict) -> tuple[str, str]:
    qid, uid = doc.get("qid"), doc.get("id")
    if qid is not None and uid is not None and qid != uid:
        raise ValueError("qid: give either 'qid' or 'id', not both")
    if qid is not None:
        if not isinstance(qid, str) or not _ITEM_RE.fullmatch(qid):
            raise ValueError(f"qid: {str(qid)[:80]!r} is not a Wikidata item id like Q42")
        return qid, "item"
    if uid is None:
        raise ValueError("id: required ('qid' for a Wikidata item, or 'id' for your own entity)")
    if not isinstance(uid, str) or not USER_ID_RE.fullmatch(uid):
        raise ValueError(f"id: {str(uid)[:80]!r} must match {USER_ID_RE.pattern}")
    if _ITEM_RE.fullmatch(uid):
        return uid, "item"
    if is_qid(uid):
        raise ValueError(f"id: {uid!r} looks like a Wikidata property/lexeme id; use a prefix such as 'my:{uid}'")
    return uid, "custom"


def _opt_str(doc: dict, key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a string")
    return value.strip() or None


def _str_list(doc: dict, key: str) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: must be a list of strings")
    return value


def _labels(doc: dict) -> dict[str, str]:
    value = doc.get("labels")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("labels: must be an object {language: name}")
    out = {}
    for lang, name in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"labels: value for {lang!r} must be a non-empty string")
        out[lang] = name.strip()
    return out


def _scalar_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"attributes: value of {key!r} must be a string, a number or a list of them")


def _attributes(doc: dict) -> dict[str, list[str]]:
    value = doc.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("attributes: must be an object {name: value}")
    out: dict[str, list[str]] = {}
    for name, v in value.items():
        if not name.strip():
            raise ValueError("attributes: empty attribute name")
        items = v if isinstance(v, list) else [v]
        texts = _dedupe(_scalar_text(x, name) for x in items)
        if texts:
            out[name] = texts
    return out


def _relations(doc: dict) -> list[tuple[str, str]]:
    value = doc.get("relations")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("relations: must be a list of {\"pid\": ..., \"target\": ...}")
    out = []
    for i, rel in enumerate(value):
        if not isinstance(rel, dict) or set(rel) != {"pid", "target"}:
            raise ValueError(f"relations[{i}]: must be an object with exactly 'pid' and 'target'")
        pid, target = rel["pid"], rel["target"]
        if isinstance(pid, str) and re.fullmatch(r"P[0-9]+", pid) and not PID_RE.fullmatch(pid):
            raise ValueError(f"relations[{i}].pid: {pid!r} is not a valid property id")
        if not isinstance(pid, str) or not (PID_RE.fullmatch(pid) or RELATION_NAME_RE.fullmatch(pid)):
            raise ValueError(f"relations[{i}].pid: {str(pid)[:80]!r} is neither a PID nor a name matching "
                             f"{RELATION_NAME_RE.pattern}")
        if pid.upper() in RESERVED_REL_TYPES:
            raise ValueError(f"relations[{i}].pid: {pid!r} is reserved for the linking layer; choose another name")
        if not is_entity_id(target):
            raise ValueError(f"relations[{i}].target: {str(target)[:80]!r} is not an entity id")
        out.append((pid, target))
    return out


def _dedupe(values, exclude: str | None = None) -> list[str]:
    seen = {exclude} if exclude is not None else set()
    out = []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out
