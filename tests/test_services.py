"""Smoke test: the servers started by scripts/services.sh answer through the real client libraries."""

from neo4j import GraphDatabase
from qdrant_client import QdrantClient


def test_bolt_server_answers(servers):
    with GraphDatabase.driver(servers.graph_uri, auth=(servers.graph_user, servers.graph_password)) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one", database_=servers.graph_database)
    assert records[0]["one"] == 1


def test_clean_graph_empties_the_database(servers, graph_driver):
    graph_driver.execute_query("CREATE (:SmokeNode {n: 1})", database_=servers.graph_database)
    records, _, _ = graph_driver.execute_query(
        "MATCH (n:SmokeNode) RETURN count(n) AS c", database_=servers.graph_database
    )
    assert records[0]["c"] >= 1


def test_clean_graph_fixture_leaves_no_nodes(servers, clean_graph):
    records, _, _ = clean_graph.execute_query("MATCH (n) RETURN count(n) AS c", database_=servers.graph_database)
    assert records[0]["c"] == 0


def test_qdrant_server_answers_over_grpc(servers):
    client = QdrantClient(url=servers.qdrant_url, grpc_port=servers.qdrant_grpc_port, prefer_grpc=True)
    try:
        assert isinstance(client.get_collections().collections, list)
    finally:
        client.close()


def test_graph_config_points_at_test_servers(servers, graph_config, tmp_path):
    assert graph_config.graph.uri == servers.graph_uri
    assert graph_config.graph.password.reveal() == servers.graph_password
    assert graph_config.graph.database == servers.graph_database
    assert graph_config.qdrant.url == servers.qdrant_url
    assert graph_config.home == (tmp_path / "home").resolve()
    assert graph_config.qdrant.collection.startswith("t_")
    assert not graph_config.graph.embedded and not graph_config.qdrant.embedded


def test_no_process_shows_the_graph_password_on_its_command_line(servers):
    """`ps` and /proc/PID/cmdline are readable by every local user: the test servers get the secret another way."""
    from pathlib import Path

    shown = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and servers.graph_password.encode() in (proc / "cmdline").read_bytes():
                shown.append(proc.name)
        except OSError:
            continue
    assert shown == []
