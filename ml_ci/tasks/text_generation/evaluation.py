"""text-generation's evaluation half (`ml_ci.tasks.protocols.evaluation.EvaluationHalf`).

Examples: the evaluated split's records (each scored by its completion tokens' loss; nothing is generated for
them), then the prompt set's items (evaluate.prompts: each generated, judged by its assertions and compared with
its reference). truth: `scores.Cases` (each a `SplitRecord` or a `prompts.PromptItem`); outputs: `scores.Outputs`
(a `Loss` per record, a `Completion` per item, and the speed when it is reported). Examples.texts is what each
asks (a record's prompt, a chat's user turns; an item's prompt or turns): hashed to pair examples with a
baseline's. The slice columns every example has: `tag` (a list: an item's tags, [] for a record) and `source`
(`split` or `prompts`).

Speed (time_to_first_token_ms, tokens_per_second) is measured only when evaluate.metrics lists it: the model is
exported as `ml-ci export` does (merged, ONNX Runtime GenAI) and each of up to evaluate.latency_samples prompt items
is generated one at a time as the server generates (`runtime.Runtime`), fastest of latency.REPEATS runs after a
warm-up, as `ml_ci.evaluate.latency` argues; the record says how (`speed` in eval.json's task scores).

Paired tests against a baseline: pass_rate (and pass_rate.TAG) as each item passed or not (McNemar); loss and
perplexity by a bootstrap over the records; rouge_l and chrf by a bootstrap over the items with a reference. The
baseline's completions are judged again by the current prompt set's assertions, so both sides face the same test.

torch and transformers are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.tasks.protocols.evaluation import Examples, Paired, ReportParts, Rows, Scores
from ml_ci.tasks.text_generation import generate, prompts, render
from ml_ci.tasks.text_generation import scores as sc
from ml_ci.tasks.text_generation.config import of
from ml_ci.tasks.text_generation.prompts import PromptItem
from ml_ci.tasks.text_generation.runtime import Settings
from ml_ci.tasks.text_generation.scores import Cases, Completion, Loss, Outputs, SplitRecord

if TYPE_CHECKING:
    from ml_ci.config.model import Config
    from ml_ci.records.evaluation import EvalRecord

HEADLINE_METRICS: tuple[tuple[str, str], ...] = (("pass_rate", "pass rate"), ("loss", "loss"))
RECORD_HEAD: tuple[str, ...] = ("tags",)
LATENCY_RUNTIME = (
    "onnxruntime-genai, through ml-ci serve's LanguageModel (the serving image's code path), one greedy completion per request"
)
SPEED_RUNTIME = "onnxruntime-genai (runtime.Runtime, as ml-ci serve generates), one prompt at a time"
TAG, SOURCE = "tag", "source"  # the slice columns (config.SLICE_COLUMNS)
SHOWN = 200  # characters of a prompt or an output the record and the report keep
FAILED_SHOWN = 20  # failed items the report lists
SAMPLED = 5  # items the report shows beside a baseline's
LOSS_METRICS = ("loss", "perplexity")


# --- the examples -------------------------------------------------------------------------------


def _prompt_set(config: Config) -> list[PromptItem]:
    path = of(config).prompts_path(config.root)
    return [] if path is None else prompts.read(path, of(config).prompts or str(path))


def examples(config: Config, role: str, columns: dict[str, list[Any]], fingerprint: str | None) -> Examples:
    """The split's records (`data.rows`' plain columns), then the prompt set's items."""
    from ml_ci.tasks.text_generation.data import as_records

    try:
        records = as_records(columns)
    except KeyError as e:
        raise DataCheckError(f"the {role} split has no column {e.args[0]!r}") from None
    items = _prompt_set(config)
    if not records and not items:
        raise DataCheckError(f"the {role} split is empty and there is no evaluate.prompts: nothing to evaluate")
    cases = Cases([SplitRecord(i, r, _record_text(r)) for i, r in enumerate(records)])
    cases.extend(items)
    n, m = len(records), len(items)
    slice_cols: dict[str, list[Any]] = {c: [*columns[c], *([None] * m)] for c in config.data.slice_columns if c in columns}
    slice_cols.setdefault(TAG, [[] for _ in range(n)] + [list(i.tags) for i in items])
    slice_cols.setdefault(SOURCE, [sc.SPLIT] * n + [sc.PROMPTS] * m)
    texts = [c.text for c in cases]
    return Examples(role, texts, cases, slice_cols, fingerprint)


def _record_text(record: Mapping[str, Any]) -> str:
    """A record's question, as the data half's texts say it: the prompt, or a chat's user turns by line."""
    if record.get(render.MESSAGES) is not None:
        return "\n".join(str(m["content"]) for m in record[render.MESSAGES] if m["role"] == "user")
    return str(record.get(render.PROMPT) or "")


def key_inputs(config: Config) -> dict[str, Any]:
    """The prompt set, by content: editing it re-evaluates."""
    path = of(config).prompts_path(config.root)
    return {} if path is None else {"prompts": prompts.digest(path)}


# --- the model ----------------------------------------------------------------------------------


@dataclass
class Model:
    """The trained model (an adapter on its base, or a full model) loaded for PyTorch, with what runs it."""

    model: Any
    tokenizer: Any
    config: Config
    model_dir: Path


def load(model_dir: Path, config: Config) -> Model:
    from transformers.utils import logging as hf_logging

    from ml_ci.tasks.text_generation import training

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per load is noise in CI logs
    try:
        # Merged: generating through merged weights does no adapter arithmetic per token (and is what export serves).
        tokenizer, model = training.load_trained(model_dir, config, merged=True)
    except (OSError, ValueError) as e:
        raise OperationalError(f"cannot load the model in {model_dir}: {e}") from None
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Model(model, tokenizer, config, model_dir)


def settings(config: Config) -> Settings:
    g = of(config).generation
    return Settings(max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p, seed=g.seed, stop=g.stop)


def _item_ids(m: Model, items: Sequence[PromptItem]) -> list[list[int]]:
    spec = of(m.config)
    ids = []
    for item in items:
        try:
            ids.append(render.prompt_ids(item.record, m.tokenizer, spec))
        except ValueError as e:  # a chat item without a chat template
            raise DataCheckError(f"{spec.prompts}:{item.line}: {e}") from None
    return ids


def _losses(m: Model, records: Sequence[SplitRecord], role: str) -> list[Loss]:
    spec = of(m.config)
    try:
        rendered = [render.render(r.record, m.tokenizer, spec, where=f"the {role} split's record {r.row}") for r in records]
    except ValueError as e:
        raise DataCheckError(str(e)) from None
    encoded = render.encode_many(rendered, m.tokenizer, m.config.model.max_length)
    pad = m.tokenizer.pad_token_id if m.tokenizer.pad_token_id is not None else m.tokenizer.eos_token_id
    found = generate.losses(m.model, encoded, int(pad))
    bad = [i for i, x in enumerate(found) if not math.isfinite(x.nll)]
    if bad:
        raise OperationalError(
            f"the model produced a NaN or infinite loss on {len(bad)} of {len(found)} records (the first: record "
            f"{records[bad[0]].row}): its weights are broken, e.g. trained with a diverging loss; retrain it (`ml-ci train`)"
        )
    return found


def outputs(m: Model, ex: Examples) -> Outputs:
    """Each record's loss (when loss or perplexity is reported), each item's completion, and the speed (when
    reported)."""
    config = m.config
    cases: Sequence[sc.Case] = ex.truth
    at_records = [i for i, c in enumerate(cases) if isinstance(c, SplitRecord)]
    at_items = [i for i, c in enumerate(cases) if isinstance(c, PromptItem)]
    wanted = set(config.evaluate.metrics)
    found: list[sc.Output] = [None] * len(cases)
    if at_records and wanted & set(LOSS_METRICS):
        records = [cases[i] for i in at_records]
        for i, loss in zip(at_records, _losses(m, records, ex.role), strict=True):  # type: ignore[arg-type]
            found[i] = loss
    speed = None
    if at_items:
        items: list[PromptItem] = [cases[i] for i in at_items]  # type: ignore[misc]
        ids = _item_ids(m, items)
        g = settings(config)
        limits = [item.max_new_tokens or g.max_new_tokens for item in items]
        done = generate.completions(m.model, m.tokenizer, ids, limits, g, max_length=config.model.max_length)
        for i, completion in zip(at_items, done, strict=True):
            found[i] = completion
        if wanted & set(sc.SPEED_METRICS):
            speed = measure_speed(m, ids[: config.evaluate.latency_samples])
    elif wanted & set(sc.SPEED_METRICS):
        speed = sc.Speed([], [], {"why": "no evaluate.prompts: speed is measured on the prompt set's items"})
    return Outputs(found, speed)


def predict(m: Model, texts: Sequence[str]) -> list[str]:
    """Each text's completion as a plain prompt (PyTorch, batched, evaluate.generation's settings)."""
    ids = [[int(t) for t in m.tokenizer(text)["input_ids"]] for text in texts]
    g = settings(m.config)
    done = generate.completions(m.model, m.tokenizer, ids, [g.max_new_tokens] * len(ids), g, max_length=m.config.model.max_length)
    return [c.text for c in done]


# --- speed and latency: the model as it is served ----------------------------------------------------


def serving_copy(model_dir: Path, dest: Path, config: Config) -> Path:
    """dest/ as `ml-ci export` writes it, as far as the server reads it (export's own functions do the export)."""
    from ml_ci.export import onnx_export
    from ml_ci.tasks.text_generation.export import load as load_export
    from ml_ci.tasks.text_generation.export import manifest_payload

    return onnx_export.serving_copy(
        load_export(model_dir, config),
        dest,
        name=config.name,
        payload=manifest_payload(config),
        max_length=config.model.max_length,
        opset=config.package.opset,
        quantize=config.package.quantize,
        tokenizer=model_dir / "tokenizer.json",
    )


def latency_predictor(model_dir: Path, work: Path, config: Config) -> Callable[[list[str]], Any]:
    """The server's own LanguageModel (ONNX Runtime GenAI, greedy, model.json's settings) on a serving copy
    exported into `work`: each timed request is one prompt's whole completion."""
    from ml_ci.tasks.text_generation.serving import LanguageModel

    timed: Callable[[list[str]], Any] = LanguageModel(serving_copy(model_dir, work / "model", config)).predict
    return timed


def time_prompts(
    run: Callable[[Sequence[int]], tuple[float, float | None]], prompts_ids: Sequence[Sequence[int]], *, repeats: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Per prompt, the fastest time to first token (ms) and the highest decode speed (tokens/s) of `repeats` runs;
    `run(ids)` gives (seconds to the first token, tokens per second or None under two tokens). Pure given run."""
    for i in range(min(warmup, len(prompts_ids))):
        run(prompts_ids[i])
    ttft: list[float] = []
    tps: list[float] = []
    for ids in prompts_ids:
        runs = [run(ids) for _ in range(repeats)]
        ttft.append(min(r[0] for r in runs) * 1000.0)
        speeds = [r[1] for r in runs if r[1] is not None]
        if speeds:
            tps.append(max(speeds))
    return ttft, tps


def measure_speed(m: Model, prompts_ids: Sequence[Sequence[int]]) -> sc.Speed:
    """Export a serving copy, generate each prompt one at a time through the runtime, and say how."""
    from ml_ci.evaluate.latency import REPEATS
    from ml_ci.tasks.text_generation.runtime import Runtime
    from ml_ci.tasks.text_generation.serving import settings_of

    work = Path(tempfile.mkdtemp(prefix="ml-ci-speed-"))
    started = time.perf_counter()
    try:
        try:
            folder = serving_copy(m.model_dir, work / "model", m.config)
        except (OperationalError, ValueError) as e:  # e.g. an architecture the model builder cannot convert
            raise OperationalError(
                f"time_to_first_token_ms and tokens_per_second are measured on the model as it is served, which "
                f"cannot be had: {e} (or leave them out of evaluate.metrics)"
            ) from None
        exported = time.perf_counter()
        from ml_ci.records import model as model_record

        served = settings_of(model_record.read(folder / model_record.FILE))
        runtime = Runtime(folder)

        def run(ids: Sequence[int]) -> tuple[float, float | None]:
            done = runtime.generate(ids, served)
            return done.first_token_s, done.tokens_per_second

        ttft, tps = time_prompts(run, prompts_ids, repeats=REPEATS, warmup=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    method: dict[str, Any] = {
        "runtime": SPEED_RUNTIME,
        "prompts": len(prompts_ids),
        "repeats": REPEATS,
        "warmup": 1,
        "max_new_tokens": served.max_new_tokens,
        "statistic": f"per prompt the fastest first token and decode speed of {REPEATS} greedy runs; the median over prompts",
        "load_average": round(os.getloadavg()[0], 2),
        "seconds": {"export": round(exported - started, 3), "timing": round(time.perf_counter() - exported, 3)},
    }
    if not tps and prompts_ids:
        method["why"] = "no sampled completion had two tokens or more (the decode phase is the tokens after the first)"
    return sc.Speed(ttft, tps, method)


# --- scores -------------------------------------------------------------------------------------


def score(config: Config, truth: Cases, outputs: Outputs, rows: Rows | None = None) -> Scores:
    speed = getattr(outputs, "speed", None) if rows is None else None
    s = sc.score(
        truth, outputs, None if rows is None else [int(i) for i in rows], has_prompts=of(config).prompts is not None, speed=speed
    )
    return Scores(s.metrics, s.undefined, s.record)


def _losses_of(current: Sequence[sc.Output], baseline: Sequence[sc.Output], mine: Rows, theirs: Rows) -> list[tuple[Loss, Loss]]:
    """The paired examples that are split records with a loss on both sides."""
    out = []
    for i, j in zip(mine, theirs, strict=True):
        ours, base = current[int(i)], baseline[int(j)]
        if isinstance(ours, Loss) and isinstance(base, Loss):
            out.append((ours, base))
    return out


def _items_of(
    truth: Cases, current: Sequence[sc.Output], baseline: Sequence[sc.Output], mine: Rows, theirs: Rows
) -> list[tuple[PromptItem, Completion, Completion]]:
    """The paired examples that are prompt items with a completion on both sides."""
    out = []
    for i, j in zip(mine, theirs, strict=True):
        case, ours, base = truth[int(i)], current[int(i)], baseline[int(j)]
        if isinstance(case, PromptItem) and isinstance(ours, Completion) and isinstance(base, Completion):
            out.append((case, ours, base))
    return out


def _means(ours: sc.FloatArray, base: sc.FloatArray) -> Callable[[Rows], tuple[float, float]]:
    def statistic(rows: Rows) -> tuple[float, float]:
        return float(ours[rows].mean()), float(base[rows].mean())

    return statistic


def paired(metric: str, truth: Cases, current: Outputs, baseline: Sequence[sc.Output], mine: Rows, theirs: Rows) -> Paired | None:
    if metric in LOSS_METRICS:
        pairs = _losses_of(current, baseline, mine, theirs)
        nll = [np.asarray([p[k].nll for p in pairs], dtype=np.float64) for k in (0, 1)]
        tok = [np.asarray([p[k].tokens for p in pairs], dtype=np.float64) for k in (0, 1)]

        def value(k: int, rows: Rows) -> float:
            loss = sc.loss_value(nll[k][rows], tok[k][rows])
            return math.exp(min(loss, 700.0)) if metric == "perplexity" else loss

        return Paired(len(pairs), lambda rows: (value(0, rows), value(1, rows)))
    items = _items_of(truth, current, baseline, mine, theirs)
    if metric == "pass_rate" or metric.startswith("pass_rate."):
        tag = metric.partition(".")[2]
        kept = [(it, a, b) for it, a, b in items if it.asserts and (not tag or tag in it.tags)]
        ours = np.asarray([sc.passed(it, a) for it, a, _ in kept], dtype=np.bool_)
        base = np.asarray([sc.passed(it, b) for it, _, b in kept], dtype=np.bool_)
        return Paired(len(kept), _means(ours.astype(np.float64), base.astype(np.float64)), (ours, base))
    if metric not in ("rouge_l", "chrf"):
        return None
    kept = [(it, a, b) for it, a, b in items if it.reference is not None]
    refs = [str(it.reference) for it, _, _ in kept]
    hyps = [[a.text for _, a, _ in kept], [b.text for _, _, b in kept]]
    if metric == "rouge_l":
        f = [np.asarray(sc.rouge_l(h, refs), dtype=np.float64) for h in hyps]
        return Paired(len(kept), _means(f[0], f[1]))
    if not kept:
        return Paired(0, lambda rows: (math.nan, math.nan))
    st = [sc.chrf_stats(h, refs) for h in hyps]
    return Paired(len(kept), lambda rows: (sc.chrf_of(st[0][rows].sum(axis=0)), sc.chrf_of(st[1][rows].sum(axis=0))))


# --- the record ---------------------------------------------------------------------------------


def record_head(config: Config) -> dict[str, Any]:
    """The prompt set (path and digest), the generation settings, and the tags of its items."""
    spec = of(config)
    path = spec.prompts_path(config.root)
    g = spec.generation
    return {
        "prompt_set": None if path is None else {"path": spec.prompts, "sha256": prompts.digest(path)},
        "generation": {
            "max_new_tokens": g.max_new_tokens,
            "temperature": g.temperature,
            "top_p": g.top_p,
            "seed": g.seed,
            "stop": list(g.stop),
        },
        "tags": sorted({t for item in _prompt_set(config) for t in item.tags}) if path is not None and path.is_file() else [],
    }


def cut(text: str, limit: int = SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prediction_rows(config: Config, truth: Cases, outputs: Outputs) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case, out in zip(truth, outputs, strict=True):
        if isinstance(case, SplitRecord):
            row: dict[str, Any] = {"source": sc.SPLIT}
            if isinstance(out, Loss):
                row.update(nll=round(out.nll, 6), tokens=out.tokens)
            rows.append(row)
            continue
        results = sc.results(case, out)
        text = out.text if isinstance(out, Completion) else ""
        rows.append(
            {
                "source": sc.PROMPTS,
                "id": case.id,
                "line": case.line,
                "tags": list(case.tags),
                "prompt": cut(case.text),
                "output": text,
                "tokens": out.tokens if isinstance(out, Completion) else 0,
                "finish": out.finish if isinstance(out, Completion) else None,
                "passed": all(r.passed for r in results) if results else None,
                "assertions": [r.to_json() for r in results],
            }
        )
    return rows


def read_predictions(config: Config, rows: Sequence[Mapping[str, Any]]) -> tuple[Cases, Outputs]:
    """The outputs back (a record's loss, an item's completion); the truth only as far as rows say it."""
    truth = Cases()
    outs: list[sc.Output] = []
    for n, r in enumerate(rows):
        if r["source"] == sc.SPLIT:
            truth.append(SplitRecord(n, {}, ""))
            outs.append(Loss(float(r["nll"]), int(r["tokens"])) if "nll" in r else None)
        elif r["source"] == sc.PROMPTS:
            if not isinstance(r["output"], str):
                raise TypeError("a prompt row's output is not a string")
            truth.append(
                PromptItem(
                    line=int(r.get("line") or 0), id=str(r["id"]), prompt="", messages=None, tags=tuple(r.get("tags") or ())
                )
            )
            outs.append(Completion(r["output"], int(r.get("tokens") or 0), str(r.get("finish") or "")))
        else:
            raise ValueError(f"a prediction row of source {r['source']!r}")
    return truth, Outputs(outs)


def check_baseline(record: EvalRecord, config: Config, source: str) -> None:
    """Any text-generation record of this model is a baseline: its examples pair by text, and its completions are
    judged again by this prompt set's assertions. One whose rows are not this task's is refused."""
    try:
        read_predictions(config, record.predictions)
    except (KeyError, TypeError, ValueError):
        raise OperationalError(
            f"baseline {source} is not a text-generation evaluation this ml-ci reads (its predictions are not records "
            "and prompt items): evaluate the baseline model again"
        ) from None


# --- the report ---------------------------------------------------------------------------------


def _items(record: EvalRecord) -> list[Mapping[str, Any]]:
    return [r for r in record.predictions if r.get("source") == sc.PROMPTS]


def failed_rows(record: EvalRecord) -> list[list[str]]:
    out = []
    for r in _items(record):
        if r.get("passed") is False:
            reasons = "; ".join(f"{a['type']}: {a['reason']}" for a in r.get("assertions") or [] if not a.get("passed"))
            out.append([str(r.get("id")), cut(str(r.get("prompt", ""))), cut(str(r.get("output", ""))), reasons])
    return out


def failed_lines(record: EvalRecord) -> list[str]:
    """The terminal's list: each failed item by id and line, with the assertions it failed."""
    source = (record.task_head.get("prompt_set") or {}).get("path") or "evaluate.prompts"
    lines = []
    for r in _items(record):
        if r.get("passed") is False:
            for a in r.get("assertions") or []:
                if not a.get("passed"):
                    lines.append(f"  {r.get('id')} ({source}:{r.get('line')}): {a['type']}: {a['reason']}")
    return lines


def per_tag_rows(record: EvalRecord) -> tuple[list[str], list[list[str]]]:
    from ml_ci.report.markdown import AGAINST_ORDER, plain_num

    found = {k: v for k, v in record.baselines.items() if v}
    baselines = [(a, found[a].get("metrics") or {}) for a in AGAINST_ORDER if a in found]
    header = ["tag", "items", "passed", "pass rate", *(f"Δ {a}" for a, _ in baselines)]
    rows = []
    for tag, t in ((record.task_scores.get("prompt_items") or {}).get("per_tag") or {}).items():
        now = record.metrics.get(f"pass_rate.{tag}")
        row = [str(tag), str(t.get("items")), str(t.get("passed")), plain_num(now)]
        for _, metrics in baselines:
            then = metrics.get(f"pass_rate.{tag}")
            both = isinstance(now, (int, float)) and isinstance(then, (int, float))
            row.append(f"{now - then:+.4f}" if both else "n/a")  # type: ignore[operator]
        rows.append(row)
    return header, rows


def _baseline_items(record: EvalRecord) -> list[tuple[str, dict[str, Mapping[str, Any]]]]:
    """Each baseline's prompt rows by text hash, read from its eval.json where it still is (a record that cannot be
    read is skipped: the report is written without it)."""
    from ml_ci.records import evaluation as eval_record

    out = []
    for against, summary in sorted(record.baselines.items()):
        source = (summary or {}).get("source")
        if not source or not Path(str(source)).is_file():
            continue
        try:
            theirs = eval_record.read(Path(str(source)), head=RECORD_HEAD)
        except OperationalError:
            continue
        out.append((against, {str(r.get("text_sha256")): r for r in _items(theirs)}))
    return out


MARK = {True: " ✓", False: " ✗", None: ""}  # an output's verdict, after it in the sampled table


def sampled_rows(record: EvalRecord) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows) of a few items' outputs: beside the first readable baseline's, those whose verdict
    changed first, then those whose text did; without a baseline, the first items."""
    baselines = _baseline_items(record)
    items = _items(record)
    if not baselines:
        rows = [
            [str(r.get("id")), cut(str(r.get("prompt", ""))), cut(str(r.get("output", ""))) + MARK[r.get("passed")]]
            for r in items
        ]
        return "Sampled outputs", ["id", "prompt", "output"], rows[:SAMPLED]
    against, theirs = baselines[0]
    changed, differ = [], []
    for r in items:
        b = theirs.get(str(r.get("text_sha256")))
        if b is None:
            continue
        if b.get("passed") != r.get("passed"):
            changed.append((r, b))
        elif b.get("output") != r.get("output"):
            differ.append((r, b))
    rows = [
        [
            str(r.get("id")),
            cut(str(r.get("prompt", ""))),
            cut(str(r.get("output", ""))) + MARK[r.get("passed")],
            cut(str(b.get("output", ""))) + MARK[b.get("passed")],
        ]
        for r, b in (changed + differ)[:SAMPLED]
    ]
    return "Outputs beside the baseline's", ["id", "prompt", "output", f"{against}'s output"], rows


def report(record: EvalRecord) -> ReportParts:
    from ml_ci.report import markdown, text

    p = record.task_scores.get("prompt_items") or {}
    sections: list[tuple[str, str]] = []
    terminal: list[str] = []
    if p.get("items"):
        summary = (
            f"{p.get('passed', 0)} of {p.get('with_assertions', 0)} items with assertions passed; "
            f"{p.get('with_reference', 0)} have a reference."
        )
        failed = failed_rows(record)
        body = (
            markdown.escaped_table(["id", "prompt", "output", "failed assertions"], failed[:FAILED_SHOWN]) if failed else "none"
        )
        more = f"\n\n... and {len(failed) - FAILED_SHOWN} more (eval.json's predictions)" if len(failed) > FAILED_SHOWN else ""
        sections.append(("Failed assertions", f"{summary}\n\n{body}{more}"))
        header, rows = per_tag_rows(record)
        if rows:
            sections.append(("Pass rate per tag", markdown.escaped_table(header, rows)))
            terminal.append("pass rate per tag:\n" + text.table(header, rows))
        title, sheader, srows = sampled_rows(record)
        if srows:
            sections.append((title, markdown.escaped_table(sheader, srows)))
        lines = failed_lines(record)
        if lines:
            terminal.append(
                "failed assertions:\n"
                + "\n".join(lines[:FAILED_SHOWN])
                + (f"\n  ... and {len(lines) - FAILED_SHOWN} more" if len(lines) > FAILED_SHOWN else "")
            )
    if speed := record.task_scores.get("speed"):
        sections.append(
            (
                "Speed",
                f"Measured with {speed.get('runtime')}: {speed.get('statistic')} ({speed.get('prompts')} prompts, "
                f"load average {speed.get('load_average')}).",
            )
        )
    return ReportParts(headline=HEADLINE_METRICS, sections=tuple(sections), text=tuple(terminal), plots="pass rate per tag")


def per_tag_png(per_tag: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    from ml_ci.report.plots import figure

    names = list(per_tag)
    rates = [t["passed"] / t["items"] if t.get("items") else np.nan for t in per_tag.values()]
    with figure(path, figsize=(2.5 + 0.7 * len(names), 3.2)) as (_, ax):
        ax.bar(np.arange(len(names)), rates, width=0.6)
        ax.set_xticks(np.arange(len(names)), labels=names, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("pass rate")
        ax.set_title("pass rate per tag")
    return path


def plots(record: EvalRecord, folder: Path) -> list[Path]:
    per_tag = (record.task_scores.get("prompt_items") or {}).get("per_tag") or {}
    return [per_tag_png(per_tag, folder / "pass_rate_per_tag.png")] if per_tag else []
