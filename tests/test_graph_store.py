"""Graph store against the real ArcadeDB Bolt server."""

import pytest

from kg.kgstore.errors import GraphAuthError, GraphUnavailable
from kg.kgstore.graph import GraphStore


@pytest.fixture
def graph(graph_config, clean_graph):
    store = GraphStore.from_config(graph_config)
    yield store
    store.close()


def test_batched_write_and_read_round_trip(graph: GraphStore) -> None:
    rows = [{"qid": f"Q{i}", "label": f"entity {i}", "aliases": [f"e{i}", f"alias {i}"]} for i in range(1, 2501)]
    n = graph.write_batches(
        "UNWIND $rows AS r MERGE (e:Entity {qid: r.qid}) SET e.label = r.label, e.aliases = r.aliases", rows, 1000
    )
    assert n == 2500
    assert graph.count("MATCH (e:Entity) RETURN count(e)") == 2500
    got = graph.read("MATCH (e:Entity {qid: $qid}) RETURN e.label AS label, e.aliases AS aliases", qid="Q1234")
    assert got == [{"label": "entity 1234", "aliases": ["e1234", "alias 1234"]}]


def test_parameters_are_never_interpreted_as_cypher(graph: GraphStore) -> None:
    evil = "x'}) DETACH DELETE e //"
    graph.write("CREATE (e:Entity {qid: $qid, label: $label})", qid="Q1", label=evil)
    assert graph.read("MATCH (e:Entity {qid: 'Q1'}) RETURN e.label AS l") == [{"l": evil}]


def test_explicit_transaction_rolls_back_on_error(graph: GraphStore) -> None:
    with pytest.raises(RuntimeError):
        with graph.transaction() as tx:
            tx.run("CREATE (e:Entity {qid: 'Q77'})").consume()
            raise RuntimeError("boom")
    assert graph.count("MATCH (e:Entity {qid: 'Q77'}) RETURN count(e)") == 0
    with graph.transaction() as tx:
        tx.run("CREATE (e:Entity {qid: 'Q78'})").consume()
    assert graph.count("MATCH (e:Entity {qid: 'Q78'}) RETURN count(e)") == 1


def test_server_info_names_the_backend(graph: GraphStore) -> None:
    info = graph.server_info()
    assert "Neo4j/5" in info.agent and info.protocol.startswith("5.")


def test_wrong_password_is_a_clear_error(servers) -> None:
    with pytest.raises(GraphAuthError, match="refused the credentials"):
        GraphStore(servers.graph_uri, servers.graph_user, "definitely-wrong", servers.graph_database)


def test_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GraphUnavailable, match=f"cannot reach the graph server at bolt://127.0.0.1:{port}"):
        GraphStore(f"bolt://127.0.0.1:{port}", "root", "pw", "kg")
