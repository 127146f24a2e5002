#!/usr/bin/env bash
# The main job on the shipped sample, on the embedded default (no server to install): ingest a real
# Wikidata-derived KB, index it, link a small corpus, and query the linked mentions back from the graph.
# Data goes to ${KG_HOME:-.kg-demo}; run it again and nothing changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kg="${KG:-$root/.venv/bin/kg}"
export KG_HOME="${KG_HOME:-$root/.kg-demo}"
step() { printf '\n$ kg %s\n' "$*"; "$kg" "$@"; }

step ingest "$root/samples/kb/fb15k-sample.jsonl.gz"
step index
step link "$root/samples/corpus/news.jsonl" --out "$KG_HOME/news-links.jsonl"
step query mentions Q76
step query cooccur Q2263
step eval "$root/samples/corpus/news.jsonl"
step status
