#!/usr/bin/env bash
# The main job on the shipped sample, on the embedded default (no server to install): ingest a real
# Wikidata-derived KB and show what landed. Data goes to ${KG_HOME:-.kg-demo}; run it again and nothing changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kg="${KG:-$root/.venv/bin/kg}"
export KG_HOME="${KG_HOME:-$root/.kg-demo}"
step() { printf '\n$ kg %s\n' "$*"; "$kg" "$@"; }

step ingest "$root/samples/kb/fb15k-sample.jsonl.gz"
step status
