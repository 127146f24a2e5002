"""The formats kg reads out of the box; `indexers.sources.detect_format` tells them apart by content."""

from __future__ import annotations

from kg.indexers.custom import parse_custom
from kg.indexers.formats import KBFormat, register_format
from kg.indexers.mel_kb import parse_wikimel
from kg.indexers.sources import iter_document, iter_wikimel_kb, parse_property_line
from kg.indexers.wikidata import parse_entity

register_format(KBFormat("wikidata-dump", "the official JSON dump: [ / one entity per line / ]", parse_entity,
                         order=0))
register_format(KBFormat("wikidata-jsonl", "one Wikidata entity JSON per line", parse_entity, order=1))
register_format(KBFormat("wikidata-entity", "one Wikidata entity JSON document", parse_entity,
                         read=lambda path, start: iter_document(path, "wikidata-entity", start), order=2))
register_format(KBFormat("wbgetentities", "a {\"entities\": {...}} API response", parse_entity,
                         read=lambda path, start: iter_document(path, "wbgetentities", start), order=3))
register_format(KBFormat("custom-jsonl", "custom entities, one per line (docs/custom-entities.md)",
                         lambda doc, langs, fallback: parse_custom(doc), order=4))
register_format(KBFormat("wikimel-kb", "a directory holding qid2ne.json and qid2abs.json",
                         lambda doc, langs, fallback: parse_wikimel(doc), read=iter_wikimel_kb, directory=True,
                         order=5))
register_format(KBFormat("property-labels", "PID<TAB>label[<TAB>description] per line",
                         lambda raw, langs, fallback: parse_property_line(raw), json=False, order=6))
register_format(KBFormat("alias-counts", "surface<TAB>qid<TAB>count per line: priors for entities in the graph",
                         None, json=False, order=7))
