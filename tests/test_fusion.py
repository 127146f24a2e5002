"""The fusion scorer: fitting learns a vector interaction the scalar features do not show, the saved file loads back
by name and ranks the same way, and missing inputs fall back (no servers: the inputs are synthetic arrays)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking import MentionInput, load_reranker
from kg.linkers.ranking.fusion import SCALARS, VIEWS, FusionReranker, input_index
from kg.linkers.training.fusion_train import FusionSet, fit, save

DIM, K = 24, 6


def _mention(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Scalars that say nothing (noise), one candidate whose text vector matches the context."""
    m = rng.normal(size=DIM).astype(np.float32)
    e = rng.normal(size=(K, DIM)).astype(np.float32)
    gold = int(rng.integers(K))
    e[gold] = m + 0.3 * rng.normal(size=DIM)
    scalars = rng.random((K, len(SCALARS) + 1)).astype(np.float32)
    scalars[:, SCALARS.index("image")] = 0.0  # as without an image model
    return scalars, m, e, gold


def _set(n: int, seed: int) -> FusionSet:
    rng, out = np.random.default_rng(seed), FusionSet()
    for _ in range(n):
        a, m, e, g = _mention(rng)
        out.scalars.append(a)
        out.mention.append(m)
        out.entities.append(e)
        out.gold.append(g)
    return out


def test_fit_learns_the_interaction_and_the_saved_scorer_ranks_alike(tmp_path) -> None:
    train = _set(600, 1)
    train.save(tmp_path / "inputs.npz")  # the cached frozen inputs load back as they were
    again = FusionSet.load(tmp_path / "inputs.npz")
    assert again.gold == train.gold and np.allclose(again.entities[7], train.entities[7], atol=1e-2)
    params, fitted = fit(train, _set(200, 2), k=K, rank=8, hidden=8, epochs=40, patience=5)
    assert fitted["dev_hits@1"] >= 0.8, fitted  # chance is 1/6: only the context/entity interaction tells
    # an input training never saw non-zero keeps no (random) weight
    assert fitted["unseen_inputs"] == ["image"] and not params["w1"][input_index("image", SCALARS, True)].any()
    path = tmp_path / "fusion.json"
    save(path, params, fitted)
    scorer = load_reranker("fusion", path)
    assert isinstance(scorer, FusionReranker) and scorer.version().startswith("fusion-")

    rng = np.random.default_rng(3)
    right = 0
    for _ in range(50):
        a, m, e, g = _mention(rng)
        cands = [Candidate(f"Q{i}", None) for i in range(K)]
        for c, row in zip(cands, a):
            c.features = dict(zip(SCALARS, row[:-1].tolist()))
        mention = MentionInput("m", "x", "x", context_vector=m, text_vectors={f"Q{i}": e[i] for i in range(K)})
        right += scorer.rerank(mention, cands).candidates[0].qid == f"Q{g}"
    assert right >= 40

    # no context vector, no entity vectors: the scalar branch alone ranks, nothing breaks
    bare = scorer.rerank(MentionInput("m", "x", "x"), [Candidate("Q1", None), Candidate("Q2", None)])
    assert [c.qid for c in bare.candidates] == ["Q1", "Q2"] or [c.qid for c in bare.candidates] == ["Q2", "Q1"]


def _candidates(scalars: np.ndarray) -> list[Candidate]:
    cands = [Candidate(f"Q{i}", None) for i in range(len(scalars))]
    for c, row in zip(cands, scalars):
        c.features = dict(zip(SCALARS, row[:-1].tolist()))
    return cands


@pytest.mark.parametrize("layers,relative", [(1, False), (2, True)])
def test_the_saved_scorer_ranks_as_training_scored_it(tmp_path, layers: int, relative: bool) -> None:
    """Relative inputs (each scalar against the best candidate's) and the second layer are computed at link time
    exactly as in training: the loaded file's Hits@1 on the dev mentions is the one training reported."""
    def signal(seed: int, n: int) -> FusionSet:
        data, rng = _set(n, seed), np.random.default_rng(seed)
        for a, g in zip(data.scalars, data.gold):  # the gold has the highest "name", on a per-mention scale
            a[:, SCALARS.index("name")] = rng.random() * a[:, SCALARS.index("name")]
            a[g, SCALARS.index("name")] += 0.1 * rng.random()
            a[:, -1] = np.arange(len(a)) / max(1, len(a) - 1)  # the retrieval rank, as scalar_rows gives it
        return data

    dev = signal(6, 150)
    params, fitted = fit(signal(5, 400), dev, k=K, rank=2, hidden=8, layers=layers, relative=relative, epochs=15,
                         patience=15)
    save(tmp_path / "f.json", params, fitted)
    scorer = FusionReranker.from_file(tmp_path / "f.json")
    assert scorer.relative is relative and ("wh" in scorer.params) is (layers == 2)
    right = 0
    for a, m, e, g in zip(dev.scalars, dev.mention, dev.entities, dev.gold):
        mention = MentionInput("m", "x", "x", context_vector=m, text_vectors={f"Q{i}": e[i] for i in range(K)})
        right += scorer.rerank(mention, _candidates(a)).candidates[0].qid == f"Q{g}"
    # (the file keeps 5 decimals: a near tie may flip)
    assert abs(right / len(dev.gold) - fitted["dev_hits@1"]) <= 2 / len(dev.gold), (right, fitted)


def test_missing_or_foreign_scorer_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no fusion scorer; fit one with `kg train DATASET --reranker fusion"):
        load_reranker("fusion", tmp_path / "absent.json")
    other = tmp_path / "other.json"
    other.write_text('{"scalars": ["name"], "params": {}}')
    with pytest.raises(InputError, match="refit it with `kg train --reranker fusion`"):
        load_reranker("fusion", other)


def test_a_scorer_uses_the_features_it_was_fitted_on_by_name(tmp_path) -> None:
    shipped = FusionReranker.from_file()
    views = VIEWS if shipped.relative else 1
    assert set(shipped.scalars) <= set(SCALARS) and shipped.params["w1"].shape[0] == (len(shipped.scalars) + 1) * views
    # a scorer fitted before a feature existed ("described") loads, and that feature does not move its scores
    older = tuple(k for k in SCALARS if k != "described")
    rng = np.random.default_rng(4)
    params = {"w1": rng.normal(size=(len(older) + 1, 4)), "b1": np.zeros(4), "w2": rng.normal(size=4), "b2": 0.0,
              "p": rng.normal(size=(DIM, 2)), "q": rng.normal(size=(DIM, 2))}
    path = tmp_path / "older.json"
    path.write_text(json.dumps({"scalars": list(older), "nil_threshold": None, "meta": {},
                                "params": {k: np.asarray(v).tolist() for k, v in params.items()}}))
    scorer = FusionReranker.from_file(path)
    assert scorer.scalars == older
    cands = [Candidate(f"Q{i}", None) for i in range(3)]
    for c in cands:
        c.features = {k: float(rng.random()) for k in SCALARS}
    mention = MentionInput("m", "x", "x", context_vector=rng.normal(size=DIM).astype(np.float32))
    before = scorer.scores(mention, cands)
    for c in cands:
        c.features["described"] = 1.0 - c.features["described"]
    assert np.allclose(before, scorer.scores(mention, cands))


def test_kg_train_scorer_fusion_is_the_fusion_trainer(tmp_path) -> None:
    """The issue's spelling (`kg train --scorer fusion`) reaches the fusion trainer: its own check of the splits."""
    from click.testing import CliRunner

    from kg.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "wikimel", "--scorer", "fusion", "--dev-split", "train", "--seeds", "2",
                                      "--out", str(tmp_path / "f.json")])
    assert result.exit_code == 2 and "the fusion scorer stops early on the dev split" in result.output


def test_an_input_fitted_without_has_no_weight_and_moves_no_score(tmp_path) -> None:
    """`kg train --reranker fusion --without popularity`: the input is 0 in training, its first-layer rows are 0 in
    the file, and a candidate's popularity no longer changes its score (the shipped scorer is fitted so)."""
    train, dev = _set(300, 7), _set(100, 8)
    train.without(["popularity"])
    dev.without(["popularity"])
    assert not any(a[:, SCALARS.index("popularity")].any() for a in train.scalars)
    params, fitted = fit(train, dev, k=K, rank=2, hidden=8, epochs=3, patience=3)
    assert "popularity" in fitted["unseen_inputs"]
    assert not params["w1"][input_index("popularity", SCALARS, True)].any()
    save(tmp_path / "f.json", params, fitted)
    for scorer in (FusionReranker.from_file(tmp_path / "f.json"), FusionReranker.from_file()):
        rng = np.random.default_rng(9)
        cands = _candidates(rng.random((K, len(SCALARS) + 1)).astype(np.float32))
        mention = MentionInput("m", "x", "x", context_vector=rng.normal(size=scorer.dim).astype(np.float32))
        before = scorer.scores(mention, cands)
        for c in cands:
            c.features["popularity"] = 1.0 - c.features["popularity"]
        assert np.allclose(before, scorer.scores(mention, cands))


def test_without_is_for_the_fusion_scorer_only(tmp_path) -> None:
    from click.testing import CliRunner

    from kg.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "wikimel", "--without", "popularity", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and "--without leaves inputs out of the fusion scorer only" in result.output
    result = CliRunner().invoke(cli, ["train", "wikimel", "--scorer", "fusion", "--without", "fame",
                                      "--out", str(tmp_path / "f.json")])
    assert result.exit_code == 2 and "'fame' is not one of" in result.output


def test_auto_ranks_given_spans_with_fusion_unless_they_carry_an_input_it_never_saw() -> None:
    """The default method: given spans by the fusion scorer; a given span with an image feature (an image model
    configured; the shipped scorer saw no image) by the features weights, which weigh it; detected spans by the
    learned model. Each mention gets its own reranker's ranking."""
    from kg.linkers.ranking.auto import AutoReranker
    from kg.linkers.ranking.base import Ranking
    from kg.linkers.ranking.features import FeatureReranker

    class Marker:
        name = "learned"

        def rerank_many(self, items):
            return [Ranking(list(reversed(c)), trace={"by": "learned"}) for _, c in items]

    fusion = FusionReranker.from_file()
    features = FeatureReranker({"name": 1.0, "image": 5.0})
    auto = AutoReranker(fusion, Marker(), features)
    assert auto.unseen == {"image"} and auto.interaction_queries is not None

    def cands(image: float) -> list[Candidate]:
        out = [Candidate("Q1", "a"), Candidate("Q2", "b")]
        out[0].features = {"name": 1.0, "exact": 1.0, "context": 0.6}
        out[1].features = {"name": 0.5, "context": 0.1, "image": image}
        return out

    plain = MentionInput("p", "a", "a")
    pictured = MentionInput("i", "a", "a")
    detected = MentionInput("d", "a", "a", detector="ner")
    rankings = auto.rerank_many([(plain, cands(0.0)), (pictured, cands(0.9)), (detected, cands(0.0))])
    assert rankings[0].candidates[0].qid == "Q1" and "ranked_by" not in rankings[0].trace
    assert rankings[1].candidates[0].qid == "Q2"  # 0.5 + 5 * 0.9 against 1.0: the image decided
    assert rankings[1].trace["ranked_by"].startswith("features (inputs the fusion scorer was fitted without: image")
    assert rankings[2].trace == {"by": "learned"}
    assert auto.wants_interactions(plain) and not auto.wants_interactions(detected)
