"""`ml-ci evaluate`, the effectful part: run the model, write the record, enforce the gates.

Order matters for the user: cheap checks (model folder, baselines) fail before the model runs;
the record and plots are written before the gates can fail, so a failed gate still leaves a full
report for `ml-ci report` to post.

The output folder is cached on everything the evaluation reads (`ml_ci.evaluate.cache_inputs`). A
hit restores the folder byte for byte and restores the verdict with it: the gate results are read
back from the restored eval.json, so a cached failure still exits 4. Re-judging would give the same
results (the gates, the baselines and everything the metrics are computed from are in the key), and
reading them from the record means the exit code can never disagree with the eval.json that build
and report read. One exception: a failed latency gate is not cached (see `reusable`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ml_ci import tasks
from ml_ci.atomic import staged_dir
from ml_ci.cache import (
    StageCache,
    announce,
    cache_key,
    folder_digest,
    mode,
    optional_file_digest,
    through_cache,
    unpinned,
    value_digest,
)
from ml_ci.config.model import Config
from ml_ci.data.fingerprint import fingerprints
from ml_ci.errors import GateError
from ml_ci.evaluate import baseline as baselines_mod
from ml_ci.evaluate import latency, model_folder
from ml_ci.evaluate.assemble import Measured, Outcome, Predictions, assemble
from ml_ci.evaluate.cache_inputs import PACKAGES, cache_inputs
from ml_ci.evaluate.dataset import load_eval_split, split_role
from ml_ci.evaluate.lineage_check import LINEAGE, Freshness, compare, read_lineage, refusal
from ml_ci.github import actions_io
from ml_ci.jsonfile import read_object
from ml_ci.pipeline.layout import EVAL_RECORD, Layout
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import EvalRecord, GateResult
from ml_ci.report import markdown, plots
from ml_ci.tasks.protocols.evaluation import Examples

STAGE = "evaluate"


@dataclass(frozen=True)
class Options:
    model: Path | None = None
    sources: baselines_mod.BaselineSources = field(default_factory=baselines_mod.BaselineSources)
    no_cache: bool = False
    allow_stale_model: bool = False  # evaluate a model whose lineage names other training data


def git_of(env: Mapping[str, str]) -> dict[str, str | None]:
    """Which commit this evaluation belongs to, as the Actions runner says."""
    return {"sha": env.get("GITHUB_SHA"), "ref": env.get("GITHUB_REF_NAME"), "repository": env.get("GITHUB_REPOSITORY")}


def write_outputs(config: Config, out_dir: Path, outcome: Outcome, train_metrics: Path | None = None) -> None:
    """eval.json, report.md and the PNGs into a fresh folder that replaces out_dir at once."""
    with staged_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; artifacts are shared
        record = outcome.record
        half = tasks.get(config.task).evaluation()
        eval_record.write(EVAL_RECORD.within(tmp), record)
        curves = read_object(train_metrics, "training metrics") if train_metrics and train_metrics.is_file() else None
        images = plots.draw_all(record, tmp, half, curves)
        parts = half.report(record)
        (tmp / "report.md").write_text(markdown.evaluation(record, parts, images=[p.name for p in images]), encoding="utf-8")


def gate_failure(outcome: Outcome) -> GateError:
    lines = [f"{len(outcome.failures)} quality gate(s) failed:"] + [f"  {r.message}" for r in outcome.failures]
    return GateError("\n".join(lines))


def shown_path(config: Config, model_dir: Path) -> str:
    """The model's path as the record shows it: relative to the repository when inside it."""
    return (model_dir.relative_to(config.root) if model_dir.is_relative_to(config.root) else model_dir).as_posix()


LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms")


def wants_latency(config: Config) -> bool:
    """Latency costs an export and timed requests: measured only when reported (a gate can name only
    a reported metric: the config refuses others)."""
    return any(m in LATENCY_METRICS for m in config.evaluate.metrics)


def measure(config: Config, model_dir: Path, split: Examples, digest: str) -> tuple[Predictions, Measured]:
    half = tasks.get(config.task).evaluation()
    model_folder.check_model_dir(model_dir)
    outputs = half.outputs(half.load(model_dir, config), split)
    preds = Predictions.of(split.texts, split.truth, outputs)
    timed = latency.Latency([], {})
    if wants_latency(config):
        # As production runs it: exported with export's own code, timed through the server's runtime.
        timed = latency.measure(
            model_dir,
            split.texts,
            config.evaluate.latency_samples,
            work=Path(tempfile.mkdtemp(prefix="ml-ci-latency-")),
            config=config,
        )
    return preds, Measured(
        timed.timings_ms, model_folder.folder_size_mb(model_dir), digest, shown_path(config, model_dir), timed.method
    )


def reusable(outcome: Outcome) -> bool:
    """Whether a result may be cached. A gate on latency judges a timing, not the inputs: failed, it
    may pass when measured again (it failed on a busy machine), so that failure is measured anew
    next time instead of being restored (so with the task's other timings: text-generation's time to first
    token). Every other result is a function of the key."""
    from ml_ci.config import by_task

    timed = by_task.timed(outcome.record.task) if outcome.record.task else by_task.GENERIC_TIMED
    return not any(r.metric in timed for r in outcome.failures)


def results_of(record: EvalRecord) -> list[GateResult]:
    """The gate results a record holds, overall then per slice: the order `assemble` made them in."""
    return record.all_gates


@dataclass(frozen=True)
class Inputs:
    """What the evaluation reads, checked and hashed before the model runs."""

    model_dir: Path
    digest: str
    baselines: dict[str, baselines_mod.Baseline | None]
    train_metrics: Path
    key: str
    unseen: list[str]  # split roles the key cannot see (an unpinned hub split)
    freshness: Freshness


def freshness_of(config: Config, model_dir: Path, allow_stale: bool) -> Freshness:
    """The model's lineage against ml.yaml's training splits; a stale model is refused unless allowed.
    Checked before the cache lookup: a cached verdict must not vouch for a model of other data."""
    from ml_ci.evaluate.lineage_check import TRAINED_ON

    lineage_path = model_dir.parent / LINEAGE
    freshness = compare(read_lineage(lineage_path), fingerprints(config, TRAINED_ON), shown=shown_path(config, lineage_path))
    if freshness.status == "stale":
        if not allow_stale:
            raise refusal(freshness, shown_path(config, model_dir))
        # Allowed, but never silent: the record says it too (model.lineage).
        print(
            f"warning: evaluating a stale model (--allow-stale-model): {'; '.join(map(str, freshness.changes))}",
            file=sys.stderr,
            flush=True,
        )
    return freshness


def gather_inputs(config: Config, options: Options, env: Mapping[str, str]) -> Inputs:
    from ml_ci.versions import package_versions

    layout = Layout(config.root)
    model_dir = options.model or layout.model_dir
    model_folder.check_model_dir(model_dir)
    freshness = freshness_of(config, model_dir, options.allow_stale_model)
    resolved = baselines_mod.resolve(config, options.sources)
    train_metrics = layout.train_metrics
    digest = folder_digest(model_dir)
    role = split_role(config)
    fps = fingerprints(config, [role])
    inputs = cache_inputs(
        config,
        role=role,
        fingerprint=fps.get(role),
        model_digest=digest,
        model_path=shown_path(config, model_dir),
        baselines={k: (b.source, value_digest(b.record.to_json())) if b is not None else None for k, b in resolved.items()},
        train_metrics=optional_file_digest(train_metrics),
        git=git_of(env),
        packages=package_versions(PACKAGES),
        lineage=freshness.to_json(),
        task_inputs=tasks.get(config.task).evaluation().key_inputs(config),
    )
    return Inputs(
        model_dir,
        digest,
        resolved,
        train_metrics,
        cache_key(STAGE, inputs),
        unpinned({role: fps[role]} if role in fps else {}),
        freshness,
    )


def run(config: Config, options: Options, env: Mapping[str, str] | None = None) -> Outcome:
    env = os.environ if env is None else env
    layout = Layout(config.root)
    inputs = gather_inputs(config, options, env)

    def compute() -> Outcome:
        split = load_eval_split(config)
        preds, measured = measure(config, inputs.model_dir, split, inputs.digest)
        outcome = assemble(
            config,
            role=split.role,
            fingerprint=split.fingerprint,
            texts_lengths=[len(t) for t in split.texts],
            columns=split.columns,
            preds=preds,
            measured=measured,
            baselines=inputs.baselines,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            git=git_of(env),
            lineage=inputs.freshness.to_json(),
        )
        write_outputs(config, layout.eval_record.parent, outcome, inputs.train_metrics)
        return outcome

    def restored() -> Outcome:
        record = eval_record.read(layout.eval_record, head=tasks.get(config.task).evaluation().RECORD_HEAD)
        return Outcome(record, results_of(record))

    outcome, cached = through_cache(
        StageCache(layout.cache),
        STAGE,
        inputs.key,
        layout.eval_record.parent,
        mode=mode(no_cache=options.no_cache, unseen=inputs.unseen),
        compute=compute,
        restored=restored,
        keep=reusable,
    )
    actions_io.add_summary(markdown.evaluation(outcome.record, tasks.get(config.task).evaluation().report(outcome.record)), env)
    actions_io.set_output("verdict", outcome.verdict, env)
    announce(cached, env)
    return outcome
