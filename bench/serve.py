"""`kg serve` throughput and latency against the in-process linker, on the stores configured by KG_* (e.g. the
demo's: `bash scripts/demo.sh`, then KG_HOME=.kg-demo).

Measures in one run, on the same documents (the sample news corpus, each request one document, nothing written):
  1. in process, one document per `link_batch` call, one after another: what a program calling the library once per
     document gets (the baseline), documents/s and p50/p95 latency;
  2. `kg serve` started as its own process, POST /link from 1, 4 and 16 concurrent clients: requests/s, p50/p95
     latency, and requests/s as a ratio of the baseline's documents/s. Concurrent requests share encoder batches
     (the server's /health reports how many batches it ran and the largest);
  3. peak resident memory (RSS) of the `kg serve` process and of this one (which linked in process), in MiB.

`--latency`: instead, the latency of one /link of a fixed 55-word news text naming entities of the demo KB (TEXT_55),
one client after warm-up, median and p95 of --requests calls, with the link settings of a plain request (those of
KG_* and kg.toml: pass no --detector/--context/--method to keep them); with `--profile`, first the same text linked in
process, where its time goes stage by stage (`kgstore.profiling`), per call. Runs on the embedded default (Qdrant
local mode: the server is started after the in-process part has closed the store, which admits one process) as well
as with KG_QDRANT_URL.

    python bench/serve.py [--requests 96] [--clients 1 4 16] [--detector hybrid] [--context cascade] [--spans]
    python bench/serve.py --latency [--requests 30] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT / "samples" / "corpus" / "news.jsonl"
# 55 words, the entities of the news corpus (all in the demo KB) in one text, as a pasted news paragraph
TEXT_55 = ("Barack Obama flew from Washington, D.C. to Chicago to meet supporters of the Democratic Party. Steven "
           "Spielberg and Tom Hanks joined him before a drama shot in London and Berlin. Paul McCartney said The "
           "Beatles never planned a tour of Japan or Canada, while Leonardo DiCaprio and Brad Pitt promoted a "
           "Tarantino film in Rome.")
WARM_UP = 3  # requests before the timed ones: the first ones load models and fill caches


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def records(spans: bool) -> list[dict]:
    """The corpus's documents as request bodies (mentions only with --spans)."""
    out = []
    for line in NEWS.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            out.append({"text": d["text"], **({"mentions": [{k: m[k] for k in ("start", "end")}
                                                             for m in d.get("mentions") or [] if "start" in m]}
                                              if spans and d.get("mentions") else {})})
    return out


def in_process(bodies: list[dict], n: int, settings: dict) -> dict:
    from kg.cli.context import AppContext
    from kg.cli.web.service import KgService
    from kg.kgstore.config import load_config

    app = AppContext(load_config())
    service = KgService(app)
    linker = service.linker(service.link_options(settings))
    linker.link_batch([service.document({**bodies[0], "id": "warm"})])  # first call pays for lazy loads
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        doc = service.document({**bodies[i % len(bodies)], "id": f"bench-{i}"})
        t0 = time.perf_counter()
        linker.link_batch([doc])
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    app.close()
    return {"per_s": n / seconds, "p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}


async def clients(url: str, bodies: list[dict], n: int, concurrency: int, settings: dict) -> dict:
    latencies: list[float] = []
    counter = iter(range(n))

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            t0 = time.perf_counter()
            res = await http.post("/link", json={**bodies[i % len(bodies)], "id": f"c{concurrency}-{i}",
                                                 "options": settings})
            res.raise_for_status()
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        await http.post("/link", json={**bodies[0], "options": settings})  # the settings' linker is built
        before = (await http.get("/health")).json()["batches"]["batches"]
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        after = (await http.get("/health")).json()["batches"]
    return {"per_s": n / seconds, "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "batches": after["batches"] - before, "largest": after["largest"]}


def peak_rss_mib(pid: int) -> float | None:
    """A live process's peak resident memory (Linux's VmHWM); None where /proc does not say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def start_server() -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    kg = Path(sys.executable).with_name("kg")
    proc = subprocess.Popen([str(kg), "serve", "--port", str(port), "--no-warm"], env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            sys.exit(f"kg serve exited with {proc.returncode}")
        time.sleep(0.5)
    proc.terminate()
    sys.exit("kg serve did not answer /health in 180 s")


def profile_in_process(body: dict, n: int, settings: dict) -> None:
    """The text linked in process `n` times after warm-up, printing where one call's time goes by stage."""
    from kg.cli.context import AppContext
    from kg.cli.web.service import KgService
    from kg.kgstore.config import load_config
    from kg.kgstore.profiling import recording

    app = AppContext(load_config())
    try:
        service = KgService(app)
        linker = service.linker(service.link_options(settings))
        for i in range(WARM_UP):
            linker.link_batch([service.document({**body, "id": f"warm-{i}"})])
        with recording() as stages:
            for i in range(n):
                linker.link_batch([service.document({**body, "id": f"bench-{i}"})])
        print(f"in process, {n} calls, {stages.wall / n * 1e3:.1f} ms a call; stages summed over the calls:")
        print(stages.table())
    finally:
        app.close()


async def one_client(url: str, body: dict, n: int, settings: dict) -> list[float]:
    """Seconds of each of `n` POST /link of `body` from one client, after WARM_UP untimed ones."""
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        for i in range(WARM_UP + n):
            t0 = time.perf_counter()
            res = await http.post("/link", json={**body, "id": f"lat-{i}", "options": settings})
            res.raise_for_status()
            if i >= WARM_UP:
                latencies.append(time.perf_counter() - t0)
    return latencies


def latency(n: int, settings: dict, profile: bool) -> None:
    body = {"text": TEXT_55}
    store = os.environ.get("KG_QDRANT_URL") and "a Qdrant server" or "Qdrant local mode (embedded default)"
    print(f"/link latency: {len(TEXT_55.split())}-word text, one client, {n} requests after {WARM_UP} warm-up; "
          f"vectors: {store}; settings {settings or 'the defaults'}; load average {os.getloadavg()[0]:.2f}")
    if profile:
        profile_in_process(body, n, settings)
    proc, url = start_server()
    try:
        found = asyncio.run(one_client(url, {**body, "id": "probe"}, 1, settings))
        latencies = asyncio.run(one_client(url, body, n, settings))
        res = httpx.post(url + "/link", json={**body, "options": settings}, timeout=300).json()
        linked = [f"{m['surface']}={m['qid']}" for m in res["mentions"] if m.get("qid")]
        print(f"mentions linked ({len(linked)} of {len(res['mentions'])}): {', '.join(linked)}")
        print(f"kg serve POST /link: median {statistics.median(latencies) * 1e3:.1f} ms, p95 "
              f"{percentile(latencies, 95) * 1e3:.1f} ms (min {min(latencies) * 1e3:.1f}, max "
              f"{max(latencies) * 1e3:.1f}; warm-up probe {found[0] * 1e3:.1f} ms); load average "
              f"{os.getloadavg()[0]:.2f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=None,
                    help="requests (documents) per measurement (96; --latency: 30)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--detector", help="kg link --detector (hybrid; --latency: the configured default)")
    ap.add_argument("--context", help="kg link --context (cascade; --latency: the configured default)")
    ap.add_argument("--method", help="kg link --method (auto; --latency: the configured default)")
    ap.add_argument("--spans", action="store_true", help="send the corpus's gold spans instead of detecting")
    ap.add_argument("--latency", action="store_true", help="one client's /link latency on TEXT_55 (see above)")
    ap.add_argument("--profile", action="store_true", help="--latency: also the in-process stage profile")
    args = ap.parse_args()
    given = {"detector": args.detector, "context": args.context, "method": args.method}
    if args.latency:
        latency(args.requests or 30, {k: v for k, v in given.items() if v is not None}, args.profile)
        return
    args.requests = args.requests or 96
    settings = {k: v or default for (k, v), default in zip(given.items(), ("hybrid", "cascade", "auto"))}
    bodies = records(args.spans)
    base = in_process(bodies, args.requests, settings)
    print(f"documents: {NEWS.name} ({len(bodies)} texts, {'spans given' if args.spans else 'mentions detected'}), "
          f"{args.requests} requests per row; settings {settings}")
    print(f"{'':<28}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>8}  batches (largest)")
    print(f"{'in process, one at a time':<28}{base['per_s']:>8.1f}{base['p50'] * 1e3:>9.1f}{base['p95'] * 1e3:>9.1f}"
          f"{1.0:>8.2f}")
    proc, url = start_server()
    try:
        for c in args.clients:
            r = asyncio.run(clients(url, bodies, args.requests, c, settings))
            print(f"{f'kg serve, {c} client(s)':<28}{r['per_s']:>8.1f}{r['p50'] * 1e3:>9.1f}{r['p95'] * 1e3:>9.1f}"
                  f"{r['per_s'] / base['per_s']:>8.2f}  {r['batches']} ({r['largest']} so far)")
        served = peak_rss_mib(proc.pid)
        print(f"peak RSS: kg serve {'unknown' if served is None else f'{served:,.0f} MiB'}, in process (this one) "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
