#!/usr/bin/env bash
# Run the test suite against real, throw-away Qdrant and ArcadeDB (Bolt) servers: bash scripts/test.sh [PYTEST ARGS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON
exec bash "$root/scripts/services.sh" run -- "$PYTHON" -m pytest "$@"
