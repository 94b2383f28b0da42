"""Evaluate and the report ask the task: a fake task put in the registry changes what is scored, paired,
recorded and reported, with no change to ml_ci.evaluate or ml_ci.report."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci import tasks
from ml_ci.config import Config
from ml_ci.evaluate.assemble import Measured, Outcome, Predictions, assemble
from ml_ci.evaluate.baseline import Baseline
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import EvalRecord, text_hash
from ml_ci.report import markdown, plots, text
from ml_ci.tasks.protocols.evaluation import Examples, Paired, ReportParts, Rows, Scores
from ml_ci.tasks.task import Task
from tests.unit.evaluate.conftest import MakeConfig

PACKAGE = "fake_task_for_tests"


def fake_evaluation() -> types.ModuleType:
    """A task whose examples are numbers and whose model guesses them: `accuracy` is the share guessed
    exactly; paired as a plain mean over resamples."""
    half = types.ModuleType(f"{PACKAGE}.evaluation")

    def score(config: Config, truth: Any, outputs: Any, rows: Rows | None = None) -> Scores:
        t, o = (truth, outputs) if rows is None else (truth[rows], outputs[rows])
        return Scores({"accuracy": float((t == o).mean())}, {}, {"guessed": int((t == o).sum())})

    def paired(metric: str, truth: Any, current: Any, baseline: Any, mine: Rows, theirs: Rows) -> Paired | None:
        y, cur, base = truth[mine], current[mine], baseline[theirs]
        return Paired(len(y), lambda r: (float((cur[r] == y[r]).mean()), float((base[r] == y[r]).mean())))

    def read_predictions(config: Config, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
        return np.asarray([r["number"] for r in rows]), np.asarray([r["guess"] for r in rows])

    def plot(record: EvalRecord, folder: Path) -> list[Path]:
        (folder / "numbers.png").write_bytes(b"png")
        return [folder / "numbers.png"]

    names: dict[str, Any] = {
        "HEADLINE_METRICS": (("accuracy", "guessed"),),
        "RECORD_HEAD": ("numbers",),
        "examples": lambda config, role, columns, fingerprint: Examples(role, [], None),
        "load": lambda model_dir, config: None,
        "predict": lambda loaded, texts: None,
        "latency_predictor": lambda model_dir, work, config: None,
        "score": score,
        "record_head": lambda config: {"numbers": ["0", "1", "2"]},
        "prediction_rows": lambda config, truth, outputs: [
            {"number": int(t), "guess": int(o)} for t, o in zip(truth, outputs, strict=True)
        ],
        "read_predictions": read_predictions,
        "paired": paired,
        "check_baseline": lambda record, config, source: None,
        "report": lambda record: ReportParts(
            headline=(("accuracy", "guessed"),),
            sections=(("Guesses", f"{record.task_scores['guessed']} guessed"),),
            text=("guessed: yes",),
            plots="numbers",
        ),
        "plots": plot,
    }
    for name, value in names.items():
        setattr(half, name, value)
    return half


@pytest.fixture
def fake_task(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registered under ml.yaml's task name, so that the config stays valid (its config half is the real one)."""
    monkeypatch.setitem(sys.modules, f"{PACKAGE}.config", importlib.import_module("ml_ci.tasks.text_classification.config"))
    package = types.ModuleType(PACKAGE)
    package.TASK = Task(name="text-classification", package=PACKAGE, summary="guess a number")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PACKAGE, package)
    monkeypatch.setitem(sys.modules, f"{PACKAGE}.evaluation", fake_evaluation())
    monkeypatch.setitem(tasks.REGISTRY, "text-classification", PACKAGE)
    return PACKAGE


def run(config: Config, guesses: list[int], baselines: dict[str, Baseline | None] | None = None) -> Outcome:
    truth = np.asarray([i % 3 for i in range(len(guesses))])
    preds = Predictions(tuple(text_hash(str(i)) for i in range(len(guesses))), truth, np.asarray(guesses))
    return assemble(
        config,
        role="test",
        fingerprint=None,
        texts_lengths=[5] * len(guesses),
        columns={},
        preds=preds,
        measured=Measured([], 1.0, "sha256:m", "model"),
        baselines=baselines or {},
        created="2026-01-01T00:00:00+00:00",
        git={"sha": "abc"},
    )


def test_the_task_decides_scores_pairs_record_and_report(make_config: MakeConfig, fake_task: str, tmp_path: Path) -> None:
    config = make_config(
        evaluate={"gates": [{"metric": "accuracy", "min": 0.5, "against": "main", "max_drop": 0.0, "significance": 0.05}]}
    )
    right = [i % 3 for i in range(60)]
    base = run(config, right)
    assert base.record.metrics["accuracy"] == 1.0
    worse = run(config, [g if i >= 30 else g + 1 for i, g in enumerate(right)], {"main": Baseline("main", "b", base.record)})
    [absolute, relative] = worse.results
    assert (absolute.value, absolute.passed) == (0.5, True)
    assert (relative.status, relative.test, relative.paired_examples) == ("fail", "paired-bootstrap", 60)
    data = worse.record.to_json()
    assert list(data)[3:5] == ["task", "numbers"] and "labels" not in data
    assert list(data)[list(data).index("undefined") + 1] == "guessed"
    assert data["predictions"][0] == {"index": 0, "text_sha256": text_hash("0"), "number": 0, "guess": 1}

    eval_record.write(tmp_path / "eval.json", worse.record)
    back = eval_record.read(tmp_path / "eval.json", head=("numbers",))
    assert back == worse.record
    half = tasks.get("text-classification").evaluation()
    parts = half.report(back)
    body = markdown.pr_comment(back, parts, run_url="https://x/run")
    assert "#### Guesses\n\n30 guessed" in body and "Plots (numbers, metric history)" in body
    assert "guessed: yes" in text.evaluation(back, back.gates, parts)
    assert [p.name for p in plots.draw_all(back, tmp_path, half)] == ["numbers.png", "history.png"]
