"""`kg migrate` and `kg status` against the real test servers, through the CLI."""

import json

from click.testing import CliRunner

from kg.cli.main import cli


def _env(cfg) -> dict[str, str]:
    return {
        "KG_HOME": str(cfg.home), "KG_GRAPH_URI": cfg.graph.uri, "KG_GRAPH_USER": cfg.graph.user,
        "KG_GRAPH_PASSWORD": cfg.graph.password.reveal(), "KG_GRAPH_DATABASE": cfg.graph.database,
        "KG_QDRANT_URL": cfg.qdrant.url, "KG_QDRANT_GRPC_PORT": str(cfg.qdrant.grpc_port),
        "KG_COLLECTION": cfg.qdrant.collection,
    }


def test_migrate_status_and_counts(graph_config, clean_graph) -> None:
    runner = CliRunner()
    env = _env(graph_config)
    first = runner.invoke(cli, ["migrate"], env=env)
    assert first.exit_code == 0 and "applied 0001_entity_model" in first.output
    assert "schema is up to date" in runner.invoke(cli, ["migrate"], env=env).output
    listing = runner.invoke(cli, ["migrate", "--status", "--json"], env=env)
    assert [r["state"] for r in json.loads(listing.stdout)] == ["applied"]

    clean_graph.execute_query(
        "CREATE (a:Entity {qid:'Q1', stub: false})-[:P31 {pid:'P31'}]->(b:Entity {qid:'Q5', stub: true}), "
        "(d:Document {id:'d1'})-[:HAS_MENTION]->(m:Mention {id:'d1#0-1'})-[:REFERS_TO]->(a)",
        database_=graph_config.graph.database,
    )
    result = runner.invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {"entities": 1, "stubs": 1, "relationships": 1, "documents": 1, "mentions": 1, "links": 1, "vectors": 0}
    assert graph_config.graph.password.reveal() not in result.output
    assert data["graph"]["kind"] == "bolt server" and data["vectors"]["kind"] == "qdrant server"


def test_wrong_password_cli_message(graph_config) -> None:
    env = {**_env(graph_config), "KG_GRAPH_PASSWORD": "nope-wrong"}
    result = CliRunner().invoke(cli, ["status"], env=env, standalone_mode=False)
    assert result.exit_code != 0
    assert "refused the credentials" in str(result.exception)
