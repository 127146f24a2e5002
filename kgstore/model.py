"""Records of the data model, shared by the indexers that write them and the linkers that read them."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

# Ids are matched whole (fullmatch): `$` also matches before a final newline, and "Q42\n" would pass.
QID_RE = re.compile(r"[QPL][1-9][0-9]*")
PID_RE = re.compile(r"P[1-9][0-9]*")
# A user's entity id (custom KBs, gold labels); matched whole (fullmatch), never with `$`, which also matches
# before a final newline.
USER_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,199}")
# Relationship types of the linking layer (kgstore.links): a claim with one of these names would pass for a link.
RESERVED_REL_TYPES = frozenset({"REFERS_TO", "HAS_MENTION"})
_KG_NAMESPACE = uuid.UUID("6f1c9a57-2b43-4d63-9a7e-6f1e0c0b8d11")


@dataclass
class Relation:
    """An entity-valued claim: (subject)-[pid]->(target)."""

    pid: str
    target: str


@dataclass
class EntityRecord:
    """One KB entity as it goes into the graph (Wikidata item/property or a user's custom entity)."""

    qid: str
    kind: str = "item"  # item | property | custom
    label: str | None = None
    description: str | None = None
    aliases: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # language -> label, chosen languages only
    wikipedia_title: str | None = None
    wikipedia_url: str | None = None
    sitelinks: int = 0  # number of sitelinks: a popularity prior
    images: list[str] = field(default_factory=list)  # Commons file names or local paths / URLs
    image_urls: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # P31 targets
    subclass_of: list[str] = field(default_factory=list)  # P279 targets
    attributes: dict[str, list[str]] = field(default_factory=dict)  # PID or name -> literal values as text
    # the attributes, in order, that describe the entity: its text vector embeds these (the KB knows, kg cannot)
    describe: list[str] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    modified: str | None = None

    def content_hash(self) -> str:
        """Stable hash of everything stored, so re-ingesting unchanged entities can be detected.

        The JSON is dataclasses.asdict's, built by hand: asdict's deep copy took 3x as long, once per ingested
        entity.
        """
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["relations"] = [{"pid": r.pid, "target": r.target} for r in self.relations]
        if not self.describe:
            del data["describe"]  # entities without it keep the hash they had before the field existed
        return hashlib.sha1(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_RECORD_FIELDS = [f.name for f in fields(EntityRecord)]


def is_qid(value: str) -> bool:
    return isinstance(value, str) and bool(QID_RE.fullmatch(value))


def is_entity_id(value: Any) -> bool:
    """A valid entity id: a Wikidata id (Q/P/L) or a user id."""
    return isinstance(value, str) and (is_qid(value) or bool(USER_ID_RE.fullmatch(value)))


def point_id(qid: str) -> int | str:
    """Qdrant point id derived from the entity id, so upserts are idempotent.

    Q42 -> 42; properties and lexemes are offset into their own ranges; other (custom) ids map to a UUID5.
    """
    if QID_RE.fullmatch(qid):
        n = int(qid[1:])
        return {"Q": 0, "P": 1 << 60, "L": 2 << 60}[qid[0]] + n
    return str(uuid.uuid5(_KG_NAMESPACE, qid))
