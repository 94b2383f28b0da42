"""LLM fine-tuning (issue 16): `ml-ci train` with a LoRA adapter against a minimal hand-written peft script
(transformers Trainer + peft LoraConfig, the loss on the completion tokens only), at the same settings on the
same records.

Both sides read the same JSON Lines records (data/{train,validation}.jsonl of a temporary model repository,
copied from --data: by default examples/assistant/data), load the same base (--base, or a tiny random Llama built
by examples/assistant/make_base.py: no pretrained causal LM and no LLM data set is on this machine, see
_llm_common), and train with the same epochs, batch size, learning rate, warmup, weight decay, seed, max length and
adapter (rank, alpha, dropout, target modules), validating once at each epoch's end (ml-ci's default
`eval_steps: 0`; `eval_strategy="epoch"` in the script), as whole processes, `--runs` pairs interleaved with the
order alternating so that a busy machine slows both alike. Every `ml-ci train --no-cache` run is checked from its
own output to have trained (`train: trained:`).

The script labels tokens as one does by hand (the prompt's tokens masked by their count; a chat's assistant turns
by the token counts of the template rendered up to them), not with ml-ci's code; the benchmark counts the records
whose labels differ from ml-ci's (`render`), so that a gap in loss can be told from a gap in labelling.

Reported: each side's final validation loss (Trainer's own, as each prints it), both adapters' validation loss by
one scorer in this process (token-weighted mean NLL over the completion tokens, the script's labels; target:
within 1%), the wall times and their ratio (target <= 1.05), and where each side's time went (before the first
step, training with validation, after). Nothing is asserted (this is not a test).

    .venv/bin/python benchmarks/llm_train.py [--records|--data examples/assistant/data] [--base FOLDER_OR_HUB_ID]
        [--epochs 3] [--batch-size 16] [--learning-rate 3e-3] [--rank 16] [--alpha 32] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import runpy
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _llm_common import TARGETS, Settings, common_arguments, cpu_seconds, in_workdir, loadavg, ml_yaml, prepared, records, threads  # noqa: E402
from train import ENV, Run, computed, ml_ci, timed  # noqa: E402  (benchmarks/train.py: environment, timed process, trained check)

# What one writes by hand: the records tokenized with the completion's (assistant turns') tokens as labels and -100
# elsewhere, cut to max_length; LoRA by peft; Trainer with the same arguments as ml.yaml's, validated at each
# epoch's end; DataCollatorForSeq2Seq pads labels with -100; save the adapter. Its last line is JSON.
BARE_LORA = r'''
import json, sys, time
from pathlib import Path

def encode(tok, record, max_length):
    """One record's input_ids, attention_mask and labels: the loss on the completion (and eos) or assistant turns."""
    if record.get("messages") is not None:
        msgs = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
        text = lambda k, gen: tok.apply_chat_template(msgs[:k], tokenize=False, add_generation_prompt=gen)
        count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
        ids = tok(text(len(msgs), False), add_special_tokens=False)["input_ids"]
        labels = [-100] * len(ids)
        for i, m in enumerate(msgs):
            if m["role"] == "assistant":
                start, end = count(text(i, True)), count(text(i + 1, False))
                labels[start:end] = ids[start:end]
    else:
        prompt = tok(record["prompt"])["input_ids"]
        ids = tok(record["prompt"] + record["completion"] + tok.eos_token)["input_ids"]
        labels = [-100] * len(prompt) + ids[len(prompt):]
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

if __name__ == "__main__":
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments,
                              set_seed)
    s, data, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), Path(sys.argv[3])
    set_seed(s["seed"])
    tok = AutoTokenizer.from_pretrained(s["base"])
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(s["base"], dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=s["rank"], lora_alpha=s["alpha"], lora_dropout=s["dropout"],
                                             target_modules=s["targets"], task_type="CAUSAL_LM"))
    def split(name):
        lines = (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [encode(tok, json.loads(line), s["max_length"]) for line in lines if line.strip()]
        return Dataset.from_list([r for r in rows if any(x != -100 for x in r["labels"])])
    cuda = torch.cuda.is_available()
    args = TrainingArguments(output_dir=str(out / "work"), num_train_epochs=s["epochs"],
                             per_device_train_batch_size=s["batch"], per_device_eval_batch_size=max(s["batch"], 32),
                             learning_rate=s["lr"], weight_decay=s["weight_decay"], warmup_steps=s["warmup"],
                             seed=s["seed"], eval_strategy="epoch", save_strategy="no", report_to="none",
                             disable_tqdm=True, use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported())
    trainer = Trainer(model=model, args=args, train_dataset=split("train"), eval_dataset=split("validation"),
                      data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
                      processing_class=tok)
    print("bare: training", flush=True)
    trainer.train()
    print("bare: trained", flush=True)
    last = [e for e in trainer.state.log_history if "eval_loss" in e][-1]
    trainer.save_model(str(out / "model"))
    print(json.dumps({"validation_loss": last["eval_loss"], "eval_runtime": last["eval_runtime"]}))
'''

TRAINED = re.compile(r"^train: trained: .*\(.*\bloss ([-+0-9.eE]+|nan|inf)")
STARTED = {"ours": re.compile(r"^training .* on \d+ rows"), "bare": re.compile(r"^bare: training$")}
ENDED = {"ours": re.compile(r"^validation at step \d+:"), "bare": re.compile(r"^bare: trained$")}


def phases(run: Run, name: str) -> dict[str, float]:
    """Seconds before training starts (imports, reading, checks, tokenizing, loading), in training (with its
    validations), and after it (saving, and ml-ci's card, lineage and cache), from the run's time-stamped lines."""
    start = next((t for t, line in run.lines if STARTED[name].match(line)), None)
    ends = [t for t, line in run.lines if ENDED[name].match(line)]
    if start is None or not ends:
        return {}
    return {"before": start, "training": ends[-1] - start, "after": run.seconds - ends[-1]}


def ml_ci_loss(run: Run) -> float:
    found = [m.group(1) for line in run.output.splitlines() if (m := TRAINED.match(line))]
    if not found:
        sys.exit("benchmark error: no validation loss in `ml-ci train`'s result line:\n" + run.output[-2000:])
    return float(found[-1])


def validation_loss(settings: Settings, adapter: Path, rows: list[dict[str, Any]], encode: Any) -> float:
    """The mean NLL per labelled token over the validation records (each encoded by the script's `encode`), of the
    base with `adapter` on it: one scorer for both sides, so that the two figures differ by the adapters only."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(adapter)
    tok.pad_token = tok.pad_token or tok.eos_token
    base = AutoModelForCausalLM.from_pretrained(settings.base, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    nll, tokens = 0.0, 0
    with torch.inference_mode():
        for record in rows:
            enc = encode(tok, record, settings.max_length)
            labels = torch.tensor([enc["labels"]])
            if not (labels != -100).any():
                continue
            logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[:, :-1].float()
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="sum")
            nll += float(loss)
            tokens += int((target != -100).sum())
    return nll / tokens if tokens else math.nan


def adapter_difference(a: Path, b: Path) -> float:
    """The largest |difference| between the two adapters' weights (same names and shapes), or inf if they differ
    in what they hold."""
    from safetensors.torch import load_file

    x, y = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    if x.keys() != y.keys() or any(x[k].shape != y[k].shape for k in x):
        return math.inf
    return max((float((x[k].float() - y[k].float()).abs().max()) for k in x), default=0.0)


def label_differences(repo: Path, settings: Settings, rows: list[dict[str, Any]], encode: Any) -> int:
    """Records whose labels (the tokens the loss is on) differ between the script's `encode` and ml-ci's `render`."""
    from transformers import AutoTokenizer

    from ml_ci.config import load_config
    from ml_ci.tasks.text_generation import render
    from ml_ci.tasks.text_generation.config import of

    spec = of(load_config(repo / "ml.yaml").config)
    tok = AutoTokenizer.from_pretrained(settings.base)
    tok.pad_token = tok.pad_token or tok.eos_token
    ours = render.encode_many([render.render(r, tok, spec) for r in rows], tok, settings.max_length)["labels"]
    return sum(encode(tok, r, settings.max_length)["labels"] != o for r, o in zip(rows, ours, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=48, help="tokens of a whole record (model.max_length)")
    parser.add_argument("--warmup", type=float, default=0.05, help="warmup ratio")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument(
        "--targets",
        default=None,
        help="comma-separated module names or all-linear (default: the assistant example's, all-linear with --base)",
    )
    parser.add_argument("--runs", type=int, default=1, help="interleaved pairs of trainings (default 1)")
    in_workdir(parser.parse_args(), "ml-ci-bench-llm-train-", run)


def run(args: argparse.Namespace, work: Path) -> None:
    pinned = threads(ENV, args.threads)
    made = prepared(args, work)
    repo, counts = made.folder, made.counts
    if args.targets is None:
        targets: tuple[str, ...] | str = "all-linear" if args.base else TARGETS
    else:
        targets = "all-linear" if args.targets == "all-linear" else tuple(t.strip() for t in args.targets.split(","))
    settings = Settings(
        base=made.base,
        base_in_yaml=made.base_in_yaml,
        epochs=args.epochs,
        batch=args.batch_size,
        lr=args.learning_rate,
        seed=args.seed,
        max_length=args.max_length,
        warmup=args.warmup,
        weight_decay=args.weight_decay,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        targets=targets,
    )
    (repo / "ml.yaml").write_text(ml_yaml(settings), encoding="utf-8")
    script, settings_file, bare_out = work / "bare_lora.py", work / "settings.json", work / "bare"
    script.write_text(BARE_LORA, encoding="utf-8")
    settings_file.write_text(json.dumps(settings.as_json()), encoding="utf-8")
    bare_cmd = [sys.executable, str(script), str(settings_file), str(repo / "data"), str(bare_out)]
    conditions = {
        "base": made.described,
        "data": f"{args.data}: {counts['train']} train, {counts['validation']} validation records",
        **{k: v for k, v in settings.as_json().items() if k != "base"},
        "validation": "once at the end of each epoch, both",
        "precision": "auto (fp32 on CPU, bf16 on a GPU that has it), both",
        "runs": args.runs,
        "threads": pinned,
    }
    print("settings: " + json.dumps(conditions), flush=True)
    encode = runpy.run_path(str(script), run_name="bare_lora")["encode"]
    validation = records(repo / "data/validation.jsonl")
    differ = label_differences(repo, settings, records(repo / "data/train.jsonl") + validation, encode)
    total = counts["train"] + counts["validation"]
    print(f"labels: {total - differ}/{total} train and validation records labelled identically by the script and ml-ci")
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    own: dict[str, list[float]] = {"ours": [], "bare": []}
    split: dict[str, list[dict[str, float]]] = {"ours": [], "bare": []}
    loads: list[str] = []
    for i in range(args.runs):
        pair = [("bare", bare_cmd), ("ours", ml_ci("train", "--no-cache"))]
        for name, cmd in pair if i % 2 == 0 else pair[::-1]:  # alternate the order: drift in load cancels out
            before, cpu_before = loadavg(), cpu_seconds()
            result = timed(cmd, repo, log=args.log)
            after = loadavg()
            cpu[name].append(cpu_seconds() - cpu_before)
            if name == "ours":
                own[name].append(ml_ci_loss(computed(result)))
            else:
                own[name].append(float(json.loads(result.output.strip().splitlines()[-1])["validation_loss"]))
            loads.append(f"{name}: {before} -> {after}")
            times[name].append(result.seconds)
            split[name].append(phases(result, name))
            print(
                f"  pair {i + 1}: {'ml-ci train' if name == 'ours' else 'hand-written peft script'} {result.seconds:.1f} s"
                f" ({cpu[name][-1]:.1f} s CPU){' (trained: checked)' if name == 'ours' else ''}, "
                f"validation loss {own[name][-1]:.4f}; "
                f"phases {json.dumps({k: round(v, 1) for k, v in split[name][-1].items()})}; load {before} -> {after}",
                flush=True,
            )
    # One scorer, the last pair's adapters.
    scored = {
        "ours": validation_loss(settings, repo / ".ml-ci/artifacts/train/model", validation, encode),
        "bare": validation_loss(settings, bare_out / "model", validation, encode),
    }
    weights = adapter_difference(repo / ".ml-ci/artifacts/train/model", bare_out / "model")
    t_ours, t_bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    c_ours, c_bare = statistics.median(cpu["ours"]), statistics.median(cpu["bare"])
    gap = 100 * abs(scored["ours"] - scored["bare"]) / scored["bare"]
    own_gap = 100 * abs(statistics.median(own["ours"]) - statistics.median(own["bare"])) / statistics.median(own["bare"])
    medians = {
        n: {k: statistics.median(p.get(k, math.nan) for p in split[n]) for k in ("before", "training", "after")} for n in split
    }
    print(
        f"\nvalidation loss (one scorer, {len(validation)} records, the last pair's adapters): ml-ci {scored['ours']:.4f}, "
        f"script {scored['bare']:.4f}: {gap:.2f}% apart (target within 1%); adapter weights max |difference| {weights:.2e}\n"
        f"validation loss (each side's own Trainer figure, median): ml-ci {statistics.median(own['ours']):.4f}, "
        f"script {statistics.median(own['bare']):.4f}: {own_gap:.2f}% apart\n"
        f"wall time (median of {args.runs}): ml-ci train {t_ours:.1f} s, script {t_bare:.1f} s, ratio {t_ours / t_bare:.3f} "
        f"(target <= 1.05); CPU time {c_ours:.1f} s vs {c_bare:.1f} s ({c_ours / c_bare:.3f}); every ml-ci run trained "
        "(checked from its output)\n"
        + "".join(
            f"  {'ml-ci train' if n == 'ours' else 'script'}: {m['before']:.1f} s before the first step, "
            f"{m['training']:.1f} s training and validating, {m['after']:.1f} s after\n"
            for n, m in medians.items()
        )
        + f"load: {'; '.join(loads)}"
    )
    # A result line for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    ratios: dict[str, dict[str, object]] = {
        "LLM ml-ci train (LoRA) / hand-written peft script (wall)": {
            "value": t_ours / t_bare,
            "target": "<= 1.05",
            "ours": f"{t_ours:.1f} s",
            "baseline": f"{t_bare:.1f} s",
        },
        "LLM ml-ci train (LoRA) / hand-written peft script (CPU time)": {
            "value": c_ours / c_bare,
            "ours": f"{c_ours:.1f} s",
            "baseline": f"{c_bare:.1f} s",
        },
        "LLM validation loss difference, one scorer (%)": {
            "value": gap,
            "unit": "%",
            "target": "<= 1",
            "ours": f"{scored['ours']:.4f}",
            "baseline": f"{scored['bare']:.4f}",
        },
        "LLM validation loss difference, each side's own figure (%)": {
            "value": own_gap,
            "unit": "%",
            "ours": f"{statistics.median(own['ours']):.4f}",
            "baseline": f"{statistics.median(own['bare']):.4f}",
        },
    }
    extra = {"labels identical": f"{total - differ}/{total} records", "adapter weights max |difference|": weights, "load": loads}
    print(json.dumps({"benchmark": "llm_train", "ratios": ratios, "conditions": {**conditions, **extra}}))


if __name__ == "__main__":
    main()
