#!/usr/bin/env bash
# The main job on the shipped sample, on the embedded default (no server to install): ingest a real
# Wikidata-derived KB, index it, link a small corpus, and query the linked mentions back from the graph.
# Data goes to ${KG_HOME:-.kg-demo} (kept apart from your own ~/.kg); run it again and nothing changes.
set -euo pipefail
umask 077  # its outputs live in KG_HOME, which kg keeps private (README: reliability guarantees)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kg="${KG:-$root/.venv/bin/kg}"
export KG_HOME="${KG_HOME:-$root/.kg-demo}"
started=$SECONDS
n=0
step() {
    n=$((n + 1))
    printf '\n[demo %d/7, %d s] $ kg %s\n' "$n" "$((SECONDS - started))" "$*"
    "$kg" "$@"
}

step ingest "$root/samples/kb/fb15k-sample.jsonl.gz"
step index
step link "$root/samples/corpus/news.jsonl" --out "$KG_HOME/news-links.jsonl"
step query mentions Q76
step query cooccur Q2263
step eval "$root/samples/corpus/news.jsonl"
step status
cat <<MSG

demo done in $((SECONDS - started)) s. Its data directory is $KG_HOME; to run the README's commands on it:
    source $root/.venv/bin/activate
    export KG_HOME=$KG_HOME
    kg query mentions Q76
The embedded graph server it started stops itself after 30 idle minutes (KG_GRAPH_IDLE_TIMEOUT), or now with
    kg server stop
MSG
