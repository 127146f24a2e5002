"""A toy KB format, whole in this one file: `QID|label|description` per line, recognised by its content.

Importing it registers `toy-pipe`; tests/test_ingest.py shows that `kg ingest` then detects, reads and writes it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kg.indexers.formats import KBFormat, register_format
from kg.kgstore.model import EntityRecord

LINE = re.compile(r"(Q[1-9][0-9]*)\|([^|]+)(?:\|(.*))?")


def parse(raw: str, langs: Sequence[str], fallback: str | None) -> EntityRecord:
    m = LINE.fullmatch(raw)
    if m is None:
        raise ValueError("expected QID|label[|description]")
    return EntityRecord(qid=m.group(1), label=m.group(2).strip(), description=(m.group(3) or "").strip() or None)


register_format(KBFormat("toy-pipe", "QID|label|description per line", parse, json=False,
                         sniff=lambda head: LINE.fullmatch(head.decode("utf-8", "replace")) is not None))
