"""Scale check for the gazetteer detector: build from N synthetic aliases, save/load, detect.

    python bench/detect.py [N]        (default 1,000,000)

Prints build time, peak resident memory, the built size on disk, load time and detection speed, so a
change to linkers/detection/detect.py can be checked against millions of aliases (the test suite builds 100k).
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kg.linkers.detection.detect import GazetteerDetector  # noqa: E402


def synthetic_aliases(n: int, seed: int = 7):
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))).capitalize()
             for _ in range(200_000)]
    for i in range(n):
        yield " ".join(rng.choices(words, k=rng.randint(1, 4))), f"Q{i}"


def main(n: int) -> None:
    t0 = time.perf_counter()
    g = GazetteerDetector.build(synthetic_aliases(n))
    build = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gazetteer.bin"
        g.save(path, "bench")
        size_mib = path.stat().st_size / 2**20
        t0 = time.perf_counter()
        loaded = GazetteerDetector.load(path, "bench")
        load = time.perf_counter() - t0
    assert loaded is not None and loaded.keys == g.keys
    sample = [alias for alias, _ in synthetic_aliases(200)]
    text = " and then ".join(sample)
    tokens = len(text.split())
    t0 = time.perf_counter()
    found = g.detect(text)
    detect = time.perf_counter() - t0
    print(f"aliases {n:,}  keys {len(g):,}  build {build:.1f}s (incl. generating aliases)  peak RSS {peak_mib:.0f} MiB")
    print(f"on disk {size_mib:.1f} MiB  load {load * 1000:.0f} ms")
    print(f"detect: {tokens:,} tokens in {detect * 1000:.1f} ms, {len(found)} spans")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
