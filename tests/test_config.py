import json
import logging
import pickle
from pathlib import Path

import pytest

from kg.kgstore.config import Secret, load_config
from kg.kgstore.errors import ConfigError
from kg.linkers.evaluation.data_paths import data_paths

SENTINEL = "s3cret-SENTINEL-9f2c"


def test_precedence_flag_over_env_over_toml_over_default(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[graph]\nuri = "bolt://toml:7687"\ndatabase = "fromtoml"\n'
                                      '[qdrant]\nurl = "http://toml:6333"\n')
    env = {"KG_HOME": str(tmp_path), "KG_GRAPH_URI": "bolt://env:7687"}
    cfg = load_config({"graph.uri": None, "qdrant.url": "http://flag:6333"}, env=env)
    assert cfg.home == tmp_path.resolve() and cfg.sources["home"] == "env KG_HOME"
    assert cfg.graph.uri == "bolt://env:7687" and cfg.sources["graph.uri"] == "env KG_GRAPH_URI"
    assert cfg.qdrant.url == "http://flag:6333" and cfg.sources["qdrant.url"] == "flag"
    assert cfg.graph.database == "fromtoml" and cfg.sources["graph.database"] == "kg.toml"
    assert cfg.graph.user == "root" and cfg.sources["graph.user"] == "default"


def test_sections_are_typed_from_env_and_toml(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[models]\ntext = "my-model"\ntext_batch_size = 16\n'
                                      '[llm]\ntimeout = 5\n[data]\nmel = "~/mel"\n')
    env = {"KG_GRAPH_IDLE_TIMEOUT": "0", "KG_QDRANT_GRPC_PORT": "7334", "KG_IMAGE_ALLOW_PRIVATE": "yes",
           "KG_LLM_RETRIES": "1"}
    cfg = load_config({"home": tmp_path}, env=env)
    assert (cfg.graph.idle_timeout, cfg.qdrant.grpc_port, cfg.models.image_allow_private) == (0.0, 7334, True)
    assert (cfg.models.text, cfg.models.text_batch_size, cfg.llm.timeout, cfg.llm.retries) == ("my-model", 16, 5.0, 1)
    assert isinstance(cfg.llm.timeout, float) and data_paths(cfg).mel == Path("~/mel").expanduser()
    assert cfg.sources["models.text"] == "kg.toml" and cfg.sources["llm.retries"] == "env KG_LLM_RETRIES"
    assert data_paths(cfg).sources["data.mel"] == "kg.toml"
    with pytest.raises(AttributeError):
        cfg.graph.uri = "bolt://elsewhere:7687"  # type: ignore[misc]  # frozen: one resolution, no drift


def test_flat_toml_spellings_of_before_the_sections_still_read(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('graph_uri = "bolt://flat:7687"\ncollection = "c1"\ntext_model = "m1"\n'
                                      'llm_model = "qwen"\n[ner]\nmodel = "xx_ner"\n[image]\nbackend = "hf"\n')
    cfg = load_config({"home": tmp_path}, env={})
    assert (cfg.graph.uri, cfg.qdrant.collection, cfg.models.text) == ("bolt://flat:7687", "c1", "m1")
    assert (cfg.llm.model, cfg.models.ner, cfg.models.image_backend) == ("qwen", "xx_ner", "hf")
    (tmp_path / "kg.toml").write_text('collection = "c1"\n[qdrant]\ncollection = "c2"\n')
    with pytest.raises(ConfigError, match=r"\[qdrant\] collection is given twice \(collection and \[qdrant\] "):
        load_config({"home": tmp_path}, env={})


def test_mel_data_and_model_cache_are_settings(tmp_path: Path) -> None:
    env = {"KG_MEL_DATA": str(tmp_path / "mel"), "KG_EL_DATA": str(tmp_path / "el"),
           "KG_MODEL_CACHE": str(tmp_path / "models")}
    cfg = load_config({"home": tmp_path}, env=env)
    paths = data_paths(cfg)
    assert (paths.mel, paths.el_text, cfg.models.cache_dir) == (tmp_path / "mel", tmp_path / "el", tmp_path / "models")
    assert paths.sources["data.mel"] == "env KG_MEL_DATA" and cfg.sources["models.cache_dir"] == "env KG_MODEL_CACHE"
    assert paths.sources["data.el_text"] == "env KG_EL_DATA"
    default = load_config({"home": tmp_path}, env={})
    assert data_paths(default).mel == Path.cwd().parent / "shared" / "data" / "mel"
    assert data_paths(default).el_text == Path.cwd().parent / "shared" / "data" / "el-text"
    assert data_paths(default).sources["data.mel"] == default.sources["models.cache_dir"] == "default"


def test_data_folders_resolve_flag_over_env_over_toml_and_refuse_unknown_keys(tmp_path: Path) -> None:
    """[data] is typed by the evaluation package (kgstore keeps it an open section) with kgstore's precedence."""
    (tmp_path / "kg.toml").write_text('[data]\nmel = "/toml/mel"\nel_text = "/toml/el"\n')
    cfg = load_config({"home": tmp_path, "data.mel": tmp_path / "flag"}, env={"KG_MEL_DATA": "/env/mel"})
    paths = data_paths(cfg)
    assert (paths.mel, paths.el_text) == (tmp_path / "flag", Path("/toml/el"))
    assert (paths.sources["data.mel"], paths.sources["data.el_text"]) == ("flag", "kg.toml")
    assert data_paths(load_config({"home": tmp_path}, env={"KG_MEL_DATA": "/env/mel"})).mel == Path("/env/mel")
    (tmp_path / "kg.toml").write_text('[data]\nmell = "/x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \[data\] mell; known: \[data\] mel, \[data\] el_text"):
        data_paths(load_config({"home": tmp_path}, env={}))
    (tmp_path / "kg.toml").write_text("[data]\nmel = 5\n")
    with pytest.raises(ConfigError, match=r"data.mel must be text, got 5 \(from kg.toml\)"):
        data_paths(load_config({"home": tmp_path}, env={}))
    (tmp_path / "kg.toml").write_text('data = "x"\n')
    with pytest.raises(ConfigError, match=r"data must be a table"):
        load_config({"home": tmp_path}, env={})


def test_the_dataset_loader_reads_the_configured_mel_folder(tmp_path: Path) -> None:
    from kg.linkers.evaluation.datasets import load_dataset

    cfg = load_config({"home": tmp_path}, env={"KG_MEL_DATA": str(tmp_path / "nowhere")})
    with pytest.raises(Exception, match=f"{tmp_path / 'nowhere' / 'wikimel'}.*set KG_MEL_DATA"):
        load_dataset("wikimel", "dev", data=data_paths(cfg))


def test_the_dataset_loader_reads_the_configured_text_benchmark_folder(tmp_path: Path) -> None:
    from kg.linkers.evaluation.datasets import load_dataset

    article = {"id": 0, "title": "", "text": "Paris is big.", "evaluation_span": [0, 13],
               "labels": [{"id": 0, "span": [0, 5], "entity_id": "Q90", "type": "Q515"}]}
    (tmp_path / "el" / "benchmarks").mkdir(parents=True)
    (tmp_path / "el" / "benchmarks" / "derczynski.benchmark.jsonl").write_text(json.dumps(article) + "\n")
    cfg = load_config({"home": tmp_path}, env={"KG_EL_DATA": str(tmp_path / "el")})
    [doc] = load_dataset("derczynski", data=data_paths(cfg)).documents()
    assert (doc.text, [m.gold for m in doc.mentions or []]) == ("Paris is big.", ["Q90"])
    cfg = load_config({"home": tmp_path}, env={"KG_EL_DATA": str(tmp_path / "nowhere")})
    with pytest.raises(Exception, match=f"{tmp_path / 'nowhere' / 'benchmarks'}.*set KG_EL_DATA"):
        load_dataset("derczynski", data=data_paths(cfg))


def test_unset_uris_mean_embedded_defaults(tmp_path: Path) -> None:
    cfg = load_config({"home": tmp_path}, env={})
    assert cfg.graph.embedded and cfg.qdrant.embedded


def test_secrets_never_in_repr_str_public_pickle_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {"KG_GRAPH_PASSWORD": SENTINEL, "KG_QDRANT_API_KEY": SENTINEL + "q", "KG_LLM_API_KEY": SENTINEL + "l",
           "KG_GRAPH_URI": f"bolt://user:{SENTINEL}@db:7687"}
    cfg = load_config({"home": tmp_path}, env=env)
    assert isinstance(cfg.graph.password, Secret) and cfg.graph.password.reveal() == SENTINEL
    assert cfg.llm.api_key is not None and cfg.llm.api_key.reveal() == SENTINEL + "l"
    caplog.set_level(logging.DEBUG)
    logging.getLogger("kg.test").info("config %s %r", cfg, cfg.graph)
    public = json.dumps(cfg.public())
    for text in (repr(cfg), str(cfg), str(cfg.graph.password), f"{cfg.qdrant.api_key}", public, caplog.text):
        assert SENTINEL not in text
    assert cfg.public()["graph"]["password"] == "set" and cfg.public()["llm"]["api_key"] == "set"
    assert cfg.public()["graph"]["uri"] == "bolt://db:7687"
    assert load_config({"home": tmp_path}, env={}).public()["graph"]["password"] is None
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # worker processes get the whole config
    with pytest.raises(TypeError):
        json.dumps(cfg.graph.password)  # never serialised by accident


def test_bad_values_name_the_setting_and_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qdrant.grpc_port must be a whole number, got 'x' \(from env "
                                          "KG_QDRANT_GRPC_PORT\\)"):
        load_config({"home": tmp_path}, env={"KG_QDRANT_GRPC_PORT": "x"})
    with pytest.raises(ConfigError, match="models.image_allow_private must be true or false"):
        load_config({"home": tmp_path}, env={"KG_IMAGE_ALLOW_PRIVATE": "maybe"})
    (tmp_path / "kg.toml").write_text("[graph]\nuri = 5\n")
    with pytest.raises(ConfigError, match=r"graph.uri must be text, got 5 \(from kg.toml\)"):
        load_config({"home": tmp_path}, env={})
    with pytest.raises(ConfigError, match="unknown setting.*graph_uri"):
        load_config({"home": tmp_path, "graph_uri": "bolt://x:1"}, env={})


def test_bad_toml_and_unknown_keys_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text("graph = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({"home": tmp_path}, env={})
    (tmp_path / "kg.toml").write_text('grpah_uri = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting.*grpah_uri"):
        load_config({"home": tmp_path}, env={})
    (tmp_path / "kg.toml").write_text('[llm]\nmodle = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \[llm\] modle; known: .*\[llm\] model"):
        load_config({"home": tmp_path}, env={})


def test_kg_config_shows_every_setting_and_source_never_a_secret(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kg.cli.main import cli

    (tmp_path / "kg.toml").write_text('[models]\ntext = "toml-model"\n')
    env = {"KG_HOME": str(tmp_path), "KG_GRAPH_PASSWORD": SENTINEL, "KG_LLM_API_KEY": SENTINEL + "l",
           "KG_QDRANT_URL": f"http://admin:{SENTINEL}@qdrant:6333", "KG_MEL_DATA": str(tmp_path / "mel"), "KG_EL_DATA": ""}  # empty: unset, the default
    runner = CliRunner()
    text = runner.invoke(cli, ["--collection", "flagged", "config"], env=env)
    assert text.exit_code == 0, text.output
    assert SENTINEL not in text.output
    lines = {line.split()[0]: line.split() for line in text.output.splitlines() if line.strip()}
    assert lines["password"][1:] == ["set", "env", "KG_GRAPH_PASSWORD", "KG_GRAPH_PASSWORD"]
    assert lines["collection"][1:3] == ["flagged", "flag"] and lines["text"][1:3] == ["toml-model", "kg.toml"]
    assert lines["url"][1] == "http://qdrant:6333"
    assert lines["mel"][1:] == [str(tmp_path / "mel"), "env", "KG_MEL_DATA", "KG_MEL_DATA"]
    assert lines["el_text"][1:] == [str(Path.cwd().parent / "shared" / "data" / "el-text"), "default", "KG_EL_DATA"]
    assert lines["uri"][1:3] == ["(unset)", "default"]
    assert lines["image_allow_private"][1:3] == ["False", "default"]  # the longest name keeps a gap to its value
    assert [line for line in text.output.splitlines() if line.startswith("[")] == \
        ["[graph]", "[qdrant]", "[llm]", "[models]", "[serve]", "[data]", "[link]"]

    as_json = runner.invoke(cli, ["config", "--json"], env=env)
    assert as_json.exit_code == 0 and SENTINEL not in as_json.output
    data = json.loads(as_json.stdout)
    assert data["graph"]["password"] == {"value": "set", "source": "env KG_GRAPH_PASSWORD", "env": "KG_GRAPH_PASSWORD"}
    assert data["qdrant"]["api_key"]["value"] is None and data["models"]["text"]["source"] == "kg.toml"
    assert data["home"]["value"] == str(tmp_path.resolve()) and data["models"]["cache_dir"]["env"] == "KG_MODEL_CACHE"
    assert "> environment variable" in runner.invoke(cli, ["config", "--help"]).output


@pytest.mark.parametrize("toml, message", [
    ("[i2cr]\nalpah = 0.6\n", "unknown i2cr setting(s) alpah in [i2cr]; known: alpha, beta,"),
    ("[i2cr]\nalpha = \"high\"\n", "[i2cr] alpha must be a number, got 'high'"),
    ("[thinklinker]\nrounds = 2.5\n", "[thinklinker] rounds must be a whole number, got 2.5"),
    ("[kar]\nk = true\n", "[kar] k must be a whole number, got True"),
    ("[features]\nweight = 1\n", "unknown features setting(s) weight in [features]; features takes no settings"),
    ("[i2cr]\nk = 3\n[kar]\nfactz = 2\n", "unknown kar setting(s) factz"),  # any table, not only the method's
    ("[kra]\nk = 3\n", "unknown method section(s) kra"),
    ("kar = 3\n", "[kar] must be a table of settings"),
])
def test_method_settings_refuse_unknown_keys_and_wrong_types(tmp_path: Path, toml: str, message: str) -> None:
    from kg.kgstore.errors import InputError
    from kg.linkers.methods import method_settings

    path = tmp_path / "methods.toml"
    path.write_text(toml)
    with pytest.raises(InputError) as info:
        method_settings(path, "i2cr")
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_method_settings_of_the_right_types_pass(tmp_path: Path) -> None:
    from kg.linkers.methods import method_settings

    path = tmp_path / "methods.toml"
    path.write_text('[i2cr]\nalpha = 1\nk = 5\norder = ["ocr"]\ntag_vocabulary = ["cat", "dog"]\n[kar]\nfacts = 3\n')
    assert method_settings(path, "i2cr") == {"alpha": 1, "k": 5, "order": ["ocr"], "tag_vocabulary": ["cat", "dog"]}
    assert method_settings(path, "features") == {} and method_settings(None, "kar") == {}
