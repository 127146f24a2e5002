"""Ingest benchmark: `kg ingest` of a large dump against plain decompression of the same file.

Builds a Wikidata-layout dump (`[`, one entity per line with a trailing comma, `]`) by re-numbering the real
entities of ../shared/data/wikidata/short_stream.json.bz2 (574 distinct items; copy k maps every Q-id n to
copy_number(n, k), n*1000+k in the first 1000 copies, so each copy is a self-consistent sub-graph and no two copies
share a Q-id), then measures in one run:
  1. plain decompression of the file (the floor every tool hits),
  2. `kg ingest` of it into a fresh graph (embedded ArcadeDB unless --graph-uri), peak RSS of kg and its workers.
Prints entities/s and the ratio ingest time / decompression time (target <= 3 on dumps of 200k entities or more)
and peak RSS (target < 1.5 GB, flat across the sizes). Smaller dumps show the graph server's fixed start-up cost
(its JIT compiles most of its code during the first ~30 s) in the ratio.

    python bench/ingest.py --entities 200000 400000

`--pad-kb 10` gives every entity an English description of that many KB: at the default --batch-size 2000 a batch
is ~20 MB, over ArcadeDB's 16 MiB Bolt message limit unless batches are cut by bytes (issue #17):

    python bench/ingest.py --entities 20000 --pad-kb 10 --timeout 900
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURE = DATA / "wikidata" / "short_stream.json.bz2"
OPEN_WORLD = DATA / "kb" / "open-world" / "entities.jsonl.gz"
ID_NUMBER = re.compile(r'("Q|"numeric-id": )(\d+)')


def base_templates() -> list[tuple[list[str], list[int]]]:
    """Each distinct fixture entity split around its entity numbers, so copies are cheap string joins."""
    latest: dict[str, str] = {}
    with bz2.open(FIXTURE, "rt") as fh:
        for line in fh:
            line = line.strip().rstrip(",")
            if line:
                latest[json.loads(line)["id"]] = line
    templates = []
    for text in latest.values():
        parts = ID_NUMBER.split(text)  # literal, prefix, number, literal, prefix, number, ..., literal
        literals = [parts[j] + (parts[j + 1] if j + 1 < len(parts) else "") for j in range(0, len(parts), 3)]
        templates.append((literals, [int(x) for x in parts[2::3]]))
    return templates


def _pad(line: str, kb: int) -> str:
    doc = json.loads(line)
    text = (doc.get("descriptions") or {}).get("en", {}).get("value") or doc["id"]
    doc["descriptions"] = {**(doc.get("descriptions") or {}),
                           "en": {"language": "en", "value": (text + " ") * (kb * 1024 // (len(text) + 1) + 1)}}
    return json.dumps(doc, ensure_ascii=False)


def qualifiers() -> list[str]:
    """Distinct real labels (the open-world KB's) that tell copies apart: copy k's names end in " (qualifier k)"."""
    seen: dict[str, None] = {}
    with gzip.open(OPEN_WORLD, "rt", encoding="utf-8") as fh:
        for line in fh:
            label = json.loads(line).get("label")
            if label and "(" not in label and ")" not in label:
                seen.setdefault(label, None)
    return list(seen)


def _qualify(line: str, qualifier: str) -> str:
    """Every label and alias of the entity, in every language, as a disambiguated Wikipedia title: "name (q)"."""
    doc = json.loads(line)
    for label in (doc.get("labels") or {}).values():
        label["value"] = f"{label['value']} ({qualifier})"
    for aliases in (doc.get("aliases") or {}).values():
        for alias in aliases:
            alias["value"] = f"{alias['value']} ({qualifier})"
    return json.dumps(doc, ensure_ascii=False)


# Above every entity number of the fixture: copies 1000 and up are shifted by a multiple of it (copy_number).
NUMBER_SPAN = 100_000_000


def copy_number(number: int, k: int) -> int:
    """Entity number `number` in copy k: n*1000+k for the first 1000 copies (574,000 entities, the numbering every
    earlier dump used); copy k >= 1000 adds (k // 1000) * NUMBER_SPAN to n, since n*1000+k alone would make copy k
    reuse the Q-ids of copy k-1000 (Q(n*1000+k) = Q((n+1)*1000+k-1000)): a 3M dump then held 2.41M distinct
    entities, and 590k of its lines rewrote one already written."""
    block, rest = divmod(k, 1000)
    return (number + block * NUMBER_SPAN) * 1000 + rest


def entity_line(templates: list[tuple[list[str], list[int]]], i: int, names: list[str] | None = None) -> str:
    """Entity i of the generated dump: copy k = i // len(templates) of a fixture entity, every Q-id n as
    copy_number(n, k) (distinct for every copy). With `names`, copies after the first get distinct names (copy k
    qualified by names[k - 1]), so a larger KB does not just hold more namesakes of the same 574 names."""
    k, base = divmod(i, len(templates))
    literals, numbers = templates[base]
    pieces = [literals[0]]
    for number, literal in zip(numbers, literals[1:]):
        pieces.append(str(copy_number(number, k)))
        pieces.append(literal)
    line = "".join(pieces)
    if names is not None and k > 0:
        if k > len(names):
            raise SystemExit(f"at most {len(names) * len(templates):,} entities with distinct names")
        line = _qualify(line, names[k - 1])
    return line


def _build_part(path: Path, n: int, start: int, stop: int, compression: str, pad_kb: int,
                distinct_names: bool) -> None:
    """Entities start..stop-1 of the n-entity dump as one compressed stream (with the opening or closing bracket
    where the range holds the dump's first or last line)."""
    templates = base_templates()
    names = qualifiers() if distinct_names else None
    opener = bz2.open if compression == "bz2" else gzip.open
    with opener(path, "wt", compresslevel=6) as out:
        if start == 0:
            out.write("[\n")
        for i in range(start, stop):
            line = entity_line(templates, i, names)
            out.write((_pad(line, pad_kb) if pad_kb else line) + (",\n" if i < n - 1 else "\n"))
        if stop == n:
            out.write("]\n")


def build_dump(path: Path, n: int, compression: str, pad_kb: int = 0, distinct_names: bool = False,
               processes: int | None = None) -> None:
    """One process per core, each compressing a contiguous part; gzip and bzip2 readers read concatenated
    streams as one file, so the parts are joined byte for byte (a 3M dump: ~10 min on 2 cores, not ~20)."""
    processes = max(1, min(processes or os.cpu_count() or 1, n // 10_000 or 1))
    cuts = [n * k // processes for k in range(processes + 1)]
    parts = [path.with_name(f"{path.name}.part{k}") for k in range(processes)]
    try:
        if processes == 1:
            _build_part(parts[0], n, 0, n, compression, pad_kb, distinct_names)
        else:
            with ProcessPoolExecutor(processes) as pool:
                for f in [pool.submit(_build_part, part, n, a, b, compression, pad_kb, distinct_names)
                          for part, a, b in zip(parts, cuts, cuts[1:])]:
                    f.result()
        with open(path, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def dump_name(stem: str, n: int, suffix: str) -> str:
    """A kept dump's file name: dumps of more than 1000 copies were numbered differently before copy_number, so
    theirs says so ("-ids2") and a stale one is never reused; smaller dumps are unchanged and keep their name."""
    return f"{stem}{'-ids2' if n > 1000 * len(base_templates()) else ''}{suffix}"


def cached_dump(dump: Path, build: Callable[[Path], None]) -> None:
    """Build `dump` unless it exists (a kept one is reused), through a partial file an interrupted build never
    leaves in its place."""
    if dump.exists():
        return
    t = time.perf_counter()
    unfinished = dump.with_name(dump.name + ".partial")
    build(unfinished)
    unfinished.replace(dump)
    print(f"built {dump.name}: {dump.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.0f} s", flush=True)

def decompress_seconds(path: Path, compression: str) -> float:
    opener = bz2.open if compression == "bz2" else gzip.open
    start = time.perf_counter()
    with opener(path, "rb") as fh:
        while fh.read(1 << 20):
            pass
    return time.perf_counter() - start


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for t in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (t / "children").read_text().split())
        except OSError:
            continue
    return total


KG = shutil.which("kg") or str(Path(sys.executable).with_name("kg"))


def run_ingest(path: Path, home: Path, workers: int, extra_env: dict[str, str],
               timeout: float | None = None) -> tuple[float, int, dict]:
    kg = KG
    env = {**os.environ, "KG_HOME": str(home), **extra_env}
    subprocess.run([kg, "migrate"], env=env, check=True, capture_output=True)  # server start-up is not ingest time
    start = time.perf_counter()
    proc = subprocess.Popen([kg, "ingest", str(path), "--json", "--workers", str(workers)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
        if timeout and time.perf_counter() - start > timeout:
            proc.kill()
            raise SystemExit(f"kg ingest still running after {timeout:.0f} s: killed")
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"kg ingest failed ({proc.returncode}): {out[-2000:]}")
    return seconds, peak, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, nargs="+", default=[200_000, 400_000])
    ap.add_argument("--compression", choices=["bz2", "gz"], default="bz2")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--graph-uri", help="ingest into this Bolt server instead of a fresh embedded one")
    ap.add_argument("--keep", type=Path, help="directory to keep the generated dumps in (reused when present)")
    ap.add_argument("--pad-kb", type=int, default=0, help="pad every entity's English description to about this many KB")
    ap.add_argument("--timeout", type=float, help="give up on an ingest that runs longer than this many seconds")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kg-bench-ingest-"))
    extra = {"KG_GRAPH_URI": args.graph_uri} if args.graph_uri else {}
    rows = []
    try:
        for n in args.entities:
            dump_dir = args.keep or work
            dump_dir.mkdir(parents=True, exist_ok=True)
            dump = dump_dir / dump_name(f"dump-{n}{f'-pad{args.pad_kb}k' if args.pad_kb else ''}", n,
                                        f".json.{args.compression}")
            cached_dump(dump, partial(build_dump, n=n, compression=args.compression, pad_kb=args.pad_kb))
            dec = decompress_seconds(dump, args.compression)
            home = work / f"home-{n}"
            seconds, peak, summary = run_ingest(dump, home, args.workers, extra, args.timeout)
            rows.append((n, dump.stat().st_size, dec, seconds, summary, peak))
            print(f"{n:>9,} entities  {dump.stat().st_size / 1e6:7.0f} MB  decompress {dec:6.1f} s  ingest {seconds:7.1f} s  "
                  f"{summary['entities'] / seconds:8,.0f} entities/s  rels {summary['relationships']:,}  "
                  f"ratio {seconds / dec:5.2f}  peak RSS {peak / 2**20:6.0f} MiB", flush=True)
            subprocess.run([KG, "--home", str(home), "server", "stop"], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nentities    decompress_s  ingest_s  entities/s  ratio(target<=3)  peak_rss_MiB(target<1536)")
    for n, _size, dec, seconds, summary, peak in rows:
        print(f"{n:<11,} {dec:<13.1f} {seconds:<9.1f} {summary['entities'] / seconds:<11,.0f} {seconds / dec:<17.2f} {peak / 2**20:.0f}")


if __name__ == "__main__":
    main()
