"""Two-fold cross-validated end-to-end F1 on the ELEVANT text benchmarks, next to the published systems.

The shipped learned reranker is trained with these benchmarks (`kg train wikidiverse --also ...`), so `kg eval` of
them with it is not held out. Here each benchmark is split in two halves by a hash of the text (the same sentence
in oke-2015 and oke-2016 lands in the same half); a model trained with WikiDiverse train plus the three halves "a"
links the halves "b", and the other way round; the counts of both halves are summed. Runs `kg train` and `kg eval`
against the configured stores (the open-world KB ingested and indexed, see README); about 10 minutes on 2 cores.

    python bench/text_cv.py [--also-weight 20] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = ("oke-2015-train", "oke-2016-train", "derczynski")
PUBLISHED = {"ReFinED": "refined__aida_", "REL": "rel__2014_", "prior baseline": "baseline"}


def kg(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"kg {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def published(root: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for system, prefix in PUBLISHED.items():
        for name in SETS:
            path = root / "released" / f"{prefix}.{name}.eval_results.json"
            if path.exists():
                f1 = json.loads(path.read_text())["IGNORED"]["mention_types"]["all"]["f1"]
                out.setdefault(system, {})[name] = 100 * f1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--also-weight", type=float, default=20.0)
    parser.add_argument("--work", type=Path, help="where the two fold models go (default: a temporary folder)")
    parser.add_argument("--el-data", type=Path, default=Path.cwd().parent / "shared" / "data" / "el-text")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kg-text-cv-"))
    work.mkdir(parents=True, exist_ok=True)
    counts = {name: [0, 0, 0] for name in SETS}
    for train_half, test_half in (("a", "b"), ("b", "a")):
        model = work / f"learned-{train_half}.json"
        also = [arg for name in SETS for arg in ("--also", f"{name}:{train_half}")]
        print(f"training with the halves {train_half} (weight {args.also_weight:g}) -> {model}", file=sys.stderr)
        kg("train", "wikidiverse", *also, "--also-weight", str(args.also_weight), "--out", str(model))
        for name in SETS:
            found = json.loads(kg("eval", f"{name}:{test_half}", "--method", "learned", "--weights", str(model),
                                  "--json"))
            for i, key in enumerate(("true_positives", "false_positives", "false_negatives")):
                counts[name][i] += found[key]
    rows = {"kg, 2-fold cross-validated": {}}
    for name, (tp, fp, fn) in counts.items():
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        rows["kg, 2-fold cross-validated"][name] = 100 * (2 * p * r / (p + r) if p + r else 0.0)
        print(f"{name}: P {p:.3f} R {r:.3f} (TP {tp} FP {fp} FN {fn})", file=sys.stderr)
    rows.update(published(args.el_data))
    print(f"{'micro F1, ELEVANT rules, IGNORED mode':42}" + "".join(f"{name:>16}" for name in SETS))
    for system, f1 in rows.items():
        print(f"{system:42}" + "".join(f"{f1.get(name, float('nan')):16.1f}" for name in SETS))


if __name__ == "__main__":
    main()
