"""`kg serve` throughput and latency against the in-process linker, on the stores configured by KG_* (e.g. the
demo's: `bash scripts/demo.sh`, then KG_HOME=.kg-demo).

Measures in one run, on the same documents (the sample news corpus, each request one document, nothing written):
  1. in process, one document per `link_batch` call, one after another: what a program calling the library once per
     document gets (the baseline), documents/s and p50/p95 latency;
  2. `kg serve` started as its own process, POST /link from 1, 4 and 16 concurrent clients: requests/s, p50/p95
     latency, and requests/s as a ratio of the baseline's documents/s. Concurrent requests share encoder batches
     (the server's /health reports how many batches it ran and the largest);
  3. peak resident memory (RSS) of the `kg serve` process and of this one (which linked in process), in MiB.

    python bench/serve.py [--requests 96] [--clients 1 4 16] [--detector hybrid] [--context cascade] [--spans]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=96, help="requests (documents) per measurement")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--detector", default="hybrid", help="kg link --detector")
    ap.add_argument("--context", default="cascade", help="kg link --context")
    ap.add_argument("--method", default="auto", help="kg link --method")
    ap.add_argument("--spans", action="store_true", help="send the corpus's gold spans instead of detecting")
    args = ap.parse_args()
    settings = {"detector": args.detector, "context": args.context, "method": args.method}
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
