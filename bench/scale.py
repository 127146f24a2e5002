"""Scale benchmark (issue #29): how each cost of kg grows with the KB, measured at several sizes in one run.

For each --sizes N it builds a Wikidata-layout dump of N entities with bench/ingest.py's generator (re-numbered
real fixture entities; copies after the first get distinct names, "name (qualifier)", the qualifiers being the
open-world KB's real labels, so a larger KB is not just more namesakes of 574 names), starts throw-away Qdrant and
ArcadeDB servers with scripts/services.sh, and measures, step by step:
  1. `kg ingest` of the dump: entities/s, the graph server's share of the CPU time the step used, and the CPU ms
     per entity of kg and both servers together (which a machine busy with other work does not inflate);
  2. `kg index --text --names --words --text-model static` (the distilled static text encoder, so it finishes on
     two cores; `--text-model model` for MiniLM), then Qdrant's time to settle its indexes;
  3. name lookup (`NameLookup.by_name`, bench/name_lookup.py's measurement): p50/p95 over labels, aliases and
     one-typo labels of random entities of the KB;
  4. linking throughput (`Linker`, method features, context cascade, spans given, no graph writes) on a fixed
     small document set: the same documents at every size, built from entities every size holds;
and, for every step, the peak RSS of each process involved: kg's process tree (sampled), the ArcadeDB JVM and
Qdrant (VmRSS sampled every 0.25 s while the step runs), plus each server's disk use at the end.

Every size is compared with the smallest size of the same run (ratios), and the costs are projected to 33M and
115M entities on --machines machines: a PROJECTION, printed apart and labelled, whose assumptions it prints.

    python bench/scale.py --sizes 100000 1000000 3000000 [--keep DIR] [--json PATH]
    python bench/scale.py --sizes 20000                                  # quick mode (the smoke test)

`KG_SERVICES_ARCADEDB_HEAP` (default 2g) sets the graph server's -Xmx.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import ingest as generator  # noqa: E402  (bench/ingest.py: the dump generator)

SERVICES = ROOT / "scripts" / "services.sh"
KG = generator.KG
TARGETS = (33_000_000, 115_000_000)
FIXED_DOCS_FROM = 20_000  # the linking documents name entities among the first 20k, which every size holds
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------- processes
def proc_status(pid: int, key: str) -> int:
    """A /proc/PID/status size (VmRSS, VmHWM) in bytes; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


@dataclass
class Step:
    """One measured step: wall seconds, CPU seconds and peak RSS (bytes) per process, and the step's JSON output."""

    seconds: float
    cpu: dict[str, float]
    peak_rss: dict[str, int]
    peak_anon: dict[str, int]  # of the servers: RssAnon, their own memory (VmRSS also counts mapped file pages)
    out: dict[str, Any] = field(default_factory=dict)


def run_step(cmd: list[str], env: dict[str, str], servers: dict[str, int], log: Path, timeout: float) -> Step:
    """Runs `cmd` (which prints one JSON document) while sampling its process tree and the servers."""
    cpu_before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    kg_before = children_cpu()
    peak = {"kg": 0, **{name: 0 for name in servers}}
    anon = {name: 0 for name in servers}
    start = time.perf_counter()
    with open(log, "ab") as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        try:
            while proc.poll() is None:
                peak["kg"] = max(peak["kg"], generator.tree_rss(proc.pid))
                for name, pid in servers.items():
                    peak[name] = max(peak[name], proc_status(pid, "VmRSS"))
                    anon[name] = max(anon[name], proc_status(pid, "RssAnon"))
                if time.perf_counter() - start > timeout:
                    raise SystemExit(f"{' '.join(cmd[:3])} still running after {timeout:.0f} s: killed (log: {log})")
                time.sleep(0.25)
        finally:  # a timeout, Ctrl-C or SIGTERM leaves no step running against servers about to stop
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}); its log: {log}")
    cpu = {"kg": children_cpu() - kg_before, **{n: cpu_seconds(p) - cpu_before[n] for n, p in servers.items()}}
    return Step(seconds, cpu, peak, anon, json.loads(text) if text.strip() else {})


# ------------------------------------------------------------------------------------------------- servers
def start_servers(state: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Throw-away Qdrant + ArcadeDB from scripts/services.sh: the kg environment that points at them, and pids."""
    env = {**os.environ, "KG_SERVICES_DIR": str(state), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(SERVICES), "start"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scripts/services.sh start failed: {done.stderr[-2000:]}")
    given: dict[str, str] = {}
    for line in Path(done.stdout.strip()).read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        given[key] = value.strip("'")
    kg_env = {"KG_GRAPH_URI": given["KG_TEST_GRAPH_URI"], "KG_GRAPH_USER": given["KG_TEST_GRAPH_USER"],
              "KG_GRAPH_PASSWORD": given["KG_TEST_GRAPH_PASSWORD"], "KG_GRAPH_DATABASE": given["KG_TEST_GRAPH_DATABASE"],
              "KG_QDRANT_URL": given["KG_TEST_QDRANT_URL"], "KG_QDRANT_GRPC_PORT": given["KG_TEST_QDRANT_GRPC_PORT"]}
    pids = {"arcadedb": int((state / "arcadedb.pid").read_text()), "qdrant": int((state / "qdrant.pid").read_text())}
    return kg_env, pids


def stop_servers(state: Path) -> None:
    subprocess.run(["bash", str(SERVICES), "stop", str(state)], capture_output=True)


# ------------------------------------------------------------------------------------------------- probe
def generated(i: int, templates: list, names: list[str]) -> dict:
    """Entity i of the generated dump as qid, English label, aliases and description (None: no English label)."""
    doc = json.loads(generator.entity_line(templates, i, names))
    label = (doc.get("labels") or {}).get("en", {}).get("value")
    return {"qid": doc["id"], "label": label,
            "aliases": [a["value"] for a in (doc.get("aliases") or {}).get("en", [])],
            "description": (doc.get("descriptions") or {}).get("en", {}).get("value") or ""}


def probe(n: int, queries: int, documents: int, seed: int) -> dict[str, Any]:
    """Name lookup latency and linking throughput against the stores the KG_* environment names (a child process:
    its RSS is the query side's)."""
    import name_lookup  # bench/name_lookup.py: its measurement

    from kg.kgstore.config import load_config
    from kg.kgstore.encoders.text import text_encoder_from_config
    from kg.kgstore.graph import GraphStore
    from kg.kgstore.search import Searcher
    from kg.kgstore.vectors import VectorStore
    from kg.linkers.candidates.names import NameLookup
    from kg.linkers.pipeline import Linker, LinkOptions
    from kg.linkers.records import Document, Mention

    config = load_config()
    vectors, graph = VectorStore.from_config(config), GraphStore.from_config(config)
    settle = name_lookup.wait_green(vectors, config.qdrant.collection, timeout=3600)
    templates, names = generator.base_templates(), generator.qualifiers()

    def draw(rng: random.Random, upto: int, count: int, alias: bool = False) -> list[dict]:
        out: list[dict] = []
        while len(out) < count:
            e = generated(rng.randrange(upto), templates, names)
            if e["label"] and (e["aliases"] or not alias):
                out.append(e)
        return out

    rng = random.Random(seed)
    third = queries // 3
    asked = [("label", e["label"], e["qid"]) for e in draw(rng, n, third)]
    asked += [("alias", rng.choice(e["aliases"]), e["qid"]) for e in draw(rng, n, third, alias=True)]
    asked += [("typo", name_lookup.typo(e["label"], rng), e["qid"]) for e in draw(rng, n, queries - 2 * third)]
    encoder = text_encoder_from_config(config)
    searcher = Searcher(config, vectors, text_encoder=encoder)
    latencies, found = name_lookup.measure(NameLookup(searcher), asked, 10)
    cuts = statistics.quantiles(latencies, n=100)
    lookup = {"queries": len(latencies), "p50_ms": cuts[49], "p95_ms": cuts[94], "mean_ms": statistics.mean(latencies),
              "in_top10": {kind: sum(b for _, b in r) / len(r) for kind, r in found.items()}}

    docs_rng = random.Random(seed + 1)  # the same documents at every size
    docs = []
    for d in range(documents):
        text, mentions = "", []
        for e in draw(docs_rng, min(n, FIXED_DOCS_FROM), 10):
            start = len(text)
            text += f"{e['label']} is {e['description'] or 'mentioned here'}. "
            mentions.append(Mention(f"doc{d}#{start}-{start + len(e['label'])}", start, start + len(e["label"]),
                                    e["label"], gold=e["qid"]))
        docs.append(Document(f"doc{d}", text, mentions=mentions))
    linker = Linker(searcher, LinkOptions(method="features", write=False), graph=graph)
    next(iter(linker.link(docs[:1])))  # model load and the static table are not linking time
    start = time.perf_counter()
    results = [r for batch in linker.link(docs) for r in batch]
    seconds = time.perf_counter() - start
    link = {"documents": len(docs), "mentions": len(results), "seconds": seconds,
            "documents_per_s": len(docs) / seconds, "mentions_per_s": len(results) / seconds,
            "hits_at_1": sum(r.qid == r.gold for r in results) / max(1, len(results))}
    linker.close()
    vectors.close()
    graph.close()
    return {"settle_s": settle, "lookup": lookup, "link": link}


# ------------------------------------------------------------------------------------------------- one size
def measure_size(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    dump_dir = args.keep or work
    dump_dir.mkdir(parents=True, exist_ok=True)
    dump = dump_dir / generator.dump_name(f"scale-{n}", n, ".json.gz")
    generator.cached_dump(dump, lambda path: generator.build_dump(path, n, "gz", distinct_names=True))
    state, home = work / f"services-{n}", work / f"home-{n}"
    log = work / f"kg-{n}.log"
    kg_env, servers = start_servers(state)
    try:
        env = {**os.environ, **kg_env, "KG_HOME": str(home), "KG_PROGRESS_EVERY": "60"}
        subprocess.run([KG, "migrate"], env=env, check=True, capture_output=True)
        ingest = run_step([KG, "ingest", str(dump), "--json", "--workers", str(args.workers)], env, servers, log,
                          args.timeout)
        print(f"  {n:,}: ingest {ingest.seconds:,.0f} s, {n / ingest.seconds:,.0f} entities/s", flush=True)
        index = run_step([KG, "index", "--text", "--names", "--words", "--text-model", args.text_model, "--json"],
                         env, servers, log, args.timeout)
        print(f"  {n:,}: index {index.seconds:,.0f} s, {n / index.seconds:,.0f} entities/s", flush=True)
        query = run_step([sys.executable, __file__, "--probe", str(n), "--queries", str(args.queries),
                          "--documents", str(args.documents), "--seed", str(args.seed)], env, servers, log,
                         args.timeout)
        result = {
            "entities": n, "dump_mb": dump.stat().st_size / 1e6,
            "ingest": asdict(ingest), "index": asdict(index), "query": asdict(query),
            "hwm": {name: proc_status(pid, "VmHWM") for name, pid in servers.items()},
            "disk": {"arcadedb": du(state / "arcadedb" / "databases"), "qdrant": du(state / "qdrant" / "storage")},
            "graph_out_of_memory": "OutOfMemoryError" in (state / "arcadedb.log").read_text(errors="replace"),
        }
        if result["graph_out_of_memory"]:
            print(f"  {n:,}: the graph server ran out of heap (raise KG_SERVICES_ARCADEDB_HEAP)", flush=True)
    finally:
        stop_servers(state)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    ing = result["ingest"]
    ingested = ing["out"].get("entities", n)
    result["ingest_per_s"] = ingested / ing["seconds"]
    result["graph_cpu_share"] = ing["cpu"]["arcadedb"] / max(1e-9, sum(ing["cpu"].values()))
    result["index_per_s"] = n / index.seconds
    steps = (ing, result["index"], result["query"])
    result["peak_rss"] = {name: max(s["peak_rss"][name] for s in steps) for name in ("kg", "arcadedb", "qdrant")}
    result["peak_anon"] = {name: max(s["peak_anon"][name] for s in steps) for name in ("arcadedb", "qdrant")}
    return result


# ------------------------------------------------------------------------------------------------- report
MiB = 2**20


def row(r: dict[str, Any]) -> dict[str, float]:
    """The figures the table and the ratios compare."""
    q = r["query"]["out"]
    return {
        "ingest ent/s": r["ingest_per_s"], "graph CPU %": 100 * r["graph_cpu_share"],
        "ingest CPU ms/ent": 1000 * sum(r["ingest"]["cpu"].values()) / r["entities"],
        "index ent/s": r["index_per_s"], "index CPU ms/ent": 1000 * sum(r["index"]["cpu"].values()) / r["entities"],
        "settle s": q["settle_s"],
        "lookup p50 ms": q["lookup"]["p50_ms"], "lookup p95 ms": q["lookup"]["p95_ms"],
        "link docs/s": q["link"]["documents_per_s"], "link Hits@1": q["link"]["hits_at_1"],
        "kg RSS MiB": max(r[s]["peak_rss"]["kg"] for s in ("ingest", "index", "query")) / MiB,
        "ArcadeDB RSS MiB": r["peak_rss"]["arcadedb"] / MiB, "ArcadeDB anon MiB": r["peak_anon"]["arcadedb"] / MiB,
        "Qdrant RSS MiB": r["peak_rss"]["qdrant"] / MiB, "Qdrant anon MiB": r["peak_anon"]["qdrant"] / MiB,
        "ArcadeDB disk MB": r["disk"]["arcadedb"] / 1e6, "Qdrant disk MB": r["disk"]["qdrant"] / 1e6,
    }


def table(results: list[dict[str, Any]]) -> str:
    rows = [row(r) for r in results]
    base = rows[0]
    head = ["measured"] + [f"{r['entities']:,}" for r in results]
    if len(results) > 1:
        head += [f"x vs {results[0]['entities']:,} @ {r['entities']:,}" for r in results[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in base:
        cells = [f"{r[key]:,.3g}" if key in ("link Hits@1", "ingest CPU ms/ent", "index CPU ms/ent")
                 else f"{r[key]:,.1f}" for r in rows]
        cells += [f"{r[key] / base[key]:.2f}" if base[key] else "-" for r in rows[1:]]
        lines.append("| " + " | ".join([key] + cells) + " |")
    return "\n".join(lines)


def projection(results: list[dict[str, Any]], machines: list[int]) -> dict[str, Any]:
    """Linear (per-entity) and per-shard extrapolations from the measured sizes; see ASSUMPTIONS."""
    big = results[-1]
    small = results[0]
    fig = row(big)
    grow = max(1, big["entities"] - small["entities"])

    def per_entity(key: str, sub: str) -> float:  # marginal bytes per entity (the largest size alone: its mean)
        if len(results) > 1:
            return max(0.0, (big[key][sub] - small[key][sub]) / grow)
        return big[key][sub] / big["entities"]

    qdrant_ram = per_entity("peak_anon", "qdrant")
    disk = {name: per_entity("disk", name) for name in ("arcadedb", "qdrant")}
    p50 = [(math.log10(r["entities"]), row(r)["lookup p50 ms"]) for r in results]
    slope = max(0.0, (p50[-1][1] - p50[0][1]) / (p50[-1][0] - p50[0][0])) if len(p50) > 1 else 0.0
    out: dict[str, Any] = {}
    for target in TARGETS:
        for m in machines:
            shard = target / m
            out[f"{target // 1_000_000}M on {m}"] = {
                "ingest_hours (one graph writer)": target / fig["ingest ent/s"] / 3600,
                "index_hours": target / (fig["index ent/s"] * m) / 3600,
                "qdrant_anon_ram_gib_per_machine": (big["peak_anon"]["qdrant"]
                                                    + qdrant_ram * (shard - big["entities"])) / 2**30,
                "graph_disk_gb": disk["arcadedb"] * target / 1e9,
                "qdrant_disk_gb_per_machine": disk["qdrant"] * shard / 1e9,
                "lookup_p50_ms": p50[-1][1] + slope * (math.log10(shard) - p50[-1][0]),
                "link_docs_per_s": fig["link docs/s"] * m,
            }
    return out


ASSUMPTIONS = """PROJECTION (not measured): per-entity linear costs are ingest time (one graph writer: more machines do
not speed up transactional `kg ingest`; a first full load goes through `kg export neo4j-bulk`), index time (encoding
spread over machines by `--engine ray`, assumed linear in workers), Qdrant RAM (its own, RssAnon: mapped files are
page cache) and disk per shard (the marginal bytes per entity between the smallest and largest measured size, Qdrant
sharded evenly over the machines, one replica) and
graph disk (one graph holding every entity). Per-shard costs: name lookup p50 is taken at a shard of target/N
entities, extrapolated linearly in log10(entities) from the measured sizes, never below the largest size's
(Qdrant queries the shards in parallel; the network hop is not included). Linking throughput is per machine and independent of the KB size beyond what the
measured sizes show, so N machines link N times as fast. ArcadeDB RAM is its JVM heap (bounded by -Xmx), not
projected."""


def print_projection(proj: dict[str, Any]) -> None:
    keys = list(next(iter(proj.values())))
    print("\n| PROJECTION | " + " | ".join(proj) + " |")
    print("|" + "---|" * (len(proj) + 1))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{v[key]:,.1f}" for v in proj.values()) + " |")
    print(ASSUMPTIONS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000])
    ap.add_argument("--keep", type=Path, help="directory to keep the generated dumps in (reused when present)")
    ap.add_argument("--workers", type=int, default=0, help="kg ingest --workers (0: its default, one per core)")
    ap.add_argument("--text-model", choices=["static", "model"], default="static", help="kg index --text-model")
    ap.add_argument("--queries", type=int, default=300, help="name lookups per size")
    ap.add_argument("--documents", type=int, default=20, help="linking documents (10 mentions each)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--machines", type=int, nargs="+", default=[1, 4, 16], help="machine counts to project to")
    ap.add_argument("--timeout", type=float, default=6 * 3600, help="give up on a step after this many seconds")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here as JSON ('-': stdout)")
    ap.add_argument("--probe", type=int, help=argparse.SUPPRESS)  # the child that measures lookup and linking
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # servers are stopped on the way out
    if args.probe is not None:
        print(json.dumps(probe(args.probe, args.queries, args.documents, args.seed)))
        return
    if sorted(args.sizes) != args.sizes:
        raise SystemExit("--sizes: give the sizes in increasing order (the smallest is the baseline)")
    subprocess.run(["bash", str(SERVICES), "install"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="kg-bench-scale-"))
    results = []
    try:
        for n in args.sizes:
            t = time.perf_counter()
            results.append(measure_size(n, args, work))
            f = row(results[-1])
            print(f"{n:>10,} entities: ingest {f['ingest ent/s']:,.0f}/s, index {f['index ent/s']:,.0f}/s, "
                  f"lookup p50 {f['lookup p50 ms']:.1f} ms, link {f['link docs/s']:.1f} docs/s "
                  f"({time.perf_counter() - t:,.0f} s in all)", flush=True)
    except BaseException:
        print(f"kept for inspection: {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nMEASURED ({os.cpu_count()} cores; text index --text-model {args.text_model}; ratios vs the smallest)")
    print(table(results))
    proj = projection(results, args.machines)
    print_projection(proj)
    if args.json:
        doc = json.dumps({"results": results, "rows": [row(r) for r in results], "projection": proj,
                          "assumptions": ASSUMPTIONS}, indent=1)
        if str(args.json) == "-":
            print(doc)
        else:
            args.json.write_text(doc + "\n")


if __name__ == "__main__":
    main()
