from pathlib import Path

import pytest

from kgstore.config import load_config
from kgstore.errors import ConfigError


def test_precedence_flag_over_env_over_toml_over_default(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[graph]\nuri = "bolt://toml:7687"\ndatabase = "fromtoml"\n[qdrant]\nurl = "http://toml:6333"\n')
    env = {"KG_HOME": str(tmp_path), "KG_GRAPH_URI": "bolt://env:7687"}
    cfg = load_config({"graph_uri": None, "qdrant_url": "http://flag:6333"}, env=env)
    assert cfg.home == tmp_path.resolve()
    assert cfg.graph_uri == "bolt://env:7687" and cfg.sources["graph_uri"] == "env"
    assert cfg.qdrant_url == "http://flag:6333" and cfg.sources["qdrant_url"] == "flag"
    assert cfg.graph_database == "fromtoml" and cfg.sources["graph_database"] == "kg.toml"
    assert cfg.graph_user == "root" and cfg.sources["graph_user"] == "default"


def test_unset_uris_mean_embedded_defaults(tmp_path: Path) -> None:
    cfg = load_config({"home": tmp_path}, env={})
    assert cfg.embedded_graph and cfg.embedded_qdrant


def test_secrets_never_in_repr_or_public(tmp_path: Path) -> None:
    cfg = load_config({"home": tmp_path}, env={"KG_GRAPH_PASSWORD": "s3cret-pw", "KG_QDRANT_API_KEY": "k3y-abc"})
    assert cfg.graph_password == "s3cret-pw"
    assert "s3cret-pw" not in repr(cfg) and "k3y-abc" not in repr(cfg)
    public = str(cfg.public())
    assert "s3cret-pw" not in public and "k3y-abc" not in public and "***" in public


def test_bad_toml_and_unknown_keys_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text("graph = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({"home": tmp_path}, env={})
    (tmp_path / "kg.toml").write_text('grpah_uri = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting.*grpah_uri"):
        load_config({"home": tmp_path}, env={})
