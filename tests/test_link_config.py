"""The link options are defined once (kg.linkers.config.LinkConfig): `kg link`/`kg eval`/`kg serve`'s flags and
/link's request model are generated from that definition, checked here field by field, so a copy written by hand
again (or an option added to one surface only) fails; values come from the call > KG.open > env > kg.toml >
default. No servers: the stores are never opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kg.cli.link import eval_cmd, link_cmd
from kg.cli.link_options import link_options
from kg.cli.serve import serve_cmd
from kg.cli.web.app import LinkInBase, ServeSettings, create_app
from kg.cli.web.link_models import REQUEST_FIELDS, link_models
from kg.cli.web.service import KgService
from kg.context import StoreContext
from kg.kgstore.config import load_config
from kg.kgstore.errors import ConfigError, InputError
from kg.linkers.config import LinkConfig, option, resolve, specs
from kg.linkers.methods import configured_settings
from kg.linkers.pipeline import LinkOptions
from kg.linkers.ranking.llm_method import LLMOptions
from kg.linkers.ranking.registry import methods

NAMES = [spec.name for spec in specs()]


@dataclass(frozen=True)
class WithBoost(LinkConfig):
    """The definition with one more option, as a new option would be added: one field, nothing else."""

    boost: float = option(1.5, low=0, help="How much the toy boost counts.")


@pytest.mark.parametrize("command, excluded", [(link_cmd, set()), (eval_cmd, {"detect"}),
                                               (serve_cmd, set())])
def test_each_command_takes_every_option_as_defined(command: click.Command, excluded: set[str]) -> None:
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    for spec in specs():
        if spec.name in excluded:
            assert spec.name not in params
            continue
        p = params[spec.name]
        assert spec.flag in p.opts and p.default == spec.default, (command.name, spec.name)
        assert p.get_help_record(click.Context(command))[1].startswith(spec.help), (command.name, spec.name)
        if spec.choices is not None:
            assert tuple(p.type.choices) == tuple(spec.choices()), spec.name  # type: ignore[attr-defined]


def test_link_help_shows_every_option_and_an_added_one() -> None:
    assert all(spec.flag in CliRunner().invoke(link_cmd, ["--help"]).output for spec in specs())

    @click.command()
    @link_options(cls=WithBoost)
    def toy(link: dict) -> None:
        click.echo(sorted(link.items()))

    out = CliRunner().invoke(toy, ["--help"]).output
    assert "--boost FLOAT" in out and "How much the toy boost counts." in out and "[default: 1.5]" in out
    # only what the command line gave reaches the command: the rest resolves by precedence later
    assert CliRunner().invoke(toy, ["--boost", "2", "--top-k", "3"]).output.strip() == \
        "[('boost', 2.0), ('top_k', 3)]"


@pytest.fixture
def app(tmp_path: Path):
    (tmp_path / "kg.toml").write_text('[link]\ntop_k = 7\n[link.llm]\nmargin = 0.45\n')
    context = StoreContext(load_config({"home": tmp_path}, env={}))
    service = KgService(context, link={"method": "features"})  # as `kg serve --method features`
    app = create_app(service, ServeSettings())
    yield app
    app.state.batcher.close()


def test_link_request_model_is_the_definition_with_the_servers_defaults(app) -> None:
    schema = app.openapi()["components"]["schemas"]
    props = schema["LinkOptionsIn"]["properties"]
    assert set(props) == {spec.name for spec in specs() if not spec.local} | set(REQUEST_FIELDS)
    assert "weights" not in props and "method_config" not in props  # the server's files, not a client's
    for spec in specs():
        if not spec.local:
            assert props[spec.name]["description"].startswith(spec.help), spec.name
    assert all(m in props["method"]["description"] for m in ("auto", "features", "learned", "fusion", *methods()))
    # defaults: the server's flag, then kg.toml, then the definition (no margin written in the web layer)
    assert props["method"]["default"] == "features" and props["top_k"]["default"] == 7
    assert props["llm_margin"]["default"] == 0.45 and props["context"]["default"] == LinkConfig.context
    assert props["top_k"]["minimum"] == 1 and props["top_k"]["maximum"] == 100
    assert schema["LinkIn"]["properties"]["options"]["$ref"].endswith("/LinkOptionsIn")


def test_an_added_option_is_a_field_of_the_request_model_and_of_the_api(tmp_path: Path) -> None:
    model = link_models(WithBoost(), LinkInBase)
    options = model.model_fields["options"].annotation
    assert options is not None
    field = options.model_fields["boost"]
    assert field.default == 1.5 and field.description == "How much the toy boost counts."
    assert options.model_validate({"boost": 3}).boost == 3  # type: ignore[attr-defined]
    config = load_config({"home": tmp_path}, env={"KG_LINK_BOOST": "2.5"})
    assert resolve(config, {}, WithBoost).boost == 2.5
    assert resolve(config, {"boost": 4.0}, WithBoost).boost == 4.0
    with pytest.raises(InputError, match=r"boost \(--boost\): must be 0 or more"):
        resolve(config, {"boost": -1.0}, WithBoost)


def test_precedence_call_over_open_over_env_over_toml_over_default(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[link]\nmethod = "learned"\ntop_k = 7\ncontext = "model"\ncoref = false\n'
                                      '[link.llm]\nwhen = "always"\nmargin = 0.5\n')
    config = load_config({"home": tmp_path, "link.context": "static"},
                         env={"KG_LINK_TOP_K": "5", "KG_LINK_METHOD": "fusion"})
    got = resolve(config, {"method": "features"}, LinkOptions, write=False)
    assert (got.method, got.context, got.top_k, got.coref, got.llm, got.llm_margin, got.link) == \
        ("features", "static", 5, False, "always", 0.5, LinkConfig.link)
    assert got.write is False and got.llm_options() == LLMOptions(when="always", margin=0.5, budget=None)


def test_kg_toml_method_tables_reach_the_method_and_a_file_overrides_them(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[link.kar]\nk = 3\nfacts = 2\n[link.i2cr]\nalpha = 0.6\n')
    config = load_config({"home": tmp_path}, env={})
    assert configured_settings(config, None, "kar") == {"k": 3, "facts": 2}
    method_config = tmp_path / "methods.toml"
    method_config.write_text("[kar]\nk = 9\n")
    assert configured_settings(config, method_config, "kar") == {"k": 9, "facts": 2}
    assert configured_settings(config, None, "features") == {}


@pytest.mark.parametrize("toml, message", [
    ('[link]\ntop_k = 0\n', r"top_k \(--top-k\): must be 1 to 100, got 0 \(from kg.toml\)"),
    ('[link]\nmethd = "x"\n', r"unknown link setting\(s\) \[link\] methd"),
    ('[link.llm]\nmargn = 1\n', r"unknown link setting\(s\) \[link.llm\] margn"),
    ('[link.kar]\nkk = 1\n', r"unknown kar setting\(s\) kk"),
    ('[link.nosuch]\nk = 1\n', r"unknown table\(s\) \[link.nosuch\]"),
    ('[link]\ncoref = "maybe"\n', r"\[link\] coref: 'maybe' is not bool \(from kg.toml\)"),
    ('[link]\ncoref = 3\n', r"coref \(--coref\): must be bool, got 3 \(from kg.toml\)"),
    ('[link]\nmethod = "magic"\n', r"method: 'magic' is not one of auto, .*\(from kg.toml\)"),
    ('link = 3\n', r"link must be a table"),
])
def test_a_bad_link_setting_is_a_message_naming_it(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "kg.toml").write_text(toml)
    with pytest.raises((ConfigError, InputError), match=message):
        resolve(load_config({"home": tmp_path}, env={}))


def test_a_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KG_LINK_TOP_K: 'many' is not int"):
        resolve(load_config({"home": tmp_path}, env={"KG_LINK_TOP_K": "many"}))


def test_kg_config_shows_each_link_option_and_its_source(tmp_path: Path) -> None:
    import json

    from kg.cli.main import cli

    (tmp_path / "kg.toml").write_text('[link.llm]\nmargin = 0.4\n')
    out = CliRunner().invoke(cli, ["config", "--json"], env={"KG_HOME": str(tmp_path), "KG_LINK_TOP_K": "4"})
    link = json.loads(out.output)["link"]
    assert list(link) == NAMES
    assert link["top_k"] == {"value": 4, "source": "env KG_LINK_TOP_K", "env": "KG_LINK_TOP_K"}
    assert link["llm_margin"]["value"] == 0.4 and link["llm_margin"]["source"] == "kg.toml"
    assert link["method"] == {"value": "auto", "source": "default", "env": "KG_LINK_METHOD"}
