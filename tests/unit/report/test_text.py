"""The text reporter: what `ml-ci evaluate` prints on a terminal."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_ci.records.evaluation import EvalRecord, GateResult
from ml_ci.report import markdown, text
from tests.unit.report.test_markdown import parts, record

LATENCY = GateResult("overall", "latency_p95_ms", "max", 250, 12.5, "pass", True, "")
SIX = ["DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC"]


def six_classes() -> EvalRecord:
    per_class = {label: {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 10} for label in SIX}
    per_class["ABBR"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    return record(labels=SIX, per_class=per_class, gates=[LATENCY.to_json()])


def test_a_gate_reads_as_written_in_the_terminal_and_escaped_in_markdown() -> None:
    printed = text.gates_table([LATENCY])
    assert "latency_p95_ms <= 250" in printed and "&lt;" not in printed
    assert printed.splitlines()[2].split() == ["pass", "latency_p95_ms", "<=", "250", "12.5000", "n/a", "n/a", "n/a"]
    # GitHub renders the markdown one: a bare < could start an HTML tag there.
    assert "| ✅ | latency_p95_ms &lt;= 250 | 12.5000 |" in markdown.gates_table([LATENCY])


def test_columns_line_up() -> None:
    lines = text.table(["metric", "value"], [["accuracy", "0.9"], ["f1_macro\nx", "0.85"]]).splitlines()
    assert lines == ["metric      value", "----------  -----", "accuracy    0.9", "f1_macro x  0.85"]


def test_per_class_results_are_printed_from_three_classes_on() -> None:
    printed = text.evaluation(six_classes(), [LATENCY], parts(six_classes()))
    assert "per class:" in printed
    rows = {line.split()[0]: line.split()[1:] for line in printed.split("per class:\n", 1)[1].splitlines()[2:]}
    assert list(rows) == SIX
    assert rows["ABBR"] == ["0.0000", "0.0000", "0.0000", "2"]
    two = text.evaluation(record(), record().gates, parts(record()))
    assert "per class" not in two and "negative" not in two


def test_evaluate_prints_the_text_report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The call site: `ml-ci evaluate` (text format) prints this reporter's output, gates unescaped."""
    from ml_ci.cli import evaluate as cli
    from ml_ci.evaluate import stage

    rec = six_classes()
    results = [LATENCY]
    outcome = SimpleNamespace(record=rec, results=results, verdict="pass", failures=[])
    monkeypatch.setattr(cli, "load_config", lambda path: SimpleNamespace(config=SimpleNamespace(task="text-classification")))
    monkeypatch.setattr(stage, "run", lambda config, options: outcome)
    assert cli.evaluate(Path("ml.yaml"), None, None, None, None, "text") == 0
    out = capsys.readouterr().out
    assert out == text.evaluation(rec, [LATENCY], parts(rec)) + "\nverdict: pass (.ml-ci/artifacts/evaluate/eval.json)\n"
    assert "latency_p95_ms <= 250" in out and "&lt;" not in out and "ABBR" in out
