"""Build samples/kb/fb15k-sample.jsonl.gz: the shipped demo KB, in kg's custom entity JSONL format.

Real Wikidata-derived data (FB15k-237 entities with their Wikidata QID, label, description, aliases and Wikipedia
title; MIT, see samples/kb/LICENSE-fb15k), the best-connected entities and the FB15k-237 relations between them.
Run from the repository root: python scripts/make_sample_kb.py [--size 3000]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
from pathlib import Path
from urllib.parse import unquote

SRC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kb" / "fb15k-wikidata"
OUT = Path(__file__).resolve().parents[1] / "samples" / "kb" / "fb15k-sample.jsonl.gz"


def relation_name(freebase: str) -> str:
    head = freebase.split(".")[0].strip("/").split("/")
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(head[-2:]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=3000)
    args = parser.parse_args()
    meta = json.loads((SRC / "FB15k-237_entity2wikidata.json").read_text())
    triples = []
    for name in ("FB15k-237_valid.txt", "FB15k-237_test.txt"):
        for line in (SRC / name).read_text().splitlines():
            s, r, o = line.split("\t")
            if s in meta and o in meta:
                triples.append((meta[s]["wikidata_id"], relation_name(r), meta[o]["wikidata_id"]))
    degree = collections.Counter(q for s, _, o in triples for q in (s, o))
    keep = {q for q, _ in degree.most_common(args.size)}
    rels: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    for s, r, o in triples:
        if s in keep and o in keep and s != o:
            rels[s].add((r, o))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in meta.values():
        qid = m["wikidata_id"]
        if qid not in keep:
            continue
        row = {"qid": qid, "label": m["label"]}
        aliases = [a for a in m.get("alternatives") or [] if a != m["label"]]
        if aliases:
            row["aliases"] = aliases
        if m.get("description"):
            row["description"] = m["description"]
        if m.get("wikipedia"):
            row["wikipedia_title"] = unquote(m["wikipedia"].rsplit("/", 1)[-1]).replace("_", " ")
        row["relations"] = [{"pid": r, "target": o} for r, o in sorted(rels.get(qid, ()))]
        rows.append(row)
    rows.sort(key=lambda r: int(r["qid"][1:]))
    with gzip.GzipFile(OUT, "wb", mtime=0) as fh:
        for row in rows:
            fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    print(f"{OUT}: {len(rows)} entities, {sum(len(r['relations']) for r in rows)} relations")


if __name__ == "__main__":
    main()
