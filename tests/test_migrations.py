"""Migrations against the real graph server: apply, no-op re-run, checksum refusal, status."""

import shutil
from importlib import resources
from pathlib import Path

import pytest

from kg.kgstore import migrate
from kg.kgstore.errors import MigrationError
from kg.kgstore.graph import GraphStore


@pytest.fixture
def graph(graph_config, clean_graph):
    store = GraphStore.from_config(graph_config)
    yield store
    store.close()


def test_shipped_migrations_apply_once(graph: GraphStore) -> None:
    applied = migrate.migrate(graph)
    assert [m.version for m in applied] == [m.version for m in migrate.load_migrations()]
    assert migrate.migrate(graph) == []
    assert all(s.state == "applied" for s in migrate.status(graph))
    # the unique constraint on qid is real
    graph.write("CREATE (:Entity {qid: 'Q1'})")
    with pytest.raises(Exception, match="(?i)constraint|duplicat|unique"):
        graph.write("CREATE (:Entity {qid: 'Q1'})")


def test_pending_then_checksum_refusal(graph: GraphStore, tmp_path: Path) -> None:
    d = tmp_path / "migrations"
    shutil.copytree(Path(str(resources.files("migrations"))), d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    migrate.migrate(graph, d)
    (d / "0999_extra_index.cypher").write_text("CREATE INDEX doc_title IF NOT EXISTS FOR (d:Document) ON (d.title);\n")
    assert [(s.version, s.state) for s in migrate.status(graph, d)][-1] == (999, "pending")
    assert [m.name for m in migrate.migrate(graph, d)] == ["extra_index"]
    (d / "0999_extra_index.cypher").write_text("// edited after it was applied\nCREATE INDEX x IF NOT EXISTS FOR (d:Document) ON (d.x);\n")
    with pytest.raises(MigrationError, match="0999_extra_index was applied with checksum"):
        migrate.migrate(graph, d)
    with pytest.raises(MigrationError, match="must not be edited"):
        migrate.status(graph, d)


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.cypher").write_text("RETURN 1;")
    with pytest.raises(MigrationError, match="NNNN_name.cypher"):
        migrate.load_migrations(tmp_path)
