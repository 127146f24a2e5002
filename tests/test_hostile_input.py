"""Issue #17: hostile and unlucky input against the real servers; one test (or a few) per promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.indexers.ingest import IngestOptions, ingest
from kg.kgstore.graph import GraphStore
from kg.kgstore.migrate import ensure_schema
from kg.kgstore.model import point_id
from kg.linkers.corpus import read_jsonl
from kg.linkers.records import BadLine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WD = DATA / "wikidata"


def errors_of(path: Path) -> dict[int, str]:
    return {r["line"]: r["reason"] for r in map(json.loads, path.read_text().splitlines())} if path.exists() else {}


# ------------------------------------------------------------------------------------------------ 8: exact ids
def test_ids_are_exact_and_linking_relation_names_are_refused(graph: GraphStore, tmp_path: Path) -> None:
    q42 = json.loads((WD / "wd_Q42.json").read_text())
    dump = tmp_path / "ids.jsonl"
    p31_newline = {**q42, "id": "Q43", "claims": {"P31\n": q42["claims"]["P31"]}}
    dump.write_text("\n".join(json.dumps(d) for d in [q42, {**q42, "id": "Q42\n"}, p31_newline]) + "\n")
    errors = tmp_path / "errors.jsonl"
    s = ingest(graph, dump, IngestOptions(workers=1, errors_path=errors))
    assert (s.entities, s.errors) == (1, 2) and {2, 3} <= errors_of(errors).keys()
    assert graph.read("MATCH (e:Entity) WHERE e.stub = false RETURN e.qid AS q") == [{"q": "Q42"}]
    assert point_id("Q42\n") != point_id("Q42")

    custom = tmp_path / "custom.jsonl"
    custom.write_text("\n".join(json.dumps(d) for d in [
        {"id": "acme:ok", "label": "fine"},
        {"qid": "Q7\n", "label": "newline qid"},
        {"id": "acme:x\n", "label": "newline id"},
        {"id": "acme:r", "label": "r", "relations": [{"pid": "REFERS_TO", "target": "Q42"}]},
        {"id": "acme:h", "label": "h", "relations": [{"pid": "has_mention", "target": "Q42"}]},
        {"id": "acme:p", "label": "p", "relations": [{"pid": "P31\n", "target": "Q42"}]},
        {"id": "acme:t", "label": "t", "types": ["Q5\n"]},
    ]) + "\n")
    errors = tmp_path / "custom-errors.jsonl"
    s = ingest(graph, custom, IngestOptions(workers=1, errors_path=errors))
    assert (s.entities, s.errors) == (1, 6), errors_of(errors)
    assert graph.count("MATCH (:Entity)-[r:REFERS_TO|HAS_MENTION]->() RETURN count(r)") == 0


def test_corpus_images_are_http_urls_or_local_paths(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": "x", "image": url}) for i, url in enumerate([
        "https://example.org/a.png", "ftp://example.org/a.png", "file:///etc/passwd", "gopher://x/y"])) + "\n")
    items = list(read_jsonl(corpus))
    assert not isinstance(items[0], BadLine)
    assert all(isinstance(b, BadLine) and "http" in b.reason for b in items[1:]), items


# ------------------------------------------------------------------------------------------------ 10: no secrets
def kg_main(monkeypatch, capsys, env: dict[str, str], *args: str) -> tuple[int, str]:
    """`kg ARGS` through the real entry point, as a user runs it: (exit code, stdout + stderr)."""
    import sys

    from kg.cli.main import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["kg", *args])
    code = 0  # a command that succeeds returns from main()
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out + out.err


def graph_env(config) -> dict[str, str]:
    return {"KG_HOME": str(config.home), "KG_GRAPH_URI": config.graph.uri, "KG_GRAPH_USER": config.graph.user,
            "KG_GRAPH_PASSWORD": config.graph.password.reveal(), "KG_GRAPH_DATABASE": config.graph.database}


def test_credentials_in_urls_are_never_printed(graph_config, clean_graph, monkeypatch, capsys) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    env = graph_env(graph_config)
    code, out = kg_main(monkeypatch, capsys, {**env, "KG_QDRANT_URL": f"http://kguser:s3cr3t-pw@127.0.0.1:{dead}"},
                        "status")
    assert code == 1 and "cannot reach Qdrant at http://127.0.0.1:" in out and "s3cr3t" not in out, out
    host = graph_config.graph.uri.split("//", 1)[1]
    code, out = kg_main(monkeypatch, capsys, {**env, "KG_GRAPH_URI": f"bolt://root:s3cr3t-pw@{host}"}, "status")
    assert code != 0 and "s3cr3t" not in out and "Traceback" not in out, out
    assert "KG_GRAPH_PASSWORD" in out


# ------------------------------------------------------------------------------------------------ 7: read-only Cypher
def test_read_only_cypher_changes_nothing(graph_config, clean_graph, monkeypatch) -> None:
    from kg.kgstore import console
    from kg.kgstore.console import run_cypher
    from kg.kgstore.errors import InputError

    count = "MATCH (p:Probe) RETURN count(p) AS n"
    with GraphStore.from_config(graph_config) as graph:
        graph.write("UNWIND range(1, 3) AS i CREATE (:Probe {i: i})")
        for hostile in ("RETURN 1 // c\rMATCH (p:Probe) DETACH DELETE p", "INSERT (:Probe {i: 9})",
                        "RETURN 1 // c\u2028MATCH (p:Probe) SET p.i = 0"):
            try:
                run_cypher(graph, hostile)
            except InputError:
                pass
            assert graph.read(count) == [{"n": 3}], hostile
            assert graph.read("MATCH (p:Probe) WHERE p.i = 0 RETURN count(p) AS n") == [{"n": 0}]
        # With the clause guard out of the way, the server-side read-only transaction still keeps the graph intact.
        monkeypatch.setattr(console, "write_clauses", lambda query: [])
        try:
            run_cypher(graph, "MATCH (p:Probe) DETACH DELETE p")
        except InputError:
            pass
        assert graph.read(count) == [{"n": 3}]
        assert run_cypher(graph, "MATCH (p:Probe) DETACH DELETE p", write=True).rows == []
        assert graph.read(count) == [{"n": 0}]


# ------------------------------------------------------------------------------------------------ 2: write-time failures
def custom_line(i: int, **extra) -> str:
    return json.dumps({"id": f"acme:e{i}", "label": f"entity {i}", **extra})


def test_a_line_that_fails_in_the_graph_is_a_recorded_bad_line(graph: GraphStore, tmp_path: Path) -> None:
    lines = [custom_line(i) for i in range(1, 31)]
    bad = {
        5: custom_line(5, label="x" * 300_000),  # passes validation; ArcadeDB fails the commit (index key)
        9: custom_line(9, sitelinks=10**30),  # beyond int64: the driver cannot send it
        14: custom_line(14, label="bad \ud800 text"),  # a lone surrogate cannot be sent as UTF-8
        20: custom_line(20, relations=[{"pid": "designed_by\n", "target": "Q42"}]),
    }
    for n, text in bad.items():
        lines[n - 1] = text
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n")
    errors = tmp_path / "errors.jsonl"
    s = ingest(graph, path, IngestOptions(workers=1, batch_size=100, errors_path=errors))
    assert s.fatal is None and s.status == "partial", s
    assert (s.entities, s.errors) == (26, 4)
    recorded = [json.loads(x) for x in errors.read_text().splitlines()]
    assert sorted(r["line"] for r in recorded) == sorted(bad) and all(r["file"] == str(path) and r["reason"]
                                                                       for r in recorded)
    assert graph.count("MATCH (e:Entity) WHERE e.qid STARTS WITH 'acme:' RETURN count(e)") == 26
    r = ingest(graph, path, IngestOptions(workers=1, batch_size=100, resume=True, errors_path=errors))
    assert r.fatal is None and r.lines_read == 0


def test_format_detection_survives_deep_nesting_and_a_huge_first_line(tmp_path: Path) -> None:
    import tracemalloc

    from kg.indexers.sources import detect_format

    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": "acme:d", "label": "d", "attributes": {"x": ' + "[" * 200_000 + "]" * 200_000 + "}}\n"
                    + custom_line(1) + "\n")
    assert detect_format(deep) == "custom-jsonl"
    huge = tmp_path / "huge.jsonl"
    with open(huge, "w") as f:
        f.write('{"id": "acme:h", "label": "h", "description": "' + "x" * (70 << 20) + '"}\n' + custom_line(1) + "\n")
    tracemalloc.start()
    try:
        assert detect_format(huge) == "custom-jsonl"
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------------------ 1: message sizes
def test_batches_are_sized_by_bytes_and_an_oversized_entity_is_a_bad_line(graph: GraphStore, tmp_path: Path) -> None:
    """2,000 entities of ~10 KB in one default batch are ~20 MB: over the 16 MiB Bolt message limit of ArcadeDB."""
    path = tmp_path / "big.jsonl"
    with open(path, "w") as f:
        for i in range(1, 2001):
            f.write(custom_line(i, description=f"{i} " + "d" * 10_000) + "\n")
        f.write(custom_line(2001, description="D" * (20 << 20)) + "\n")  # one entity over the limit by itself
    errors = tmp_path / "errors.jsonl"
    s = ingest(graph, path, IngestOptions(workers=1, errors_path=errors))  # default batch size
    assert s.fatal is None and (s.entities, s.errors) == (2000, 1), s
    assert "too large" in errors_of(errors)[2001]
    assert graph.count("MATCH (e:Entity) WHERE e.qid STARTS WITH 'acme:' RETURN count(e)") == 2000


def test_link_write_back_stays_under_the_message_limit(graph: GraphStore, tmp_path: Path) -> None:
    """Documents are written in groups sized by bytes; a document too large for one message is a bad line."""
    import threading

    from kg.kgstore.links import write_results
    from kg.linkers.corpus import read_corpus

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "huge", "text": "t" * (20 << 20)}) + "\n"
                      + json.dumps({"id": "small", "text": "Douglas Adams"}) + "\n")
    items = list(read_corpus([corpus]))
    assert isinstance(items[0], BadLine) and "too large" in items[0].reason and items[1].id == "small"

    docs = [{"id": f"d{i}", "text": f"{i}" + "x" * (4 << 20), "image": None, "source": "t"} for i in range(5)]
    mentions = [{"id": f"d{i}#0-1", "doc_id": f"d{i}", "surface": "x", "start": 0, "end": 1, "box": None,
                 "image": None, "status": "NIL", "qid": None, "score": None} for i in range(5)]
    done = threading.Event()

    def run() -> None:
        write_results(graph, docs, mentions, "features", "run1", ["m"])
        done.set()

    threading.Thread(target=run, daemon=True).start()  # 20 MB in one message: ArcadeDB refuses, the driver waits
    assert done.wait(120), "write-back hung"
    assert graph.count("MATCH (d:Document)-[:HAS_MENTION]->(:Mention) RETURN count(d)") == 5


# ------------------------------------------------------------------------------------------------ 3: corrupt input
def test_a_corrupt_gz_never_lets_resume_skip_lines_of_the_repaired_file(graph: GraphStore, tmp_path: Path) -> None:
    import bz2
    import gzip

    text = bz2.decompress((WD / "short_stream.json.bz2").read_bytes())
    good = gzip.compress(text, mtime=0)
    s = ingest(graph, _write(tmp_path / "clean.json.gz", good), IngestOptions(workers=1, batch_size=50))
    assert s.status == "ok"
    clean = graph.read("MATCH (e:Entity) WHERE e.stub = false RETURN e.qid AS q ORDER BY q")
    graph.write("MATCH (n) DETACH DELETE n")
    ensure_schema(graph)

    damaged = bytearray(good)
    for i in range(len(good) // 2, len(good) // 2 + 64, 8):
        damaged[i] ^= 0x5A
    dump = _write(tmp_path / "latest.json.gz", bytes(damaged))
    s = ingest(graph, dump, IngestOptions(workers=1, batch_size=50, errors_path=tmp_path / "e1.jsonl"))
    assert s.status == "failed" and "corrupt" in s.fatal, s
    dump.write_bytes(good)  # the file is replaced, as the message advises
    r = ingest(graph, dump, IngestOptions(workers=1, batch_size=50, resume=True, errors_path=tmp_path / "e2.jsonl"))
    assert r.status == "ok", r
    assert graph.read("MATCH (e:Entity) WHERE e.stub = false RETURN e.qid AS q ORDER BY q") == clean


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------ 5: nothing left behind
def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_sigkilled_ingest_leaves_no_process_behind(graph_config, clean_graph, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "many.jsonl"
    path.write_text("".join(custom_line(i, description="d " * 50) + "\n" for i in range(1, 60_001)))
    env = {**__import__("os").environ, **graph_env(graph_config)}
    proc = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "ingest", str(path),
                             "--workers", "2", "--batch-size", "500"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 60
        while len(_descendants(proc.pid)) < 3 and time.monotonic() < deadline:  # forkserver, tracker, workers
            time.sleep(0.2)
        left = _descendants(proc.pid)
        assert len(left) >= 3, "the ingest never started its workers"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while any(map(_alive, left)) and time.monotonic() < deadline:
        time.sleep(0.2)
    still = [p for p in left if _alive(p)]
    for pid in still:  # do not leave them to the next test
        __import__("os").kill(pid, signal.SIGKILL)
    assert not still, "processes outlived the SIGKILLed ingest"


def test_workers_are_capped_at_the_cores(graph: GraphStore) -> None:
    import os

    s = ingest(graph, WD / "sample_wikidata_items.json.bz2", IngestOptions(workers=64))
    assert s.status == "ok" and s.workers == (os.cpu_count() or 1)


def test_racing_first_commands_record_each_migration_once(graph_config, clean_graph) -> None:
    import threading

    from kg.kgstore.migrate import load_migrations, migrate

    with GraphStore.from_config(graph_config) as g:
        g.write("DROP CONSTRAINT migration_version IF EXISTS")
    stores = [GraphStore.from_config(graph_config) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def first_command(store: GraphStore) -> None:
        barrier.wait()
        try:
            migrate(store)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=first_command, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not failures, failures
        rows = stores[0].read("MATCH (m:Migration) RETURN m.version AS v, count(*) AS n ORDER BY v")
        assert rows == [{"v": m.version, "n": 1} for m in load_migrations()]
    finally:
        for s in stores:
            s.close()


def test_linking_an_empty_corpus_says_so(graph_config, graph, tmp_path: Path, monkeypatch, capsys) -> None:
    from index_helpers import ingest_files

    from kg.indexers.index import Indexer, IndexOptions
    from kg.kgstore.vectors import VectorStore

    ingest_files(graph, tmp_path, WD / "wd_Q42.json")  # a KB to link against (an empty one is refused first)
    vectors = VectorStore.from_config(graph_config)
    try:
        Indexer(graph_config, graph, vectors, IndexOptions(indexes=("names",), explicit=True)).run()
        empty = tmp_path / "empty.jsonl"
        empty.write_text("\n")
        env = {**graph_env(graph_config), "KG_QDRANT_URL": graph_config.qdrant.url,
               "KG_QDRANT_GRPC_PORT": str(graph_config.qdrant.grpc_port),
               "KG_COLLECTION": graph_config.qdrant.collection}
        code, out = kg_main(monkeypatch, capsys, env, "link", str(empty))
        assert code == 2 and "no documents" in out and "empty" in out, out
    finally:
        vectors.delete_collection(graph_config.qdrant.collection)
        vectors.close()


# ------------------------------------------------------------------------------------------------ 4: messages
def _graph_server_signalled_mid_ingest(tmp_path: Path, sig: int) -> tuple[int, str]:
    """`kg ingest` of 200,000 lines on the embedded default, its graph server sent `sig` some batches in: the
    ingest's exit code and stderr."""
    import os
    import time

    from kg.kgstore import embedded

    home = tmp_path / "home"
    path = tmp_path / "many.jsonl"
    path.write_text("".join(custom_line(i, description="d " * 50) + "\n" for i in range(1, 200_001)))
    env = {k: "" for k in os.environ if k.startswith("KG_")}
    proc = _ingest_process(path, {**env, "KG_HOME": str(home), "KG_GRAPH_HEAP": "512m"})
    try:
        deadline = time.monotonic() + 120
        while (state := embedded.read_state(home)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert state is not None, "the embedded server never started"
        time.sleep(8)  # some batches in
        os.kill(state.pid, sig)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.mark.servers  # starts the embedded ArcadeDB server (a JVM) and signals it
def test_graph_server_killed_mid_ingest_is_a_message_with_the_resume_command(tmp_path: Path) -> None:
    import signal

    code, err = _graph_server_signalled_mid_ingest(tmp_path, signal.SIGKILL)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert "lost the graph server" in err and "--resume" in err and "committed" in err, err[-3000:]


def test_an_unwritable_home_is_a_message(tmp_path: Path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"KG_HOME": str(blocker / "home"), "KG_GRAPH_URI": "", "KG_QDRANT_URL": ""}
    code, out = kg_main(monkeypatch, capsys, env, "status")
    assert code == 1 and "KG_HOME" in out and "Traceback" not in out, out


# ------------------------------------------------------------------------------------------------ 9: bounded images
def _png(size: tuple[int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def hostile_image_server():
    """A loopback server: /ok.png, /bomb.png (tiny file, 49 million pixels), /big.png (4000 x 3000), /drip.png
    (one byte every 0.1 s), /to-ftp and /to-ok (redirects). Only ever bound to 127.0.0.1."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = {"/ok.png": _png((64, 48)), "/bomb.png": _png((7000, 7000)), "/big.png": _png((4000, 3000))}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(self.path)
            if self.path in ("/to-ftp", "/to-ok"):
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/x.png" if self.path == "/to-ftp" else "/ok.png")
                self.end_headers()
                return
            body = bodies.get(self.path, bodies["/ok.png"])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path == "/drip.png":
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass
                return
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_image_fetching_is_bounded(hostile_image_server, tmp_path: Path) -> None:
    import time

    from kg.kgstore.images import ImageLoader

    base, hits = hostile_image_server
    # Non-public addresses are refused unless allowed; classified without sending them anything.
    strict = ImageLoader(tmp_path / "strict")
    for url in ("http://127.0.0.1:9/x.png", "http://10.1.2.3/x.png", "http://192.168.0.1/x.png",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/x.png", "http://[fe80::1]/x.png",
                "http://100.64.0.1/x.png", "http://0.0.0.0/x.png"):
        assert strict.refusal(url) and "refused" in strict.refusal(url), url
    assert "http(s)" in strict.refusal("ftp://example.org/x.png")
    assert "refused" in strict.load(f"{base}/ok.png").skip and hits == []

    loader = ImageLoader(tmp_path / "cache", allow_private=True, deadline=1.0)
    assert loader.load(f"{base}/ok.png").ok
    assert loader.load(f"{base}/to-ok").ok  # a redirect to an allowed address is followed
    ftp = loader.load(f"{base}/to-ftp")
    assert not ftp.ok and "http(s)" in ftp.skip
    started = time.monotonic()
    drip = loader.load(f"{base}/drip.png")
    assert not drip.ok and "longer than" in drip.skip and time.monotonic() - started < 5
    bomb = loader.load(f"{base}/bomb.png")
    assert not bomb.ok and "pixels" in bomb.skip
    big = loader.load(f"{base}/big.png")
    assert big.ok and max(big.image.size) <= 1024


def test_a_server_that_stops_answering_is_an_error_not_a_hang(graph_config, clean_graph) -> None:
    """ArcadeDB drops a Bolt message over 16 MiB and never answers: the read timeout turns that into an error."""
    import threading

    store = GraphStore(graph_config.graph.uri, graph_config.graph.user, graph_config.graph.password.reveal(),
                       graph_config.graph.database, read_timeout=3)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            store.write("CREATE (:Probe {text: $text})", text="x" * (20 << 20))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(90)
    assert outcome, "the driver is still waiting for the server"
    assert isinstance(outcome[0], Exception)
    store.close()


# ------------------------------------------------------------------------------------------------ issue 27, item 3
TINY_KB = [
    {"qid": "Q76", "label": "Barack Obama", "aliases": ["Obama"], "description": "44th president of the United States"},
    {"qid": "Q64", "label": "Berlin", "description": "capital and largest city of Germany"},
    {"qid": "Q90", "label": "Paris", "description": "capital and largest city of France"},
]
FAST_LINK = ("--method", "features", "--context", "static")  # no context encoder: the stages under test only


@pytest.fixture(scope="module")
def tiny_kb(servers, graph_driver, tmp_path_factory):
    """Three entities ingested and indexed (text + names, real MiniLM); the CLI environment to link against them."""
    from index_helpers import cli_env, indexed_kb

    cfg = indexed_kb(servers, graph_driver, tmp_path_factory.mktemp("tiny-kb"), TINY_KB, "t_hostile_")
    return cfg, cli_env(cfg)


def _linked(cfg, doc_id: str) -> tuple[str, list[tuple[int, int, str, str | None]]]:
    """A written document's text and its mentions (start, end, surface, linked QID)."""
    with GraphStore.from_config(cfg) as g:
        text = g.read("MATCH (d:Document {id: $id}) RETURN d.text AS t", id=doc_id)[0]["t"]
        rows = g.read("MATCH (:Document {id: $id})-[:HAS_MENTION]->(m:Mention) OPTIONAL MATCH (m)-[:REFERS_TO]->(e) "
                      "RETURN m.start AS s, m.end AS e, m.surface AS surface, e.qid AS q ORDER BY s", id=doc_id)
    return text, [(r["s"], r["e"], r["surface"], r["q"]) for r in rows]


def test_invalid_text_is_repaired_in_place_and_the_run_goes_on(tiny_kb, tmp_path: Path, monkeypatch, capsys,
                                                               caplog) -> None:
    from kg.linkers.corpus import parse_document

    cfg, env = tiny_kb
    broken = "Obama\udc80 met\x00 friends\x1b in Berlin."
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in [
        {"id": "broken", "text": broken, "mentions": [{"start": 0, "end": 6}, {"start": 24, "end": 30}]},
        {"id": "detected", "text": broken},
        {"id": "after", "text": "Obama visited Paris."},
    ]) + "\n")
    code, out = kg_main(monkeypatch, capsys, env, "link", str(corpus), "--detector", "gazetteer", *FAST_LINK)
    assert code == 0 and "Traceback" not in out, out
    repaired = [r.getMessage() for r in caplog.records if "U+FFFD" in r.getMessage()]
    assert len(repaired) == 2 and "'broken'" in repaired[0] and "3 characters" in repaired[0], repaired
    text, mentions = _linked(cfg, "broken")
    assert text == "Obama\ufffd met\ufffd friends\ufffd in Berlin." and len(text) == len(broken)  # offsets kept
    assert mentions == [(0, 6, "Obama\ufffd", mentions[0][3]), (24, 30, "Berlin", "Q64")], mentions
    assert [m[2:] for m in _linked(cfg, "detected")[1]] == [("Obama", "Q76"), ("Berlin", "Q64")]
    assert [m[3] for m in _linked(cfg, "after")[1]] == ["Q76", "Q90"]
    # `kg serve` reads its requests with the same function: repaired there too, never a 500
    assert parse_document({"id": "x", "text": broken}, tmp_path).text == text


def test_kg_serve_repairs_invalid_text_and_refuses_a_nan_threshold(tiny_kb) -> None:
    import httpx
    from test_serve import FAST, serving

    from kg.cli.web.app import ServeSettings

    cfg, _ = tiny_kb
    with serving(cfg, ServeSettings(max_body_bytes=64 << 10, timeout_s=120)) as running:
        with httpx.Client(base_url=running.url, timeout=120) as client:
            def post(**body) -> httpx.Response:  # json.dumps escapes the surrogate and writes NaN
                return client.post("/link", content=json.dumps(body), headers={"content-type": "application/json"})

            res = post(id="s", text="Obama\udc80 flew to Berlin.", options=FAST)
            assert res.status_code == 200, res.text
            assert [(m["surface"], m["qid"]) for m in res.json()["mentions"]] == [("Obama", "Q76"), ("Berlin", "Q64")]
            res = post(id="bad\udc80", text="Obama visited Paris.", options=FAST)  # an id is not repaired
            assert res.status_code == 400 and res.json()["error"]["message"].startswith("id: "), res.text
            res = post(id="t", text="Obama", options={**FAST, "top_k": "many\udc80"})  # no input echoed
            error = res.json()["error"]
            assert res.status_code == 422 and error["message"].startswith("body.options.top_k: "), res.text
            assert error["field"] == "body.options.top_k"
            res = post(id="n", text="Obama visited Paris.", options={**FAST, "nil_threshold": float("nan")})
            assert res.status_code == 400 and "nil_threshold" in res.json()["error"]["message"], res.text


def test_a_document_over_the_ner_limit_is_linked_in_windows(tiny_kb, tmp_path: Path, monkeypatch, capsys) -> None:
    cfg, env = tiny_kb
    head, tail = "Barack Obama spoke in Paris. ", "Later he flew to Berlin."
    text = head + ("It rained. " + " " * 989) * 1_001 + tail  # 1,001,053 characters: over spaCy's 1,000,000
    corpus = tmp_path / "long.jsonl"
    corpus.write_text(json.dumps({"id": "long", "text": text}) + "\n" + json.dumps({"id": "next", "text": head}) + "\n")
    code, out = kg_main(monkeypatch, capsys, env, "link", str(corpus), "--detector", "ner", *FAST_LINK)
    assert code == 0 and "Traceback" not in out, out
    _, mentions = _linked(cfg, "long")
    surfaces = [(s, e, surface) for s, e, surface, _ in mentions]
    berlin = len(text) - len("Berlin.")
    assert (0, 12, "Barack Obama") in surfaces and (berlin, berlin + 6, "Berlin") in surfaces, surfaces
    assert [m[2] for m in _linked(cfg, "next")[1]] == ["Barack Obama", "Paris"]


def test_a_line_of_another_format_in_a_dump_is_a_recorded_bad_line(graph: GraphStore, tmp_path: Path) -> None:
    q42 = (WD / "wd_Q42.json").read_text()
    dump = tmp_path / "mixed.jsonl"
    dump.write_text("\n".join([json.dumps(json.loads(q42)), custom_line(1), json.dumps({"qid": "Q7", "label": "x"}),
                               json.dumps({"id": "L7", "type": "lexeme"})]) + "\n")
    errors = tmp_path / "errors.jsonl"
    s = ingest(graph, dump, IngestOptions(workers=1, errors_path=errors))
    assert (s.entities, s.skipped, s.errors) == (1, 1, 2), s
    assert errors_of(errors).keys() == {2, 3} and "another format" in errors_of(errors)[2], errors_of(errors)


def _ingest_process(path: Path, env: dict[str, str]):
    import os
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "ingest", str(path),
                             "--workers", "1", "--batch-size", "500"], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])


def _committed(graph: GraphStore) -> int:
    return graph.read("MATCH (c:IngestCheckpoint) RETURN max(c.line) AS n")[0]["n"] or 0


def test_ctrl_c_during_ingest_prints_the_committed_line_and_the_resume_command(graph_config, graph, tmp_path) -> None:
    import re
    import signal
    import time

    path = tmp_path / "many.jsonl"
    path.write_text("".join(custom_line(i, description="d " * 50) + "\n" for i in range(1, 200_001)))
    proc = _ingest_process(path, graph_env(graph_config))
    try:
        deadline = time.monotonic() + 120
        while _committed(graph) < 1000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    found = re.search(r"up to line ([\d,]+) are committed", err)
    assert found and f"kg ingest {path} --resume" in err, err[-3000:]
    assert int(found.group(1).replace(",", "")) == _committed(graph) >= 1000


@pytest.mark.servers  # starts the embedded ArcadeDB server (a JVM) and signals it
def test_graph_server_stopped_mid_ingest_is_reported_as_stopped(tmp_path: Path) -> None:
    import signal

    code, err = _graph_server_signalled_mid_ingest(tmp_path, signal.SIGTERM)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert "disk full" not in err and "stopped" in err and "--resume" in err and "committed" in err, err[-3000:]


# ------------------------------------------------------------------------------------------------ issue 27, item 6
def test_an_http_graph_uri_is_a_message_naming_the_schemes(monkeypatch, capsys, tmp_path: Path) -> None:
    env = {"KG_HOME": str(tmp_path / "home"), "KG_GRAPH_URI": "http://127.0.0.1:2480", "KG_QDRANT_URL": ""}
    code, out = kg_main(monkeypatch, capsys, env, "status")
    assert code != 0 and "Traceback" not in out and "aiohttp" not in out, out
    assert "http://127.0.0.1:2480" in out and "bolt://" in out and "neo4j://" in out, out


def test_a_nan_or_out_of_range_threshold_is_a_message(tiny_kb, tmp_path: Path, monkeypatch, capsys) -> None:
    from kg.kgstore.errors import InputError
    from kg.linkers.config import LinkConfig

    _, env = tiny_kb
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "d", "text": "Obama visited Paris."}) + "\n")
    for option, value in (("--nil-threshold", "nan"), ("--nil-threshold", "inf"), ("--llm-margin", "nan"),
                          ("--llm-margin", "-1")):
        code, out = kg_main(monkeypatch, capsys, env, "link", str(corpus), option, value, *FAST_LINK)
        assert code == 2 and option in out and "Traceback" not in out, (option, value, out)
    for option in ("--nil-detected", "--nil-gazetteer"):  # click's FloatRange(0, 1) lets NaN through
        code, out = kg_main(monkeypatch, capsys, env, "train", str(corpus), "--reranker", "learned", option, "nan",
                            "--out", str(tmp_path / "m.json"))
        assert code == 2 and option in out and "nan is not a number" in out and "Traceback" not in out, (option, out)
    with pytest.raises(InputError, match="nil_threshold"):  # the request model of `kg serve`'s /link builds this too
        LinkConfig(nil_threshold=float("nan"))
    code, out = kg_main(monkeypatch, capsys, {**env, "KG_LLM_TIMEOUT": "nan"}, "config")
    assert code == 1 and "KG_LLM_TIMEOUT" in out and "Traceback" not in out, out


def test_a_directory_named_kg_toml_is_a_message(tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    (home / "kg.toml").mkdir(parents=True)
    code, out = kg_main(monkeypatch, capsys, {"KG_HOME": str(home)}, "config")
    assert code == 1 and "kg.toml" in out and "not a file" in out, out


def test_llm_error_bodies_are_redacted_before_they_are_stored() -> None:
    from llm_server import StubServer

    from kg.kgstore.config import Secret
    from kg.linkers.ranking.llm import CallLog, LLMClient, LLMError, LLMSettings

    def echo(n, body, headers):  # a proxy that echoes the request's headers in its error body
        return 401, {"error": f"invalid key, got Authorization: {headers['authorization']}",
                     "debug": {"api_key": "sk-other-9f8e7d6c5b4a", "token": "Bearer abcdef0123456789abcdef"}}

    with StubServer(echo) as server:
        settings = LLMSettings(base_url=server.base_url, model="m", timeout=5.0, retries=0, backoff=0.01,
                               concurrency=1, max_tokens=8, api_key=Secret("kg-very-secret-key-42"))
        with LLMClient(settings) as client:
            log = CallLog()
            with pytest.raises(LLMError) as info:
                client.chat([{"role": "user", "content": "hi"}], log=log)
    stored = str(info.value) + " ".join(log.errors)
    assert "HTTP 401" in stored and "invalid key" in stored, stored
    for secret in ("kg-very-secret-key-42", "sk-other-9f8e7d6c5b4a", "abcdef0123456789abcdef"):
        assert secret not in stored, stored


def test_the_first_ctrl_c_of_an_ingest_is_a_request_and_the_second_interrupts() -> None:
    """The ingest loop checks the request between lines; a KeyboardInterrupt raised by the first Ctrl-C could land in
    the driver's finalisers, where Python only prints it, and the ingest would run on to exit 0."""
    import os
    import signal

    from kg.indexers.ingest import _ctrl_c_as_a_request

    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_as_a_request() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()  # no KeyboardInterrupt: the handler ran
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
