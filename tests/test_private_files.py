"""Private by default: everything kg creates under KG_HOME (the home itself, the embedded graph server's files,
Qdrant's local storage, caches, ingest error files, logs) is the owner's alone, whatever the umask it runs under."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env, server_config

from kg.cli.main import cli
from kg.kgstore import embedded

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_KB = ROOT / "samples" / "kb" / "fb15k-sample.jsonl.gz"
NEWS = ROOT / "samples" / "corpus" / "news.jsonl"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """200 entities of the sample KB and one bad line (so that an ingest error file is written)."""
    with gzip.open(SAMPLE_KB, "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(200)]
    path = tmp_path / "kb.jsonl"
    path.write_text("".join(lines) + '{"qid": "Q1", "label": \n', encoding="utf-8")
    return path


@pytest.fixture
def shared_umask():
    """The permissive umask many systems give users (0002): kg must not rely on a strict one."""
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def exposed(home: Path) -> list[str]:
    """Every path under `home` (and `home` itself) that its group or other users may read, write or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {stat.filemode(mode)}")
    return found


def run_all(home: Path, env: dict[str, str], kb: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["ingest", str(kb), "--workers", "1"], ["index"],
                 ["link", str(NEWS), "--out", str(tmp_path / "links.jsonl")]):
        res = runner.invoke(cli, ["--home", str(home), *args], env=env)
        assert res.exit_code == (3 if args[0] == "ingest" else 0), (args, res.output)  # 3: a bad line recorded
    assert list((home / "ingest-errors").iterdir())  # the bad line was recorded under the home


@pytest.mark.servers  # starts the embedded ArcadeDB server (a JVM) itself
def test_the_embedded_default_keeps_kg_home_private(kb: Path, tmp_path: Path, shared_umask) -> None:
    home = tmp_path / "kghome"
    try:
        run_all(home, {"KG_GRAPH_URI": "", "KG_QDRANT_URL": ""}, kb, tmp_path)
        assert (home / "qdrant").is_dir() and (home / "graph" / "databases").is_dir()
        assert exposed(home) == [], "\n".join(exposed(home))
    finally:
        embedded.stop_server(home)


def test_the_server_set_up_keeps_kg_home_private(servers, clean_graph, kb: Path, tmp_path: Path,
                                                 shared_umask) -> None:
    cfg = server_config(servers, tmp_path / "kghome", "t_private_")
    cfg.home.mkdir()
    cfg.home.chmod(0o775)  # made open by hand (or by an older kg): narrowed when kg uses it
    run_all(cfg.home, cli_env(cfg), kb, tmp_path)
    assert exposed(cfg.home) == [], "\n".join(exposed(cfg.home))
