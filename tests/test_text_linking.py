"""Linking ordinary text end to end on real servers: NER detection, alias priors, graph coherence, the learned
reranker (loaded and refitted by `kg train`) and the span-level `kg eval` of ELEVANT benchmarks.

One small crafted KB is ingested and indexed once for the module: two places called Paris (one related to
Texas), two entities called Jordan (alias counts say which one "Jordan" usually means), and a few people, two of
them surnamed Neruda beside a bare "Neruda" item."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env, server_config

from kg.cli.main import cli

KB = [
    {"qid": "Q90", "label": "Paris", "description": "capital and largest city of France", "sitelinks": 300,
     "relations": [{"pid": "P17", "target": "Q142"}]},
    {"qid": "Q830149", "label": "Paris", "aliases": ["Paris, Texas"], "description": "city in Lamar County",
     "sitelinks": 5, "relations": [{"pid": "P131", "target": "Q1439"}]},
    {"qid": "Q142", "label": "France", "description": "country in Western Europe", "sitelinks": 300},
    {"qid": "Q1439", "label": "Texas", "description": "state of the United States of America", "sitelinks": 250},
    {"qid": "Q810", "label": "Jordan", "description": "country in Western Asia", "sitelinks": 200},
    {"qid": "Q41421", "label": "Michael Jordan", "aliases": ["Jordan", "MJ"],
     "description": "American basketball player", "types": ["Q5"], "sitelinks": 100,
     "relations": [{"pid": "P54", "target": "Q128109"}]},
    {"qid": "Q128109", "label": "Chicago Bulls", "aliases": ["Bulls"], "description": "basketball team",
     "sitelinks": 80},
    {"qid": "Q76", "label": "Barack Obama", "aliases": ["Obama"], "types": ["Q5"],
     "description": "44th president of the United States", "sitelinks": 300},
    {"qid": "Q13133", "label": "Michelle Obama", "types": ["Q5"], "description": "lawyer and former first lady",
     "sitelinks": 90, "relations": [{"pid": "P26", "target": "Q76"}]},
    {"qid": "Q1297", "label": "Chicago", "description": "city in Illinois, United States", "sitelinks": 250},
    {"qid": "Q5", "label": "human", "description": "species", "sitelinks": 400},
    {"qid": "Q34189", "label": "Pablo Neruda", "types": ["Q5"], "description": "Chilean poet and diplomat"},
    {"qid": "Q156321", "label": "Jan Neruda", "types": ["Q5"], "description": "Czech journalist and writer"},
    {"qid": "Q23924670", "label": "Neruda"},  # a bare family-name item, as open-world KBs hold many
    {"qid": "Q846570", "label": "Americans", "types": ["Q231002", "Q6266"],
     "description": "citizens, or natives, of the United States of America"},
    # fifteen namesakes, none with a popularity to tell them apart (as in an open-world KB); the singer is the one
    # the graph refers to and the context is about
    {"qid": "Q44301", "label": "Jim Morrison", "types": ["Q5"],
     "description": "American singer, songwriter and poet, lead vocalist of the rock band The Doors"},
    {"qid": "Q45354", "label": "The Doors", "description": "American rock band formed in Los Angeles",
     "relations": [{"pid": "P527", "target": "Q44301"}]},
    *({"qid": f"Q9{i:05d}", "label": "Jim Morrison", "types": ["Q5"], "description": job}
      for i, job in enumerate(["Scottish footballer", "Canadian politician", "American baseball pitcher",
                               "Australian rules footballer", "Irish hurler", "British Army officer",
                               "American football coach", "New Zealand cricketer", "Welsh rugby union player",
                               "English cricketer", "American businessman", "Canadian ice hockey player",
                               "Scottish trade unionist", "American politician from Ohio"])),
    # a surname shared by more people than the name lookup keeps, none more popular than the others; the physicist
    # has the lowest item number: in the store's order among equals he came last
    {"qid": "Q9123", "label": "Ernest Rutherford", "types": ["Q5"],
     "description": "New Zealand physicist who split the atom and discovered the proton, Nobel Prize in Chemistry"},
    *({"qid": f"Q8{i:05d}", "label": f"{first} Rutherford", "types": ["Q5"], "description": job}
      for i, (first, job) in enumerate(zip(
          ["Alan", "Brian", "Carl", "Dan", "Ed", "Fred", "Greg", "Hal", "Ian", "Jack", "Ken", "Lee", "Max", "Ned"],
          ["Scottish footballer", "Canadian politician", "American baseball pitcher", "Australian rules footballer",
           "Irish hurler", "British Army officer", "American football coach", "New Zealand cricketer",
           "Welsh rugby union player", "English cricketer", "American businessman", "Canadian ice hockey player",
           "Scottish trade unionist", "American politician from Ohio"]))),
]
ALIAS_COUNTS = [("Jordan", "Q41421", 60), ("Jordan", "Q810", 20), ("His Airness", "Q41421", 7)]


@pytest.fixture(scope="module")
def kb(servers, graph_driver, tmp_path_factory):
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    root = tmp_path_factory.mktemp("textlink")
    cfg = server_config(servers, root / "home", "t_text_")
    env = cli_env(cfg)
    kb_file = root / "kb.jsonl"
    kb_file.write_text("".join(json.dumps(e) + "\n" for e in KB))
    counts = root / "alias_counts.tsv.gz"
    with gzip.open(counts, "wt") as f:
        f.write("surface\tqid\tcount\n" + "".join(f"{s}\t{q}\t{n}\n" for s, q, n in ALIAS_COUNTS))
    runner = CliRunner()
    for args in (["ingest", str(kb_file)], ["ingest", str(counts), "--json"], ["index", "--text", "--names"]):
        res = runner.invoke(cli, args, env=env)
        assert res.exit_code == 0, res.output
    return root, env


def _run(env, *args) -> str:
    res = CliRunner().invoke(cli, list(args), env=env)
    assert res.exit_code == 0, res.output
    return res.stdout  # progress and logs go to stderr


def _link(root: Path, env, docs: list[dict], *args: str) -> list[dict]:
    corpus = root / f"c-{uuid.uuid4().hex[:6]}.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = root / f"o-{uuid.uuid4().hex[:6]}.jsonl"
    _run(env, "link", str(corpus), "--no-write", "--out", str(out), "--explain", *args)
    return [json.loads(line) for line in out.read_text().splitlines()]


def _weights(root: Path, **weights: float) -> str:
    path = root / f"w-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"weights": weights}))
    return str(path)


def test_ner_detector_marks_names_with_the_benchmarks_span_conventions():
    from kg.linkers.detection.ner import NERDetector

    text = ("The United Nations said on Wednesday that Nick Saban met Al-Maliki in the U.S. capital. "
            "Saban's officials signed 3 contracts.")
    spans = {(s.surface, s.label) for s in NERDetector().spans_many([text])[0]}
    surfaces = {s for s, _ in spans}
    assert {"United Nations", "Nick Saban", "Al-Maliki", "U.S.", "Saban"} <= surfaces
    assert ("Nick Saban", "PERSON") in spans
    assert not surfaces & {"Wednesday", "3", "officials", "The United Nations", "Saban's"}


def test_the_ner_worker_process_finds_the_same_spans_and_outlives_its_worker_dying():
    """KG_NER_PROCESS: the model in a worker process gives the very spans of the model in this process; a worker
    killed mid-job is started again, and where none can run the detector runs the model itself."""
    import os
    import signal

    from kg.linkers.detection import ner

    texts = ["The United Nations said on Wednesday that Nick Saban met Al-Maliki in the U.S. capital. "
             "Saban's officials signed 3 contracts.", "Angela Merkel met the board of Siemens in Berlin.", ""] \
        * (ner.PROCESS_FROM // 3 + 1)  # enough texts for the worker (fewer run in this process)
    here = ner.NERDetector().spans_many(texts)
    worker = ner.NERDetector(process=True)
    assert worker.spans_many(texts[:2]) == here[:2] and ner.ner_worker_pids() == []  # two texts: no worker
    assert worker.spans_many(texts) == here and worker.version() == ner.NERDetector().version()
    model = worker.model
    [pid] = ner.ner_worker_pids()
    os.kill(pid, signal.SIGKILL)
    assert worker.spans_many(texts) == here  # a new worker took over
    assert ner.ner_worker_pids() != [pid]
    assert ner._in_worker(model, os._exit, 1) is None  # a call that kills every worker it runs in: gives up
    assert worker.spans_many(texts) == here
    ner.stop_ner_workers()
    assert ner.ner_worker_pids() == []


def test_ner_and_hybrid_detection_link_names_not_words(kb):
    root, env = kb
    doc = {"id": "n1", "text": "Obama flew to Paris on Wednesday. The human official said Obama was pleased."}
    gaz = _link(root, env, [doc], "--detector", "gazetteer", "--method", "features")
    ner = _link(root, env, [doc], "--detector", "ner", "--method", "features")
    assert "human" in {r["surface"] for r in gaz}  # the gazetteer marks a common noun that is a KB name
    assert {r["surface"] for r in ner} == {"Obama", "Paris"}
    assert {r["ner_label"] for r in ner} <= {"PERSON", "GPE"} and all(r["detector"] == "ner" for r in ner)
    assert next(r for r in ner if r["surface"] == "Obama")["qid"] == "Q76"


def test_a_demonym_finds_its_people_and_the_type_feature_prefers_it(kb):
    root, env = kb
    found = _link(root, env, [{"id": "d1", "text": "Michelle Obama is an American lawyer."}], "--detector", "ner",
                  "--method", "features")
    american = next(r for r in found if r["surface"] == "American")
    assert american["ner_label"] == "NORP"
    people = next(c for c in american["candidates"] if c["qid"] == "Q846570")
    assert "people" in people["sources"] and people["features"]["type"] == 1.0


def test_alias_priors_are_ingested_indexed_and_used(kb):
    root, env = kb
    doc = {"id": "j1", "text": "Jordan scored 40 points.", "mentions": [{"start": 0, "end": 6}]}
    [r] = _link(root, env, [doc], "--method", "features")
    prior = {c["qid"]: c["features"]["prior"] for c in r["candidates"]}
    assert prior["Q41421"] == pytest.approx(0.75) and prior["Q810"] == pytest.approx(0.25)
    # popularity alone prefers the country; the prior flips it
    [by_pop] = _link(root, env, [doc], "--method", "features", "--weights", _weights(root, name=1.0, popularity=2.0))
    [by_prior] = _link(root, env, [doc], "--method", "features",
                       "--weights", _weights(root, name=1.0, popularity=2.0, prior=4.0))
    assert by_pop["qid"] == "Q810" and by_prior["qid"] == "Q41421"
    # an anchor text that is no label or alias finds its entity through the names index
    found = json.loads(_run(env, "search", "His Airness", "--json"))
    assert found and found[0]["qid"] == "Q41421"


def test_a_bare_surname_finds_the_full_names_that_end_with_it(kb):
    root, env = kb
    doc = {"id": "s1", "text": "Neruda wrote his first poems in Temuco."}
    [r] = [x for x in _link(root, env, [doc], "--method", "features", "--weights", _weights(root, name=1.0))
           if x["surface"] == "Neruda"]
    found = {c["qid"]: c for c in r["candidates"]}
    assert {"Q34189", "Q156321", "Q23924670"} <= set(found)
    assert found["Q34189"]["sources"].get("surname") == 1.0 and "surname" not in found["Q23924670"]["sources"]
    assert found["Q34189"]["features"]["alias"] == 1.0 and found["Q23924670"]["features"]["alias"] == 0.0
    assert r["qid"] == "Q23924670"  # by name alone the bare item named exactly so wins
    [r2] = [x for x in _link(root, env, [doc], "--method", "features",
                             "--weights", _weights(root, name=1.0, alias=1.0, context=1.0))
            if x["surface"] == "Neruda"]
    assert r2["qid"] == "Q34189"  # the poem's context picks the poet among the people so surnamed


def test_a_bare_surname_of_many_people_finds_the_one_its_context_is_about(kb):
    """Fifteen people surnamed Rutherford, none more popular: the surname's candidates take the people nearest to
    the text's context in turn with the popular order, so the physicist is a candidate (the popular order alone, the
    store's, kept ten others)."""
    root, env = kb
    doc = {"id": "s2", "text": "At the laboratory Rutherford split the atom, a discovery in physics that found the proton."}
    [r] = [x for x in _link(root, env, [doc], "--method", "features") if x["surface"] == "Rutherford"]
    found = {c["qid"]: c for c in r["candidates"]}
    assert found["Q9123"]["sources"].get("surname") == 1.0


def test_hybrid_detection_splits_a_listed_place_unless_the_whole_is_a_kb_name():
    from kg.linkers.detection.detect import GazetteerDetector
    from kg.linkers.detection.ner import Span, listed_names

    gazetteer = GazetteerDetector.build([("Paris", "Q90"), ("France", "Q142"), ("Muscatine, Iowa", "Q1"),
                                         ("Iowa", "Q2")])
    text = "He moved to Paris, France, then to Muscatine, Iowa, and Blackpool, Lancashire, England."

    def split(surface: str) -> list[tuple[str, str | None]]:
        start = text.index(surface)
        return [(p.surface, p.label) for p in listed_names(text, Span(start, start + len(surface), surface, "GPE",
                                                                      "ner"), gazetteer)]

    assert split("Paris, France") == [("Paris", "GPE"), ("France", "GPE")]
    assert split("Muscatine, Iowa") == [("Muscatine, Iowa", "GPE")]
    assert split("Blackpool, Lancashire, England") == [("Blackpool", "GPE"), ("Lancashire", "GPE"),
                                                       ("England", "GPE")]


def test_news_spans_keep_a_legal_form_and_split_coordinated_names():
    from kg.linkers.detection.detect import GazetteerDetector
    from kg.linkers.detection.ner import Span, listed_names, with_legal_form

    def extended(text: str, name: str) -> str:
        at = text.index(name)
        return with_legal_form(text, Span(at, at + len(name), name, "ORG", "ner")).surface

    assert extended("He met Smith & Wesson Holding Corp executives.", "Smith & Wesson") == \
        "Smith & Wesson Holding Corp"
    assert extended("Shares of Apple, Inc. fell.", "Apple") == "Apple, Inc."
    assert extended("Shares of Microsoft Corp. rose.", "Microsoft") == "Microsoft Corp."  # the abbreviation's stop
    assert extended("Jobs went at Barclays plc.", "Barclays") == "Barclays plc"  # the sentence's stop
    assert extended("Apple co-founded it.", "Apple") == "Apple"
    assert extended("Microsoft Corporation sued.", "Microsoft Corporation") == "Microsoft Corporation"

    gazetteer = GazetteerDetector.build([("Google", "Q95"), ("Facebook", "Q355"), ("Bosnia and Herzegovina", "Q225"),
                                         ("Bosnia", "Q1"), ("Herzegovina", "Q2"), ("London", "Q84"),
                                         ("Berlin", "Q64"), ("Paris", "Q90"), ("Zeinab Jammeh", "Q3")])
    text = "Google and Facebook agreed; Bosnia and Herzegovina joined; Yahya and Zeinab Jammeh fled; " \
           "Paris, London and Berlin signed."

    def split(surface: str) -> list[str]:
        at = text.index(surface)
        return [p.surface for p in listed_names(text, Span(at, at + len(surface), surface, "ORG", "ner"), gazetteer)]

    assert split("Google and Facebook") == ["Google", "Facebook"]
    assert split("Bosnia and Herzegovina") == ["Bosnia and Herzegovina"]  # the whole is a KB name
    assert split("Yahya and Zeinab Jammeh") == ["Yahya and Zeinab Jammeh"]  # "Yahya" is no name of its own here
    assert split("Paris, London and Berlin") == ["Paris", "London", "Berlin"]


def test_the_link_policy_decides_whether_concepts_are_detected(kb, tmp_path):
    """--link named (the default) links names only; --link all also the KB's lowercase names that the model's
    keyphraseness says training data links ("human" here)."""
    root, env = kb
    model = tmp_path / "learned.json"
    data = json.loads((Path(__file__).resolve().parents[1] / "linkers" / "weights" / "learned.json").read_text())
    model.write_text(json.dumps({**data, "keyphrases": {"linked": {"human": 9.0}, "seen": {"human": 10.0}}}))
    text = [{"id": "p", "text": "Every human in Chicago knows Barack Obama."}]
    named = _link(root, env, text, "--method", "learned", "--weights", str(model))
    every = _link(root, env, text, "--method", "learned", "--weights", str(model), "--link", "all")
    assert "human" not in {r["surface"] for r in named} and {"Chicago", "Barack Obama"} <= {r["surface"] for r in named}
    assert "human" in {r["surface"] for r in every}
    res = CliRunner().invoke(cli, ["link", str(root / "x.jsonl"), "--link", "some"], env=env)
    assert res.exit_code == 2 and "--link" in res.output


def test_a_crowded_name_keeps_the_namesake_its_context_and_graph_point_to(kb):
    """Fifteen entities called Jim Morrison, none more popular than another, and --top-k 5: the namesakes are
    ranked by the mention's context (and in-degree) before the cut, so the singer is a candidate and wins."""
    root, env = kb
    text = "Jim Morrison sang and wrote poems as the lead vocalist of The Doors, the rock band."
    for args in ([], ["--top-k", "5"]):
        found = {r["surface"]: r for r in _link(root, env, [{"id": "jm", "text": text}], *args)}
        assert "Q44301" in [c["qid"] for c in found["Jim Morrison"]["candidates"]], args
        assert found["Jim Morrison"]["qid"] == "Q44301", (args, found["Jim Morrison"]["candidates"][:3])


def test_hybrid_detection_trims_an_overlong_ner_span_to_the_kb_name_at_its_edge():
    from kg.linkers.detection.detect import GazetteerDetector
    from kg.linkers.detection.ner import Span, city_and_state, overlong

    gazetteer = GazetteerDetector.build([("Paris Hilton", "Q47899"), ("California", "Q99"), ("Grammar School", "Q1"),
                                         ("Italy", "Q38"), ("Senate", "Q2"), ("Muscatine", "Q3"), ("Iowa", "Q4")])

    def trims(text: str, ner: str, name: str) -> bool:
        a, g = text.index(ner), text.index(name)
        return overlong(Span(a, a + len(ner), ner, "ORG"), g, g + len(name), text, gazetteer)

    assert trims("OMG! First Paris Hilton, now Miley", "First Paris Hilton", "Paris Hilton")
    assert trims("Update: California Home Sales Decline Year-Over-Year", "California Home Sales Decline", "California")
    assert not trims("He went to Marlborough Grammar School.", "Marlborough Grammar School", "Grammar School")
    assert not trims("She sat in the Senate of Italy.", "Senate of Italy", "Senate")
    assert not trims("Home Sales in California", "Home Sales in California", "California")  # one word, at the end

    text = "Born in Muscatine, Iowa, he moved to Paris, France."
    spans = [Span(8, 17, "Muscatine", "GPE"), Span(19, 23, "Iowa", "GPE"), Span(37, 42, "Paris", "GPE"),
             Span(44, 50, "France", "GPE")]
    assert [s.surface for s in city_and_state(text, spans)] == ["Muscatine, Iowa", "Paris", "France"]


def test_pronouns_take_the_sentence_subjects_entity():
    from kg.linkers.postprocess.coref import Antecedent, resolve

    text = "Neruda took his pen name from the poet Jan Neruda when he was 10. Later Obama met him. She left."
    persons = [Antecedent(0, 6, "Q34189", "a"), Antecedent(39, 49, "Q156321", "b"), Antecedent(72, 77, "Q76", "c")]
    links = [(link.surface, link.antecedent.qid) for link in resolve(text, persons, covered=[(72, 77)])]
    # the subject, not the nearest name; a sentence without a person before the pronoun takes the last one's
    assert links == [("his", "Q34189"), ("he", "Q34189"), ("him", "Q76"), ("She", "Q76")]
    assert resolve("He came home.", persons[:0]) == []  # no person named: nothing to link to


def test_pronouns_skip_a_person_of_the_other_gender_and_stop_at_an_unlinked_one():
    from kg.linkers.postprocess.coref import Antecedent, gender_of, resolve

    assert (gender_of(frozenset({"Q6581072", "Q30"})), gender_of(frozenset({"Q6581097"})),
            gender_of(frozenset({"Q30"}))) == ("f", "m", None)
    text = "Viktor Hamburger invited Rita Levi-Montalcini, and she came. He was glad."
    persons = [Antecedent(0, 16, "Q84", "a", "m"), Antecedent(25, 45, "Q185", "b", "f")]
    links = [(link.surface, link.antecedent.qid) for link in resolve(text, persons)]
    assert links == [("she", "Q185"), ("He", "Q84")]  # the subject is male: "she" takes the woman after him
    unknown = [Antecedent(0, 16, "Q84", "a", None)]
    assert [link.antecedent.qid for link in resolve("Viktor Hamburger came. She left.", unknown)] == ["Q84"]

    text = "Barack Obama spoke. Later Finn Jones arrived. He sat down."
    persons = [Antecedent(0, 12, "Q76", "a", "m"), Antecedent(26, 36, None, "b")]
    assert resolve(text, persons) == []  # "He" is Finn Jones, whom kg left NIL: not Obama


def test_link_resolves_pronouns_in_detected_documents_only(kb):
    root, env = kb
    text = "Barack Obama visited Chicago on Monday. He met the mayor."
    detected = _link(root, env, [{"id": "c1", "text": text}], "--method", "features")
    he = next(r for r in detected if r["surface"] == "He")
    assert he["qid"] == "Q76" and he["detector"] == "coref" and he["start"] == text.index("He")
    assert he["trace"]["coreference"]["surface"] == "Barack Obama"
    off = _link(root, env, [{"id": "c3", "text": text}], "--method", "features", "--no-coref")
    assert "He" not in {r["surface"] for r in off} and "Barack Obama" in {r["surface"] for r in off}
    given = _link(root, env, [{"id": "c2", "text": text, "mentions": [{"start": 0, "end": 12}]}],
                  "--method", "features")
    assert [r["surface"] for r in given] == ["Barack Obama"]


def test_coherence_with_the_other_mentions_changes_a_ranking(kb):
    root, env = kb
    doc = {"id": "p1", "text": "Paris is a small city in Texas.",
           "mentions": [{"start": 0, "end": 5}, {"start": 25, "end": 30}]}
    base = _weights(root, name=2.0, context=1.0, popularity=1.0)
    coherent = _weights(root, name=2.0, context=1.0, popularity=1.0, coherence=3.0)
    [paris, _] = _link(root, env, [doc], "--method", "features", "--weights", base)
    [paris_c, texas] = _link(root, env, [doc], "--method", "features", "--weights", coherent)
    coh = {c["qid"]: c["features"]["coherence"] for c in paris_c["candidates"]}
    assert coh["Q830149"] == 1.0 and coh["Q90"] < 0.3
    assert paris["qid"] == "Q90" and paris_c["qid"] == "Q830149" and texas["qid"] == "Q1439"


def test_learned_reranker_ships_loads_and_is_refitted_by_kg_train(kb):
    from kg.kgstore.errors import InputError
    from kg.linkers.ranking.learned import ALL_FEATURES, LearnedReranker

    shipped = LearnedReranker.from_file()
    assert shipped.version().startswith("learned-") and shipped.features == ALL_FEATURES
    assert shipped.keyphrases is not None and shipped.keyphrases.keeps("poet")  # learned from the OKE sets
    assert shipped.nil_detected is not None and 0 < shipped.nil_detected < 1
    root, env = kb
    rng = random.Random(7)
    sentences = [("Jordan scored for the Chicago Bulls.", "Jordan", "Q41421", "Chicago Bulls", "Q128109"),
                 ("Paris lies in Texas.", "Paris", "Q830149", "Texas", "Q1439"),
                 ("Paris is the capital of France.", "Paris", "Q90", "France", "Q142"),
                 ("Obama met Michelle Obama in Chicago.", "Obama", "Q76", "Chicago", "Q1297"),
                 ("Jordan borders Israel.", "Jordan", "Q810", "Israel", "NIL"),
                 ("Obama visited Chicago and France.", "Obama", "Q76", "Chicago", "Q1297")]  # France: unannotated

    def docs(n: int, tag: str) -> Path:
        path = root / f"{tag}.jsonl"
        with path.open("w") as f:
            for i in range(n):
                text, s1, g1, s2, g2 = rng.choice(sentences)
                a, b = text.index(s1), text.index(s2)
                f.write(json.dumps({"id": f"{tag}{i}", "text": text, "mentions": [
                    {"start": a, "end": a + len(s1), "gold": g1}, {"start": b, "end": b + len(s2), "gold": g2}]}) + "\n")
        return path

    train, dev = docs(60, "train"), docs(30, "dev")
    model = root / "learned.json"
    out = json.loads(_run(env, "train", str(train), "--dev-data", str(dev), "--reranker", "learned", "--detector",
                          "ner", "--out", str(model), "--json"))
    assert out["train_mentions"] >= 120 and min(out["rounds"]) >= 1 and model.exists()
    # the NIL simulation: about one annotated mention in four is also taught as out of the KB
    assert out["simulate_nil"] == 4 and 0 < out["simulated_out_of_kb"] < out["train_mentions"] / 2
    refit = LearnedReranker.from_file(model)
    assert refit.version() != shipped.version()
    # the keyphraseness learned from the training gold travels in the model file
    assert refit.keyphrases is not None and refit.keyphrases.score("Chicago Bulls") == 1.0
    assert refit.keyphrases.score("Israel") == 0.0  # always NIL in training
    metrics = json.loads(_run(env, "eval", str(dev), "--method", "learned", "--weights", str(model), "--json"))
    assert metrics["n"] == 60 and metrics["hits@1"] >= 0.6
    # two models: the entity model (no keyphraseness) and the span model; a detected span's scores are their product
    split = root / "learned-split.json"
    out = json.loads(_run(env, "train", str(train), "--dev-data", str(dev), "--reranker", "learned", "--detector",
                          "ner", "--span-model", "--simulate-nil", "0", "--out", str(split), "--json"))
    assert out["span_model"] is True and out["simulated_out_of_kb"] == 0 and out["span_rounds"]
    two = LearnedReranker.from_file(split)
    assert two.span is not None and "m_keyphrase" not in two.features and "m_keyphrase" in two.span_features
    found = _link(root, env, [{"id": "s", "text": "Jordan scored for the Chicago Bulls."}], "--method", "learned",
                  "--weights", str(split))
    assert found and all(0.0 <= c["score"] <= 1.0 for r in found for c in r["candidates"])
    broken = root / "broken.json"
    broken.write_text(json.dumps({**json.loads(model.read_text()), "features": ["name"]}))
    with pytest.raises(InputError, match="refit"):
        LearnedReranker.from_file(broken)


def test_span_level_eval_of_an_elevant_benchmark(kb):
    root, env = kb
    text = "Obama flew to Paris on Wednesday with Michelle Obama."
    bench = root / "tiny.benchmark.jsonl"
    labels = [{"id": 0, "span": [0, 5], "entity_id": "Q76", "name": "Barack Obama", "type": "Q5"},
              {"id": 1, "span": [14, 19], "entity_id": "Q90", "name": "Paris", "type": "Q515"},
              {"id": 2, "span": [38, 52], "entity_id": "Q13133", "name": "Michelle Obama", "type": "Q5"}]
    bench.write_text(json.dumps({"id": 0, "title": "t", "text": text, "evaluation_span": [0, len(text)],
                                 "labels": labels}) + "\n")
    report = root / "report.json"
    data = json.loads(_run(env, "eval", str(bench), "--detector", "ner", "--json", "--report", str(report),
                           "--report-all"))
    assert data["ground_truth"] == 3 and 0 <= data["f1"] <= 1
    assert data["true_positives"] + data["false_negatives"] == 3
    assert set(data["categories"]) >= {"correct", "missed_mention", "spurious_mention", "wrong_entity"}
    cases = json.loads(report.read_text())["cases"]
    assert sum(c["category"] == "correct" for c in cases) == data["true_positives"]
    gold = json.loads(_run(env, "eval", str(bench), "--spans", "gold", "--json"))
    assert gold["disambiguation"]["total"] == 3 and gold["disambiguation"]["correct"] >= 2


def _benchmark_file(root: Path, n: int) -> Path:
    """A small ELEVANT benchmark: sentences about the crafted KB, with a pronoun, a date and a NIL label."""
    rows = []
    for i in range(n):
        text = f"Barack Obama flew to Paris in Texas on day {i}. He met Jordan Smith there."
        at = {w: text.index(w) for w in ("Barack Obama", "Paris", "Texas", "He", "Jordan Smith")}
        day = text.index(f"day {i}")
        labels = [{"id": 0, "span": [at["Barack Obama"], at["Barack Obama"] + 12], "entity_id": "Q76", "type": "Q5"},
                  {"id": 1, "span": [at["Paris"], at["Paris"] + 5], "entity_id": "Q830149", "type": "Q515"},
                  {"id": 2, "span": [at["Texas"], at["Texas"] + 5], "entity_id": "Q1439", "type": "Q35657"},
                  {"id": 3, "span": [day, day + len(f"day {i}")], "entity_id": "DATETIME", "type": "DATETIME"},
                  {"id": 4, "span": [at["He"], at["He"] + 2], "entity_id": "Q76", "type": "Q5"},
                  {"id": 5, "span": [at["Jordan Smith"], at["Jordan Smith"] + 12], "entity_id": "<NIL>",
                   "type": "Q5"}]
        rows.append({"id": i, "title": str(i), "text": text, "evaluation_span": [0, len(text)], "labels": labels})
    path = root / f"cv-{uuid.uuid4().hex[:6]}.benchmark.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_benchmarks_train_the_learned_model_in_halves_and_eval_says_what_is_held_out(kb):
    from kg.linkers.evaluation.datasets import load_dataset
    from kg.linkers.evaluation.datasets.text import half_of
    from kg.linkers.run import held_out

    root, env = kb
    bench = _benchmark_file(root, 24)
    whole, a, b = (load_dataset(str(bench) + suffix) for suffix in ("", ":a", ":b"))
    texts = {h: [x.text for x in ds.articles()] for h, ds in (("a", a), ("b", b))}
    assert sorted(texts["a"] + texts["b"]) == sorted(x.text for x in whole.articles())
    assert texts["a"] and texts["b"] and all(half_of(t) == h for h, ts in texts.items() for t in ts)
    doc = next(whole.documents())
    golds = {m.surface: m.gold for m in doc.mentions}
    # the date and the pronoun are judged neither way; an entity outside the KB is a NIL example
    assert golds["Barack Obama"] == "Q76" and golds["He"] is None and golds["Jordan Smith"] == "NIL"
    assert golds[next(s for s in golds if s.startswith("day"))] is None
    assert held_out([], "derczynski") and held_out(["oke-2016-train:a", "derczynski:a"], "oke-2015-train:b")
    assert not held_out(["oke-2016-train:a"], "oke-2015-train:a") and not held_out(["derczynski"], "derczynski:b")

    dev = root / "dev.jsonl"
    dev.write_text("".join(json.dumps({"id": f"d{i}", "text": "Obama met Michelle Obama in Chicago.", "mentions": [
        {"start": 0, "end": 5, "gold": "Q76"}, {"start": 28, "end": 35, "gold": "Q1297"}]}) + "\n" for i in range(20)))
    model = root / "learned-a.json"
    out = json.loads(_run(env, "train", str(dev), "--dev-data", str(dev), "--also", f"{bench}:a",
                          "--also-weight", "5", "--detector", "ner", "--out", str(model), "--json"))
    assert out["also"] == [f"{bench.name}:a"] and out["also_weight"] == 5
    alone = json.loads(_run(env, "train", str(dev), "--dev-data", str(dev), "--detector", "ner",
                            "--out", str(root / "learned-alone.json"), "--json"))
    assert out["train_mentions"] > alone["train_mentions"] and alone["also"] == []
    res = CliRunner().invoke(cli, ["eval", f"{bench}:b", "--method", "learned", "--weights", str(model), "--json"],
                             env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)["protocol"]["held_out"] is True
    assert "not held out" not in res.stderr
    res = CliRunner().invoke(cli, ["eval", f"{bench}:a", "--method", "learned", "--weights", str(model), "--json"],
                             env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)["protocol"]["held_out"] is False
    assert "not held out" in res.stderr


def test_default_method_ranks_given_spans_with_fusion_and_detected_ones_with_learned(kb):
    from kg.linkers.ranking.learned import LearnedReranker

    root, env = kb
    shipped = LearnedReranker.from_file()
    text = "Michelle Obama spoke in Chicago."
    given = _link(root, env, [{"id": "g", "text": text, "mentions": [{"start": 0, "end": 14}]}])
    detected = _link(root, env, [{"id": "d", "text": text}])
    assert given[0]["qid"] == "Q13133" and given[0]["trace"]["nil_threshold"] is None
    assert "rerank:auto:fusion" in given[0]["trace"]["stages"]
    assert all("rerank:auto:learned" in r["trace"]["stages"] for r in detected)
    assert {r["surface"] for r in detected} >= {"Michelle Obama", "Chicago"}
    assert all(r["trace"]["nil_threshold"] == shipped.nil_detected for r in detected)
    # one scale for both kinds of span: probabilities (the learned models' product; the fusion scorer's softmax)
    assert all(0.0 <= c["score"] <= 1.0 for r in detected + given for c in r["candidates"])
    assert abs(sum(c["score"] for c in given[0]["candidates"]) - 1.0) < 1e-3


def test_the_next_batch_is_detected_while_this_one_links(kb):
    """kg link and kg eval detect the mentions of batch k+1 in a background thread while batch k links: the results
    are those of linking one batch at a time, and the NER model ran outside the linking thread."""
    import threading

    from kg.kgstore.config import load_config
    from kg.kgstore.graph import GraphStore
    from kg.kgstore.vectors import VectorStore
    from kg.linkers.pipeline import LinkOptions
    from kg.linkers.records import Document
    from kg.linkers.run import Stores, build_linker

    _, env = kb
    cfg = load_config(env=env)
    stores = Stores(cfg, GraphStore.from_config(cfg), VectorStore.from_config(cfg))
    texts = ["Michelle Obama spoke in Chicago.", "Barack Obama flew to Paris in Texas.", "Nick Saban met Michelle Obama.",
             "Pablo Neruda wrote in Chicago.", "Michael Jordan played in Chicago."]
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    linker = build_linker(stores, LinkOptions(write=False, batch_docs=2), "hybrid")
    threads: list[str] = []
    spans_many = linker.detector.spans_many
    linker.detector.spans_many = lambda ts: threads.append(threading.current_thread().name) or spans_many(ts)
    ahead = [([d.id for d in batch], [(r.mention_id, r.qid, r.score) for r in results])
             for batch, results in linker.link_batches(iter(docs))]
    assert [ids for ids, _ in ahead] == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    assert len(threads) == 3 and all(name.startswith("kg-detect") for name in threads)
    one_by_one = [[(r.mention_id, r.qid, r.score) for r in linker.link_batch(docs[i:i + 2])] for i in (0, 2, 4)]
    assert threads[3:] == [threading.current_thread().name] * 3
    assert [found for _, found in ahead] == one_by_one and any(qid for found in one_by_one for _, qid, _ in found)


def test_a_profile_covers_every_stage_and_adds_up_to_the_wall_clock(kb):
    """`bench/link.py --profile`: a run's stages (detection, encoding, each Qdrant request, graph reads, features,
    model, write-back) are all recorded, none negative; the linking thread's add up to the wall clock and the
    background threads' busy time is apart. Nothing is recorded when no profile is (the timers cost nothing)."""
    from kg.kgstore.config import load_config
    from kg.kgstore.graph import GraphStore
    from kg.kgstore.profiling import UNTIMED, recording
    from kg.kgstore.vectors import VectorStore
    from kg.linkers.pipeline import LinkOptions
    from kg.linkers.records import Document
    from kg.linkers.run import Stores, build_linker

    _, env = kb
    cfg = load_config(env=env)
    stores = Stores(cfg, GraphStore.from_config(cfg), VectorStore.from_config(cfg))
    texts = ["Michelle Obama spoke in Chicago with Jim Morrison of The Doors.", "Barack Obama flew to Paris in Texas.",
             "Pablo Neruda wrote in Chicago.", "Michael Jordan played for the Chicago Bulls."]
    docs = [Document(f"profile{i}", t) for i, t in enumerate(texts)]
    linker = build_linker(stores, LinkOptions(batch_docs=2), "hybrid")
    with recording() as profile:
        linked = [r for results in linker.link(docs) for r in results]
    assert any(r.qid for r in linked)
    rows = profile.rows()
    stages = {r["stage"] for r in rows}
    assert {"ner", "gazetteer", "waiting: detection ahead", "context encoding", "candidates", "qdrant: names",
            "qdrant: payloads", "qdrant: text vectors", "qdrant: words overlap", "features", "graph: neighbours",
            "model", "post-processing", "write-back", UNTIMED} <= stages, stages
    assert all(r["seconds"] >= 0 and r["share"] >= 0 and r["calls"] >= 0 for r in rows)
    linking = [r for r in rows if r["thread"] == "linking"]
    assert abs(sum(r["seconds"] for r in linking) - profile.wall) < 1e-6
    assert abs(sum(r["share"] for r in linking) - 1) < 1e-6
    assert {r["thread"] for r in rows} - {"linking"} <= {"kg-detect", "kg-overlap", "kg-graph"}
    assert any(r["thread"] == "kg-detect" and r["stage"] == "ner" for r in rows)  # the next batch's, detected ahead
    data = profile.to_json()
    assert data["wall_seconds"] == profile.wall and data["stages"] == rows
    assert abs(sum(data["background_busy_seconds"].values())
               - sum(r["seconds"] for r in rows if r["thread"] != "linking")) < 1e-9
    assert "= wall clock" in profile.table()
    linker.link_batch(docs[:1])  # no profile recording now: the finished one is left as it was
    assert profile.rows() == rows
