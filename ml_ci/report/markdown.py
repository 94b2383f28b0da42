"""The markdown report: metrics with deltas, gates, slices, confusion matrix, data and tuning summaries.

Pure functions of the records (eval.json, the data-check and tuning reports), so the PR comment,
the job summary and evaluate's report.md say the same thing and are tested without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PASS, FAIL, INFO = "✅", "❌", "➖"
WARN = "⚠️"  # a data check whose severity is warn
COMMENT_MAX = 65_000  # GitHub refuses comments over 65,536 characters
# Order in which baselines are shown next to a metric.
AGAINST_ORDER = ("production", "main")


def marker(name: str) -> str:
    """The hidden line that finds this model's sticky comment again."""
    return f"<!-- ml-ci-report:{name} -->"


def plain_num(value: Any, digits: int = 4) -> str:
    """A number as the reports show it, as plain text (n/a when missing)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def num(value: Any, digits: int = 4) -> str:
    return escape(plain_num(value, digits))


def escape(text: str) -> str:
    """Table-safe text: pipes would split cells, newlines would end the row, < starts HTML."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _delta(value: Any, base: Any) -> str:
    if isinstance(value, (int, float)) and isinstance(base, (int, float)):
        return f"{value - base:+.4f}"
    return "n/a"


def metrics_rows(record: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the metrics table, as plain text (the text and markdown reporters render them)."""
    metrics = record.get("metrics", {})
    shown = list(record.get("reported_metrics") or metrics)
    gated = {g.get("metric") for g in record.get("gates", [])}
    shown += [m for m in sorted(gated) if m not in shown and m in metrics]
    baselines = {k: v for k, v in (record.get("baselines") or {}).items() if v}
    againsts = [a for a in AGAINST_ORDER if a in baselines]
    header = ["metric", "value"] + [h for a in againsts for h in (a, "Δ")]
    rows = []
    for m in shown:
        row = [str(m), plain_num(metrics.get(m))]
        for a in againsts:
            base = baselines[a].get("metrics", {}).get(m)
            row += [plain_num(base), _delta(metrics.get(m), base)]
        rows.append(row)
    return header, rows


def escaped_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return table(header, [[escape(cell) for cell in row] for row in rows])


def metrics_table(record: Mapping[str, Any]) -> str:
    return escaped_table(*metrics_rows(record))


def gate_mark(gate: Mapping[str, Any]) -> str:
    if not gate.get("passed"):
        return FAIL
    return INFO if gate.get("status") == "no-baseline" else PASS


GATE_HEADER = ["", "gate", "value", "baseline", "Δ", "p-value", "note"]


def gate_rows(gates: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The gates table's rows as plain text (a gate's name holds `<=`: escaped for markdown only)."""
    return [
        [
            gate_mark(g),
            str(g.get("name")),
            plain_num(g.get("value")),
            plain_num(g.get("baseline")),
            plain_num(g.get("delta")),
            plain_num(g.get("p_value"), 4),
            _note(g),
        ]
        for g in gates
    ]


def gates_table(gates: Sequence[Mapping[str, Any]]) -> str:
    return escaped_table(GATE_HEADER, gate_rows(gates))


def _note(gate: Mapping[str, Any]) -> str:
    status = gate.get("status")
    if status == "no-baseline":
        return "no baseline"
    if status == "noise":
        return "drop within noise"
    if gate.get("p_value") is not None:
        return "real regression" if not gate.get("passed") else "not significant"
    return "" if gate.get("passed") else "failed"


PER_CLASS_HEADER = ["label", "precision", "recall", "F1", "support"]


def per_class_rows(record: Mapping[str, Any]) -> list[list[str]]:
    return [
        [str(label), plain_num(c.get("precision")), plain_num(c.get("recall")), plain_num(c.get("f1")), str(c.get("support"))]
        for label, c in (record.get("per_class") or {}).items()
    ]


def per_class_table(record: Mapping[str, Any]) -> str:
    return escaped_table(PER_CLASS_HEADER, per_class_rows(record))


def confusion_table(record: Mapping[str, Any]) -> str:
    labels = [escape(str(x)) for x in record.get("labels", [])]
    cm = record.get("confusion_matrix") or []
    rows = [[f"**{labels[i]}**", *(str(v) for v in row)] for i, row in enumerate(cm)]
    return table(["true \\ predicted", *labels], rows)


def slices_table(record: Mapping[str, Any]) -> str:
    rows = []
    for s in record.get("slices", []):
        gates = s.get("gates", [])
        if not s.get("gated"):
            status = f"{INFO} not gated (rows < {s.get('min_rows')})"
        elif not gates:
            status = "no gates"
        else:
            status = " ".join(f"{gate_mark(g)} {escape(str(g.get('name')))}" for g in gates)
        metrics = s.get("metrics", {})
        rows.append(
            [
                escape(str(s.get("name"))),
                escape(str(s.get("selection"))),
                str(s.get("rows")),
                num(metrics.get("accuracy")),
                num(metrics.get("f1_macro")),
                status,
            ]
        )
    return table(["slice", "selection", "rows", "accuracy", "F1 macro", "gates"], rows)


def headline(record: Mapping[str, Any]) -> str:
    ok = record.get("verdict") == "pass"
    gates = list(record.get("gates", [])) + [g for s in record.get("slices", []) for g in s.get("gates", [])]
    failed = sum(1 for g in gates if not g.get("passed"))
    state = f"{PASS} all {len(gates)} gates passed" if ok else f"{FAIL} {failed} of {len(gates)} gates failed"
    digest = str((record.get("model") or {}).get("digest", ""))[:19]
    return (
        f"### ml-ci evaluation of `{escape(str(record.get('name')))}`: {state}\n\n"
        f"{record.get('examples')} examples of the {record.get('split')} split; model {digest}"
    )


def evaluation(record: Mapping[str, Any], *, images: Sequence[str] = ()) -> str:
    """The evaluation section: headline, metrics, gates, slices, per-class and confusion matrix."""
    from ml_ci.evaluate.latency import describe

    parts = [headline(record), "#### Metrics\n\n" + metrics_table(record)]
    if note := describe(record):  # a latency gate's number means little without how it was measured
        parts.append(escape(note))
    all_gates = list(record.get("gates", [])) + [g for s in record.get("slices", []) for g in s.get("gates", [])]
    if all_gates:
        parts.append("#### Gates\n\n" + gates_table(all_gates))
    if record.get("slices"):
        parts.append("#### Slices\n\n" + slices_table(record))
    parts.append("#### Per class\n\n" + per_class_table(record))
    parts.append("#### Confusion matrix\n\n" + confusion_table(record))
    parts += [f"![{name}]({name})" for name in images]
    return "\n\n".join(parts) + "\n"


def data_check(report: Mapping[str, Any]) -> str:
    """A short table of the data checks (report.json of `ml-ci data check`), failures first."""
    checks = [c for c in report.get("checks", []) if isinstance(c, Mapping)]

    def mark(c: Mapping[str, Any]) -> str:  # a failed check whose severity is warn does not fail the stage
        return PASS if c.get("passed") else WARN if c.get("severity") == "warn" else FAIL

    failed = [c for c in checks if mark(c) == FAIL]
    warned = [c for c in checks if mark(c) == WARN]
    note = f", {len(warned)} warning{'s' if len(warned) != 1 else ''}" if warned else ""
    state = (
        f"{FAIL} {len(failed)} of {len(checks)} checks failed{note}"
        if failed
        else f"{WARN} {len(checks) - len(warned)} of {len(checks)} checks passed{note}"
        if warned
        else f"{PASS} all {len(checks)} checks passed"
    )
    order = (FAIL, WARN, PASS)
    rows = [
        [mark(c), escape(str(c.get("check"))), escape(str(c.get("split", ""))), escape(str(c.get("message", "")))[:200]]
        for c in sorted(checks, key=lambda c: order.index(mark(c)))
    ]
    return f"#### Data checks: {state}\n\n" + table(["", "check", "split", "detail"], rows)


def tuning(report: Mapping[str, Any]) -> str:
    """The tuning summary (report.json of `ml-ci tune`): best value and parameters, trial counts."""
    best = report.get("best") or {}
    counts = report.get("counts") or {}
    facts = [f"best {escape(str(report.get('metric', 'value')))}: {num(best.get('value'))}"]
    if isinstance(counts, Mapping) and counts:
        facts.append(", ".join(f"{n} {escape(str(k)).lower()}" for k, n in counts.items()))
    rows = [[escape(str(k)), escape(str(v))] for k, v in (best.get("params") or {}).items()]
    return "#### Tuning\n\n" + "; ".join(facts) + ("\n\n" + table(["parameter", "best value"], rows) if rows else "")


def pr_comment(
    record: Mapping[str, Any],
    *,
    data_report: Mapping[str, Any] | None = None,
    tune_report: Mapping[str, Any] | None = None,
    run_url: str | None = None,
    sha: str | None = None,
) -> str:
    """The sticky PR comment. Images cannot be attached through the API: link the run's artifacts."""
    parts = [marker(str(record.get("name"))), evaluation(record).rstrip("\n")]
    if data_report is not None:
        parts.append(data_check(data_report))
    if tune_report is not None:
        parts.append(tuning(tune_report))
    footer = []
    if run_url:
        footer.append(f"Plots (confusion matrix, metric history) and eval.json: [workflow run artifacts]({run_url}#artifacts)")
    if sha:
        footer.append(f"Commit {sha[:12]}")
    tail = "<sub>" + " · ".join(footer) + "</sub>\n" if footer else ""
    body = "\n\n".join(parts) + "\n\n"
    if len(body) + len(tail) > COMMENT_MAX:
        note = "\n\n… (cut to fit a comment: the full report is in the job summary and the run's artifacts)\n\n"
        body = body[: COMMENT_MAX - len(tail) - len(note)].rsplit("\n", 1)[0] + note
    return (body + tail).rstrip("\n") + "\n"
