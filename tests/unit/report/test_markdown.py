from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_ci.records.evaluation import EvalRecord, GateResult
from ml_ci.report import markdown, plots
from ml_ci.report.pr import status_of
from ml_ci.tasks.protocols.evaluation import ReportParts
from ml_ci.tasks.text_classification import evaluation as tc


def record(**changes: Any) -> EvalRecord:
    """A text-classification record, as eval.json holds it."""
    return EvalRecord.from_json(data(**changes))


def parts(r: EvalRecord) -> ReportParts:
    return tc.report(r)


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "ml-ci/eval",
        "name": "sentiment",
        "task": "text-classification",
        "labels": ["negative", "positive"],
        "split": "test",
        "examples": 40,
        "model": {"digest": "sha256:0123456789abcdef0123"},
        "verdict": "fail",
        "metrics": {"accuracy": 0.85, "f1_macro": 0.84, "latency_p95_ms": 12.5, "size_mb": 90.1},
        "reported_metrics": ["accuracy", "latency_p95_ms"],
        "baselines": {"production": {"source": "gitops", "metrics": {"accuracy": 0.9, "f1_macro": 0.9}}, "main": None},
        "gates": [
            GateResult("overall", "accuracy", "min", 0.8, 0.85, "pass", True, "").to_json(),
            GateResult(
                "overall",
                "f1_macro",
                "drop",
                0.02,
                0.84,
                "fail",
                False,
                "",
                against="production",
                baseline=0.9,
                delta=-0.06,
                p_value=0.0012,
            ).to_json(),
            GateResult("overall", "accuracy", "drop", 0.0, 0.85, "no-baseline", True, "", against="main").to_json(),
        ],
        "slices": [
            {
                "name": "short|texts",
                "selection": "length in [0, 60)",
                "rows": 7,
                "min_rows": 20,
                "gated": False,
                "metrics": {"accuracy": 0.71},
                "gates": [],
            }
        ],
        "per_class": {"negative": {"precision": 0.8, "recall": 0.9, "f1": 0.85, "support": 20}},
        "confusion_matrix": [[18, 2], [4, 16]],
    }
    return {**base, **changes}


def test_the_comment_starts_with_its_marker_and_shows_deltas_gates_and_slices() -> None:
    body = markdown.pr_comment(record(), parts(record()), run_url="https://github.com/o/r/actions/runs/7", sha="a" * 40)
    assert body.splitlines()[0] == "<!-- ml-ci-report:sentiment -->"
    assert "### ml-ci evaluation of `sentiment`: ❌ 1 of 3 gates failed" in body
    # metrics: reported ones, then gated ones; the production baseline and its delta
    assert "| metric | value | production | Δ |" in body
    assert "| accuracy | 0.8500 | 0.9000 | -0.0500 |" in body
    assert "| f1_macro | 0.8400 | 0.9000 | -0.0600 |" in body
    assert "| latency_p95_ms | 12.5000 | n/a | n/a |" in body
    assert "| ❌ | f1_macro vs production (max drop 0.02) | 0.8400 | 0.9000 | -0.0600 | 0.0012 | real regression |" in body
    assert "| ➖ | accuracy vs main (max drop 0) | 0.8500 | n/a | n/a | n/a | no baseline |" in body
    assert "| short\\|texts | length in [0, 60) | 7 | 0.7100 | n/a | ➖ not gated (rows < 20) |" in body
    assert "| **negative** | 18 | 2 |" in body
    assert "[workflow run artifacts](https://github.com/o/r/actions/runs/7#artifacts)" in body
    assert "Commit aaaaaaaaaaaa" in body


def test_data_check_and_tuning_sections_read_their_stage_reports() -> None:
    data_report = {
        "passed": False,
        "checks": [
            {"check": "min_rows", "split": "train", "passed": True, "message": "160 rows"},
            {"check": "duplicates", "split": "test", "passed": False, "message": "3 duplicates | first at test.csv:4"},
        ],
    }
    tune = {
        "metric": "accuracy",
        "best": {"trial": 2, "value": 0.91, "params": {"learning_rate": 0.0001}},
        "counts": {"COMPLETE": 3, "PRUNED": 1},
    }
    body = markdown.pr_comment(record(), parts(record()), data_report=data_report, tune_report=tune)
    assert "#### Data checks: ❌ 1 of 2 checks failed" in body
    assert body.index("duplicates") < body.index("min_rows")  # failures first
    assert "| ❌ | duplicates | test | 3 duplicates \\| first at test.csv:4 |" in body
    assert "best accuracy: 0.9100; 3 complete, 1 pruned" in body
    assert "| learning_rate | 0.0001 |" in body


def test_html_in_values_cannot_break_out_of_the_comment() -> None:
    r = record(name="x<script>", per_class={"<b>": {"precision": 1.0}})
    body = markdown.evaluation(r, parts(r))
    assert "<script>" not in body and "<b>" not in body


def test_commit_status_names_the_failed_gates() -> None:
    assert status_of(record()) == ("failure", "1 of 3 gates failed: f1_macro vs production (max drop 0.02)")
    ok = record(verdict="pass", gates=[GateResult("overall", "accuracy", "min", 0.8, 0.9, "pass", True, "").to_json()], slices=[])
    assert status_of(ok) == ("success", "all 1 quality gates passed")


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    cm = tc.confusion_png(["negative", "positive"], [[18, 2], [4, 16]], tmp_path / "confusion.png")
    history: list[dict[str, Any]] = [
        {"git_sha": "abc1234", "metrics": {"accuracy": 0.8, "f1_macro": 0.79}},
        {"git_sha": None, "metrics": {"accuracy": None}},
    ]
    metrics = ["accuracy", "f1_macro"]
    hist = plots.history_png(history, {"accuracy": 0.85, "f1_macro": 0.84}, tmp_path / "history.png", metrics)
    curves = {"loss_curve": [[1, 0.7], [2, 0.5]], "eval_curve": [{"step": 2, "accuracy": 0.8, "f1_macro": 0.78}]}
    train = plots.training_png(curves, tmp_path / "training.png", metrics)
    assert train is not None
    for path in (cm, hist, train):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.training_png({"validation": {"accuracy": 0.9}}, tmp_path / "none.png", metrics) is None
    assert not (tmp_path / "none.png").exists()


def test_a_huge_report_is_cut_to_fit_a_comment_keeping_marker_and_footer() -> None:
    many = [
        {"name": f"s{i}", "selection": "x" * 100, "rows": 50, "min_rows": 1, "gated": True, "metrics": {}, "gates": []}
        for i in range(2000)
    ]
    body = markdown.pr_comment(record(slices=many), parts(record()), run_url="https://github.com/o/r/actions/runs/7")
    assert len(body) <= markdown.COMMENT_MAX
    assert body.startswith("<!-- ml-ci-report:sentiment -->")
    assert "… (cut to fit a comment" in body
    assert body.rstrip().endswith("#artifacts)</sub>")
