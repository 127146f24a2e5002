"""WikiMEL KB slice (GHMFC's `input_data/`): `qid2ne.json` and `qid2abs.json` -> `EntityRecord`s.

`qid2ne.json` maps a QID to its entity name (a Wikipedia-title-like string such as "Fred (footballer, born
1979)"); `qid2abs.json` maps the same QIDs to a summary built from Wikidata claims, always of the shape
"Key: value. Key: value." with a small fixed set of keys (Sex, Birth, Death, Occupation, Languages, Alma mater,
Spouse, Religion, Work starts, Nick name). Birth/Death values are "YEAR[, place]" (BCE years start with '-').

The whole summary is kept as attributes["summary"]; the known keys are also split into attributes
(`occupation`, `birth`, `birth_place`, ...) so that rerankers can use them, and a short description such as
"police officer, politician (1900–1972)" is cut from them for display and text encoding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.model import EntityRecord, is_qid

__all__ = ["KB_FILES", "iter_wikimel_docs", "iter_wikimel_kb", "parse_summary", "parse_wikimel"]

KB_FILES = ("qid2ne.json", "qid2abs.json")
# summary key -> attribute name; the list-valued ones were joined with ", " by the dataset's builder.
_KEYS = {
    "Sex": "sex",
    "Birth": "birth",
    "Death": "death",
    "Occupation": "occupation",
    "Languages": "languages",
    "Alma mater": "alma_mater",
    "Spouse": "spouse",
    "Religion": "religion",
    "Work starts": "work_starts",
    "Nick name": "nick_name",
}
_LIST_KEYS = {"occupation", "languages", "alma_mater", "spouse"}
_KEY_RE = re.compile(r"(?:^|(?<=\.) )(" + "|".join(re.escape(k) for k in _KEYS) + r"): ")
_YEAR_RE = re.compile(r"^-?\d{1,4}$")
_YEAR_PLACE_RE = re.compile(r"^([^,\s]+)(?:,\s*(.+))?$")  # "YEAR[, place]"; a few years are garbled
_DISAMBIG_RE = re.compile(r"\s*\([^()]*\)$")
_MAX_OCCUPATIONS = 3


def parse_summary(summary: str) -> dict[str, list[str]]:
    """Structured attributes from a "Key: value. Key: value." summary; unknown text is ignored here."""
    matches = list(_KEY_RE.finditer(summary))
    out: dict[str, list[str]] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(summary)
        value = summary[m.end():end].strip()
        if value.endswith("."):
            value = value[:-1].strip()
        if not value:
            continue  # "Occupation: ." in the data: the builder found no value
        name = _KEYS[m.group(1)]
        if name in ("birth", "death"):
            ym = _YEAR_PLACE_RE.match(value)
            if ym:
                out[name] = [ym.group(1)]
                if ym.group(2):
                    out[f"{name}_place"] = [ym.group(2).strip()]
                continue
        values = [v.strip() for v in value.split(", ")] if name in _LIST_KEYS else [value]
        values = list(dict.fromkeys(v for v in values if v))
        if values:
            out[name] = values
    return out


def _year_text(year: str | None) -> str | None:
    """'-099' -> '99 BC', '1900' -> '1900'; None for garbled values (the data has a few, such as 't850')."""
    if not year or not _YEAR_RE.match(year):
        return None
    if year.startswith("-"):
        return f"{int(year[1:])} BC"
    return str(int(year))


def _description(attrs: dict[str, list[str]]) -> str | None:
    """A Wikidata-style short description from occupations and life dates, or None when there are neither."""
    occupations = ", ".join(attrs.get("occupation", [])[:_MAX_OCCUPATIONS])
    birth, death = _year_text(attrs.get("birth", [None])[0]), _year_text(attrs.get("death", [None])[0])
    if birth and death:
        dates = f"{birth}–{death}"
    elif birth:
        dates = f"born {birth}"
    elif death:
        dates = f"died {death}"
    else:
        dates = ""
    if occupations and dates:
        return f"{occupations} ({dates})"
    return occupations or dates or None


def parse_wikimel(doc: dict[str, Any]) -> EntityRecord:
    """{"qid", "name", "summary"} (either of the last two may be null) -> EntityRecord; ValueError if malformed."""
    if not isinstance(doc, dict):
        raise ValueError(f"entity is a JSON {type(doc).__name__}, not an object")
    qid, name, summary = doc.get("qid"), doc.get("name"), doc.get("summary")
    if not isinstance(qid, str) or not is_qid(qid) or not qid.startswith("Q"):
        raise ValueError(f"qid: {str(qid)[:80]!r} is not a Wikidata item id")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name of {qid} is not a string")
    if summary is not None and not isinstance(summary, str):
        raise ValueError(f"summary of {qid} is not a string")
    name = name.strip() if name else None
    summary = summary.strip() if summary else None

    attributes: dict[str, list[str]] = {}
    if summary:
        attributes = parse_summary(summary)
        attributes["summary"] = [summary]
    aliases = []
    if name:
        short = _DISAMBIG_RE.sub("", name)  # "Fred (footballer, born 1979)" is also mentioned as "Fred"
        if short and short != name:
            aliases.append(short)
    return EntityRecord(
        qid=qid,
        kind="item",
        label=name or None,
        description=_description(attributes),
        aliases=aliases,
        labels={"en": name} if name else {},
        attributes=attributes,
    )


def _load_map(path: Path) -> dict[str, str]:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; a WikiMEL KB directory needs {' and '.join(KB_FILES)}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object {{qid: text}}, found a {type(data).__name__}")
    return data


def iter_wikimel_docs(directory: Path) -> Iterator[dict[str, Any]]:
    """{"qid", "name", "summary"} per QID of either file (qid2ne order, then QIDs only in qid2abs)."""
    directory = Path(directory)
    names = _load_map(directory / "qid2ne.json")
    summaries = _load_map(directory / "qid2abs.json")
    for qid in list(names) + [q for q in summaries if q not in names]:
        yield {"qid": qid, "name": names.get(qid), "summary": summaries.get(qid)}


def iter_wikimel_kb(dir: Path) -> Iterator[EntityRecord]:  # noqa: A002 - name fixed by the pipeline's API
    """Every entity of a WikiMEL KB directory; a malformed entry raises ValueError naming its QID."""
    for doc in iter_wikimel_docs(dir):
        yield parse_wikimel(doc)
