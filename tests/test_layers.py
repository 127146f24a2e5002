"""The test layers (tests/conftest.py): each test is marked from the fixtures it uses, directly or through other
fixtures, so `bash scripts/test.sh -m unit` selects only tests that need no server. Checked by collecting real test
modules in one child pytest (collection only: nothing is run, no server is needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["tests/test_services.py", "tests/test_chunks.py", "tests/test_llm_client.py", "tests/test_serve_api.py"]
COLLECT = """
import json, sys, pytest
seen = {}
class Layers:
    def pytest_collection_finish(self, session):
        for item in session.items:
            seen.setdefault(item.nodeid.split("[")[0], set()).update(
                m.name for m in item.iter_markers() if m.name in ("unit", "servers", "llm", "browser", "models"))
code = pytest.main(["-p", "no:cacheprovider", "--collect-only", "-q", *sys.argv[1:]], plugins=[Layers()])
print("LAYERS", json.dumps({k: sorted(v) for k, v in seen.items()}))
sys.exit(code)
"""


def layers() -> dict[str, list[str]]:
    """The layers of each test function of MODULES (parametrized cases merged), as the conftest hook marks them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KG_TEST_")}
    out = subprocess.run([sys.executable, "-c", COLLECT, *MODULES], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.split("LAYERS ", 1)[1])


def test_layers_follow_the_fixtures_a_test_uses() -> None:
    found = layers()
    # test_services: the servers fixture itself, or only through graph_driver / clean_graph / graph_config
    assert {tuple(v) for k, v in found.items() if k.startswith("tests/test_services.py")} == {("servers",)}
    assert found["tests/test_services.py::test_clean_graph_fixture_leaves_no_nodes"] == ["servers"]
    assert found["tests/test_chunks.py::test_chunks_keep_order_and_end_with_the_remainder"] == ["unit"]
    # through llm_settings -> llm_server; a scripted stub server on loopback is still a unit test
    assert found["tests/test_llm_client.py::test_round_trip_returns_text_and_token_counts"] == ["llm"]
    assert found["tests/test_llm_client.py::test_budget_counts_logical_calls_and_stops_before_any_request"] == ["unit"]
    # the browser test also uses kg serve's KB: both layers; the module's other tests are servers only
    assert found["tests/test_serve_api.py::test_docs_open_in_a_browser_with_no_network_beyond_loopback"] == [
        "browser", "servers"]
    assert found["tests/test_serve_api.py::test_docs_are_served_from_the_package"] == ["servers"]
    assert all(v == ["unit"] or "unit" not in v for v in found.values())  # unit means no other layer
