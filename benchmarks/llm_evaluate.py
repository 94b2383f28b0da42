"""LLM evaluation (issue 16): `ml-ci evaluate` of a 200-prompt set against a bare batched greedy `model.generate`
loop over the same prompts with the same settings.

Both run as whole processes on the same trained model (a LoRA adapter that `ml-ci train` makes once, unmeasured,
on --data with --base: by default the assistant example's records and a tiny random Llama, see _llm_common; or
--model-dir, a trained folder), interleaved with the order alternating so that a busy machine slows both alike. The
prompt set is --prompts, or --n items made from the records (test, then validation, then train: the prompt, the
completion as the reference and as an `equals` assertion). Both generate greedily up to --max-new-tokens (an item's
own max_new_tokens where it has one) in batches of 32 from left-padded prompts, on the adapter merged into the base
(what ml-ci evaluates and exports). The loop does only that: load, tokenize, generate, decode, in file order (the
baseline); it runs a second time with ml-ci's batches (each max_new_tokens group's prompts longest first), so that
what ml-ci costs is told apart from what its batching saves (a batch runs until its longest completion ends).
`ml-ci evaluate --no-cache` also reads and checks the prompt set, judges the assertions, scores pass_rate, ROUGE-L
and chrF, writes eval.json, the report and the plots, and scores the loss of the test split's records (tune.metric,
loss by default, must be an evaluate metric; the split keeps its first --test-records, 8, so that this stays small);
its metrics leave out the speed metrics (they export the model to ONNX Runtime GenAI first). Target: wall ratio <=
1.1.

Every measured `ml-ci evaluate` must have computed: its GitHub output (`cache-hit=false`) is checked after each
run. Both sides' completions are compared item by item (the same greedy work gives the same text; a batch padded
differently may flip a near tie in fp32). When the ratio is over its target (or with --profile), one more `ml-ci
evaluate --no-cache` runs in-process with a clock around its phases (not measured) and where its time goes is
printed beside the loop's. Nothing is asserted.

    .venv/bin/python benchmarks/llm_evaluate.py [--records|--data examples/assistant/data] [--base FOLDER_OR_HUB_ID]
        [--model-dir TRAINED_FOLDER] [--prompts FILE] [--n 200] [--max-new-tokens 64] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _llm_common import common_arguments, cpu_seconds, in_workdir, loadavg, ml_yaml, prepared, records, threads, training_settings  # noqa: E402
from train import ENV, Run, ml_ci, timed  # noqa: E402  (benchmarks/train.py: the environment, the timed process)

BATCH = 32  # ml-ci's generate.GENERATE_BATCH

# What one writes by hand: load the model (the adapter merged into the base), read the prompts, and generate in
# batches of 32, left-padded, greedy; decode the new tokens. Writes {id: completion}; its last line is JSON. Its
# second argument: `file` (the prompts in file order) or `sorted` (longest first, the batches ml-ci makes).
BARE_GENERATE = r"""
import json, sys, time
started = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
s = json.loads(open(sys.argv[1], encoding="utf-8").read())
tok = AutoTokenizer.from_pretrained(s["model"])
tok.pad_token = tok.pad_token or tok.eos_token
tok.padding_side = "left"
model = AutoModelForCausalLM.from_pretrained(s["base"], dtype=torch.float32)
if s["adapter"]:
    from peft import PeftModel
    model = PeftModel.from_pretrained(model, s["model"]).merge_and_unload()
model.eval()
items = [json.loads(line) for line in open(s["prompts"], encoding="utf-8") if line.strip()]
def ids(item):
    if item.get("messages"):
        text = tok.apply_chat_template(item["messages"], tokenize=False, add_generation_prompt=True)
        return tok(text, add_special_tokens=False)["input_ids"][-s["max_length"]:]
    return tok(item["prompt"])["input_ids"][-s["max_length"]:]
groups = {}
for item in items:
    groups.setdefault(item.get("max_new_tokens") or s["max_new_tokens"], []).append(item)
if sys.argv[2] == "sorted":  # ml-ci's batches: each group's prompts longest first
    groups = {k: sorted(g, key=lambda item: -len(ids(item))) for k, g in sorted(groups.items())}
loaded = time.perf_counter()
out = {}
with torch.inference_mode():
    for limit, group in groups.items():
        for at in range(0, len(group), 32):
            batch = group[at:at + 32]
            enc = tok.pad([{"input_ids": ids(item)} for item in batch], return_tensors="pt")
            generated = model.generate(**enc, max_new_tokens=limit, do_sample=False, pad_token_id=tok.pad_token_id)
            for item, row in zip(batch, generated[:, enc["input_ids"].shape[1]:]):
                out[item["id"]] = tok.decode(row, skip_special_tokens=True)
done = time.perf_counter()
json.dump(out, open(s["out"] + "." + sys.argv[2], "w", encoding="utf-8"))
print(json.dumps({"load_s": loaded - started, "generate_s": done - loaded}))
"""


def prompt_set(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """n prompt items from records: the prompt (a chat without its last assistant turn), the completion as the
    reference and as an `equals` assertion."""
    items: list[dict[str, Any]] = []
    for r in rows:
        if len(items) == n:
            break
        if r.get("messages"):
            turns = [{"role": m["role"], "content": m["content"]} for m in r["messages"]]
            if not turns or turns[-1]["role"] != "assistant":
                continue
            asked: dict[str, Any] = {"messages": turns[:-1]}
            reference = turns[-1]["content"]
        else:
            asked, reference = {"prompt": r["prompt"]}, r["completion"]
        items.append(
            {"id": f"p{len(items) + 1:03d}", **asked, "reference": reference, "assert": [{"type": "equals", "value": reference}]}
        )
    if len(items) < n:
        sys.exit(f"--n {n}: the records make only {len(items)} prompt items")
    return items


def evaluate_block(max_new_tokens: int) -> str:
    return f"""evaluate:
  split: test
  metrics: [loss, pass_rate, rouge_l, chrf]
  prompts: eval/prompts.jsonl
  generation: {{max_new_tokens: {max_new_tokens}, temperature: 0.0}}
  allow_missing_baseline: true
"""


def measured(cmd: list[str], repo: Path, log: Path | None) -> tuple[Run, float]:
    """The run and its CPU seconds (user + system, every thread): on a shared machine they move less than wall time."""
    cpu = cpu_seconds()
    run = timed(cmd, repo, log=log)
    return run, cpu_seconds() - cpu


def computed(outputs: Path) -> None:
    """ml-ci's own word that the run computed: its `cache-hit` output (ml_ci.cache.announce)."""
    lines = outputs.read_text(encoding="utf-8").splitlines() if outputs.is_file() else []
    if "cache-hit=false" not in lines:
        sys.exit(f"benchmark error: a measured `ml-ci evaluate` did not compute (outputs: {lines}): a cache hit measures nothing")


def ml_ci_completions(repo: Path) -> dict[str, str]:
    record = json.loads((repo / ".ml-ci/artifacts/evaluate/eval.json").read_text(encoding="utf-8"))
    return {str(p["id"]): str(p.get("output", "")) for p in record.get("predictions", []) if p.get("source") == "prompts"}


# `ml-ci evaluate --no-cache` in-process with a clock around its phases (the stage's own functions, patched where
# they are looked up): a profiler would inflate generate's Python-heavy loop several times over.
PHASES = r"""
import atexit, json, sys, time
started = time.perf_counter()
spent = {}
def clock(module, name, label):
    inner = getattr(module, name)
    def timed(*args, **kwargs):
        at = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - at
    setattr(module, name, timed)
from ml_ci.cli.main import main
from ml_ci.evaluate import stage
from ml_ci.tasks.text_generation import evaluation, generate
spent["imports (ml-ci's CLI, its evaluate stage and task half)"] = time.perf_counter() - started
clock(stage, "load_eval_split", "read the split and the prompt set")
clock(stage, "measure", "measure: load the model and run it")
clock(evaluation, "load", "  of which load the model (torch, base, adapter merged)")
clock(generate, "losses", "  of which the test records' loss")
clock(generate, "completions", "  of which generate the prompt set")
clock(stage, "assemble", "assemble: score, gates, slices, paired tests")
clock(stage, "write_outputs", "write eval.json, the report and the plots")
atexit.register(lambda: print(json.dumps({"phases": spent, "total": time.perf_counter() - started})))
sys.argv = ["ml-ci", "evaluate", "--no-cache"]
raise SystemExit(main())
"""


def phases(repo: Path, work: Path, bare: dict[str, float]) -> None:
    """One more `ml-ci evaluate --no-cache` (not measured) with its phases clocked, beside the loop's (ml-ci's batches)."""
    script = work / "phases.py"
    script.write_text(PHASES, encoding="utf-8")
    run = timed([sys.executable, str(script)], repo)
    found = [json.loads(line) for line in run.output.splitlines() if line.startswith('{"phases"')]
    if not found:
        print("\n(no phases: the clocked run printed none)")
        return
    spent, total = found[-1]["phases"], found[-1]["total"]
    top = sum(v for k, v in spent.items() if not k.startswith(" "))
    print(
        f"\nwhere ml-ci evaluate's time goes (one more run, clocked in-process, {run.seconds:.2f} s wall, "
        f"{total:.2f} s in Python):"
    )
    for label, seconds in spent.items():
        print(f"  {seconds:7.2f} s  {label}")
    print(f"  {total - top:7.2f} s  the rest (configuration, lineage, cache key and record)")
    print(
        f"bare loop, ml-ci's batches (median): {bare['load_s']:.2f} s to import and load, {bare['generate_s']:.2f} s generating"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--model-dir", type=Path, default=None, help="a trained folder (adapter or full model) to evaluate")
    parser.add_argument("--prompts", type=Path, default=None, help="a prompt set (JSON Lines); default: --n items from --data")
    parser.add_argument("--n", type=int, default=200, help="prompt items made from the records (default 200)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=48, help="model.max_length (prompts keep their last tokens)")
    parser.add_argument("--test-records", type=int, default=8, help="test records kept (ml-ci scores their loss)")
    parser.add_argument("--train-epochs", type=int, default=1, help="epochs of the one unmeasured `ml-ci train`")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each (default 3)")
    parser.add_argument("--profile", action="store_true", help="clock one more ml-ci run's phases even when the target is met")
    in_workdir(parser.parse_args(), "ml-ci-bench-llm-evaluate-", run)


def run(args: argparse.Namespace, work: Path) -> None:
    pinned = threads(ENV, args.threads)
    made = prepared(args, work)
    repo, counts = made.folder, made.counts
    settings = training_settings(
        made.base, made.base_in_yaml, epochs=args.train_epochs, max_length=args.max_length, hub_base=bool(args.base)
    )
    (repo / "eval").mkdir(parents=True, exist_ok=True)
    prompts = repo / "eval/prompts.jsonl"
    if args.prompts is not None:
        shutil.copyfile(args.prompts, prompts)
        source = str(args.prompts)
    else:
        rows = [r for split in ("test", "validation", "train") for r in records(repo / f"data/{split}.jsonl")]
        prompts.write_text("".join(json.dumps(item) + "\n" for item in prompt_set(rows, args.n)), encoding="utf-8")
        source = f"{args.n} items from {args.data}'s records (test, validation, train): reference and equals assertion"
    items = records(prompts)
    # The split's loss is computed (tune.metric, loss by default, must be an evaluate metric) but the loop computes
    # none: the test split keeps its first few records, so that its share of ml-ci's time is small and shown.
    test = records(repo / "data/test.jsonl")[: args.test_records]
    (repo / "data/test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test), encoding="utf-8")
    (repo / "ml.yaml").write_text(ml_yaml(settings, evaluate=evaluate_block(args.max_new_tokens)), encoding="utf-8")
    model_dir = repo / ".ml-ci/artifacts/train/model"
    if args.model_dir is not None:
        shutil.copytree(args.model_dir, model_dir)
        trained = f"{args.model_dir}"
    else:
        done = timed(ml_ci("train"), repo, log=args.log)
        trained = f"LoRA adapter trained once by `ml-ci train` ({args.train_epochs} epoch(s), {done.seconds:.0f} s, not measured)"
    spec_file, bare_out = work / "bare.json", work / "bare_completions.json"
    spec = {
        "base": made.base,
        "model": str(model_dir),
        "adapter": (model_dir / "adapter_config.json").is_file(),
        "prompts": str(prompts),
        "max_new_tokens": args.max_new_tokens,
        "max_length": args.max_length,
        "out": str(bare_out),
    }
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    script = work / "bare_generate.py"
    script.write_text(BARE_GENERATE, encoding="utf-8")
    commands = {
        "ours": ml_ci("evaluate", "--no-cache"),
        "bare": [sys.executable, str(script), str(spec_file), "file"],
        "sorted": [sys.executable, str(script), str(spec_file), "sorted"],
    }
    conditions = {
        "base": made.described,
        "model": trained,
        "data": f"{args.data}: the first {len(test)} of {counts['test']} test records (ml-ci scores their loss, the loop not)",
        "prompts": f"{len(items)} items: {source}",
        "generation": f"greedy, max_new_tokens {args.max_new_tokens}, batch {BATCH}, left-padded, adapter merged; both",
        "max_length": args.max_length,
        "ml-ci metrics": "loss (the test records), pass_rate, rouge_l, chrf; eval.json, report, plots",
        "runs": args.runs,
        "threads": pinned,
    }
    print("settings: " + json.dumps(conditions), flush=True)
    outputs = work / "github-output.txt"
    ENV["GITHUB_OUTPUT"] = str(outputs)
    names = {"ours": "ml-ci evaluate", "bare": "bare generate loop", "sorted": "bare loop, ml-ci's batches"}
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    bare_phases: dict[str, list[dict[str, float]]] = {"bare": [], "sorted": []}
    loads: list[str] = []
    for i in range(args.runs):
        order = list(commands.items())
        for name, cmd in order if i % 2 == 0 else order[::-1]:  # alternating: drift in load cancels out
            outputs.unlink(missing_ok=True)
            before = loadavg()
            result, seconds = measured(cmd, repo, args.log)
            after = loadavg()
            if name == "ours":
                computed(outputs)
            else:
                bare_phases[name].append(json.loads(result.output.strip().splitlines()[-1]))
            times[name].append(result.seconds)
            cpu[name].append(seconds)
            loads.append(f"{name}: {before} -> {after}")
            print(
                f"  run {i + 1}: {names[name]} {result.seconds:.2f} s wall, {seconds:.2f} s CPU"
                f"{' (computed: cache-hit=false)' if name == 'ours' else ''}; load {before} -> {after}",
                flush=True,
            )
    ours = ml_ci_completions(repo)
    same = {}
    for name in ("bare", "sorted"):
        theirs = json.loads(Path(f"{bare_out}.{'file' if name == 'bare' else name}").read_text(encoding="utf-8"))
        same[name] = sum(ours.get(k) == v for k, v in theirs.items())
    wall = {name: statistics.median(v) for name, v in times.items()}
    used = {name: statistics.median(v) for name, v in cpu.items()}
    load_s = {n: statistics.median(p["load_s"] for p in bare_phases[n]) for n in bare_phases}
    generate_s = {n: statistics.median(p["generate_s"] for p in bare_phases[n]) for n in bare_phases}
    ratio, overhead = wall["ours"] / wall["bare"], wall["ours"] / wall["sorted"]
    print(f"\n{len(items)} prompts, greedy, max_new_tokens {args.max_new_tokens}, medians of {args.runs} runs:")
    for name in commands:
        split = f" ({load_s[name]:.2f} s to start and load, {generate_s[name]:.2f} s generating)" if name != "ours" else ""
        print(f"  {names[name]:<28} {wall[name]:7.2f} s wall{split}, {used[name]:.2f} s CPU")
    print(
        f"  ratio ml-ci / bare loop {ratio:.2f} (target <= 1.1); ml-ci / the loop with ml-ci's batches {overhead:.2f} "
        f"(its overhead); completions identical to ml-ci's: {same['bare']}/{len(items)} and {same['sorted']}/{len(items)}; "
        f"every ml-ci run computed (cache-hit=false)\nload: {'; '.join(loads)}"
    )
    if max(ratio, overhead) > 1.1 or args.profile:
        phases(repo, work, {"load_s": load_s["sorted"], "generate_s": generate_s["sorted"]})
    ratios: dict[str, dict[str, object]] = {
        f"LLM ml-ci evaluate / bare generate loop (wall), {len(items)} prompts": {
            "value": ratio,
            "target": "<= 1.1",
            "ours": f"{wall['ours']:.2f} s",
            "baseline": f"{wall['bare']:.2f} s",
        },
        "LLM ml-ci evaluate / the same loop batched as ml-ci batches (wall)": {
            "value": overhead,
            "target": "<= 1.1",
            "ours": f"{wall['ours']:.2f} s",
            "baseline": f"{wall['sorted']:.2f} s",
        },
        "LLM ml-ci evaluate / bare generate loop (CPU time)": {
            "value": used["ours"] / used["bare"],
            "ours": f"{used['ours']:.2f} s",
            "baseline": f"{used['bare']:.2f} s",
        },
        "LLM completions identical to the bare loop's": {"value": same["bare"] / len(items), "unit": "share"},
    }
    extra = {
        "bare loop": f"{load_s['bare']:.2f} s start and load, {generate_s['bare']:.2f} s generating (medians)",
        "bare loop, ml-ci's batches": f"{load_s['sorted']:.2f} s start and load, {generate_s['sorted']:.2f} s generating",
        "load": loads,
    }
    print(json.dumps({"benchmark": "llm_evaluate", "ratios": ratios, "conditions": {**conditions, **extra}}))


if __name__ == "__main__":
    main()
