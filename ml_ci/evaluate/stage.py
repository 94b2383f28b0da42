"""`ml-ci evaluate`, the effectful part: run the model, write the record, enforce the gates.

Order matters for the user: cheap checks (model folder, baselines) fail before the model runs;
the record and plots are written before the gates can fail, so a failed gate still leaves a full
report for `ml-ci report` to post.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ml_ci.atomic import staged_dir
from ml_ci.cache import folder_digest
from ml_ci.config.model import Config
from ml_ci.errors import GateError
from ml_ci.evaluate import baseline as baselines_mod
from ml_ci.evaluate import inference
from ml_ci.evaluate.assemble import Measured, Outcome, assemble
from ml_ci.evaluate.dataset import EvalSplit, load_eval_split
from ml_ci.evaluate.record import Predictions, read_json, text_hash, write_json_atomic
from ml_ci.github import actions_io
from ml_ci.pipeline.layout import Layout
from ml_ci.report import markdown, plots


@dataclass(frozen=True)
class Options:
    model: Path | None = None
    sources: baselines_mod.BaselineSources = field(default_factory=baselines_mod.BaselineSources)


def git_of(env: Mapping[str, str]) -> dict[str, str | None]:
    """Which commit this evaluation belongs to, as the Actions runner says."""
    return {"sha": env.get("GITHUB_SHA"), "ref": env.get("GITHUB_REF_NAME"), "repository": env.get("GITHUB_REPOSITORY")}


def write_outputs(out_dir: Path, outcome: Outcome, train_metrics: Path | None = None) -> None:
    """eval.json, report.md and the PNGs into a fresh folder that replaces out_dir at once."""
    with staged_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; artifacts are shared
        record = outcome.record
        write_json_atomic(tmp / "eval.json", record)
        curves = read_json(train_metrics, "training metrics") if train_metrics and train_metrics.is_file() else None
        images = plots.draw_all(record, tmp, curves)
        (tmp / "report.md").write_text(markdown.evaluation(record, images=[p.name for p in images]), encoding="utf-8")


def gate_failure(outcome: Outcome) -> GateError:
    lines = [f"{len(outcome.failures)} quality gate(s) failed:"] + [f"  {r.message}" for r in outcome.failures]
    return GateError("\n".join(lines))


def measure(config: Config, model_dir: Path, split: EvalSplit) -> tuple[Predictions, Measured]:
    m = inference.load(model_dir, config.data.labels, config.model.max_length)
    probs = inference.predict_proba(m, split.texts)
    timings = inference.latencies_ms(m, split.texts, config.evaluate.latency_samples)
    preds = Predictions(tuple(text_hash(t) for t in split.texts), split.labels, probs)
    shown = model_dir.relative_to(config.root) if model_dir.is_relative_to(config.root) else model_dir
    return preds, Measured(timings, inference.folder_size_mb(model_dir), folder_digest(model_dir), shown.as_posix())


def run(config: Config, options: Options, env: Mapping[str, str] | None = None) -> Outcome:
    env = os.environ if env is None else env
    layout = Layout(config.root)
    model_dir = options.model or layout.model_dir
    inference.check_model_dir(model_dir)
    resolved = baselines_mod.resolve(config, options.sources)
    split = load_eval_split(config)
    preds, measured = measure(config, model_dir, split)
    outcome = assemble(config, role=split.role, fingerprint=split.fingerprint,
                       texts_lengths=[len(t) for t in split.texts], columns=split.columns, preds=preds,
                       measured=measured, baselines=resolved,
                       created=datetime.now(timezone.utc).isoformat(timespec="seconds"), git=git_of(env))
    write_outputs(layout.eval_record.parent, outcome, layout.artifacts("train") / "metrics.json")
    actions_io.add_summary(markdown.evaluation(outcome.record), env)
    actions_io.set_output("verdict", outcome.verdict, env)
    return outcome
