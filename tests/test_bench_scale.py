"""Smoke test of bench/scale.py (issue #29): one small size end to end on the throw-away servers it starts itself,
so the scale benchmark keeps running as the code changes. Its figures are not checked against targets (those are
bench/ figures, README "Scale benchmark"); what is checked is that every step ran on every entity and that every
process was measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from qdrant_cluster import qdrant_binary

from kg.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]

needs_qdrant = pytest.mark.skipif(not qdrant_binary().is_file(), reason=f"no Qdrant server binary at {qdrant_binary()}; "
                                  "`bash scripts/services.sh install` fetches it")

SIZE = 3000  # the --sizes 20000 quick mode takes ~2 minutes on the busy 2-core machine; this keeps the suite short


def test_static_text_model_is_refused_on_ray_before_anything_opens(tmp_path: Path) -> None:
    """`kg index --text-model static` encodes in this process; Ray's actors load the configured model."""
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "index", "--text-model", "static",
                                      "--engine", "ray"])
    assert result.exit_code == 2
    assert "--text-model static runs with --engine local only" in result.output
    assert not (tmp_path / "home").exists()


def test_generated_copies_never_share_a_qid() -> None:
    """bench/ingest.py's copies past the 1000th once reused earlier copies' Q-ids (n*1000+k = (n+1)*1000+k-1000),
    so a "3M" dump held 2.41M entities and rewrote the rest; every copy's numbers must be its own, and the first
    1000 copies keep the numbering that earlier dumps (and their figures) used."""
    sys.path.insert(0, str(ROOT / "bench"))
    import ingest as generator  # bench/ingest.py

    numbers = sorted({n for _, ns in generator.base_templates() for n in ns})
    copies = 2100  # past the second block of 1000, as a 1.2M-entity dump is
    seen = {generator.copy_number(n, k) for n in numbers for k in range(copies)}
    assert len(seen) == len(numbers) * copies
    assert all(generator.copy_number(n, k) == n * 1000 + k for n in numbers[:50] for k in (0, 1, 999))


@pytest.mark.servers  # it starts its own servers
@pytest.mark.models  # and loads MiniLM
@needs_qdrant
def test_scale_benchmark_measures_every_step_and_process(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", str(SIZE), "--queries", "60",
                           "--documents", "3", "--keep", str(tmp_path), "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["ingest"]["out"]["entities"] == SIZE
    index = result["index"]["out"]
    assert index["entities"] == SIZE
    # --text-model static encoded the entities that have a text (most); 456 of the 574 fixture items have a name
    for name, share in (("text", 0.9), ("names", 0.75)):
        assert index["indexes"][name]["seen"] == SIZE
        assert index["indexes"][name]["encoded"] >= share * SIZE, name
    query = result["query"]["out"]
    assert query["lookup"]["queries"] == 60
    assert query["lookup"]["in_top10"]["label"] >= 0.8  # the generated names are found: the KB is what was asked
    assert query["link"]["mentions"] == 30
    assert query["link"]["hits_at_1"] >= 0.5
    for process in ("kg", "arcadedb", "qdrant"):
        assert result["peak_rss"][process] > 10 * 2**20, process
    assert result["disk"]["arcadedb"] > 0 and result["disk"]["qdrant"] > 0
    assert set(report["projection"]) == {f"{t}M on {m}" for t in (33, 115) for m in (1, 4, 16)}
    assert "MEASURED" in done.stdout and "PROJECTION (not measured)" in done.stdout
    assert not list(tmp_path.glob("*.partial"))
