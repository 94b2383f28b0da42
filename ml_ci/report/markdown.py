"""The markdown report: metrics with deltas, gates, slices, the task's sections, data and tuning summaries.

Pure functions of the records (eval.json, the data-check and tuning reports), so the PR comment,
the job summary and evaluate's report.md say the same thing and are tested without a model. What
the task adds comes in as `ReportParts`, made by the task's evaluation half from the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.records.evaluation import EvalRecord, GateResult
    from ml_ci.tasks.protocols.evaluation import ReportParts

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


def metrics_rows(record: EvalRecord) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the metrics table, as plain text (the text and markdown reporters render them)."""
    metrics = record.metrics
    shown = list(record.reported_metrics or metrics)
    gated = {g.metric for g in record.gates}
    shown += [m for m in sorted(gated) if m not in shown and m in metrics]
    baselines = {k: v for k, v in record.baselines.items() if v}
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


def metrics_table(record: EvalRecord) -> str:
    return escaped_table(*metrics_rows(record))


def gate_mark(gate: GateResult) -> str:
    if not gate.passed:
        return FAIL
    return INFO if gate.status == "no-baseline" else PASS


GATE_HEADER = ["", "gate", "value", "baseline", "Δ", "p-value", "note"]


def gate_rows(gates: Sequence[GateResult]) -> list[list[str]]:
    """The gates table's rows as plain text (a gate's name holds `<=`: escaped for markdown only)."""
    return [
        [
            gate_mark(g),
            g.name,
            plain_num(g.value),
            plain_num(g.baseline),
            plain_num(g.delta),
            plain_num(g.p_value, 4),
            _note(g),
        ]
        for g in gates
    ]


def gates_table(gates: Sequence[GateResult]) -> str:
    return escaped_table(GATE_HEADER, gate_rows(gates))


def _note(gate: GateResult) -> str:
    if gate.status == "no-baseline":
        return "no baseline"
    if gate.status == "noise":
        return "drop within noise"
    if gate.p_value is not None:
        return "real regression" if not gate.passed else "not significant"
    return "" if gate.passed else "failed"


def slices_table(record: EvalRecord, headline: Sequence[tuple[str, str]]) -> str:
    """One row per slice; its columns of metrics are the task's headline ones."""
    rows = []
    for s in record.slices:
        if not s.gated:
            status = f"{INFO} not gated (rows < {s.min_rows})"
        elif not s.gates:
            status = "no gates"
        else:
            status = " ".join(f"{gate_mark(g)} {escape(g.name)}" for g in s.gates)
        rows.append(
            [
                escape(str(s.name)),
                escape(str(s.selection)),
                str(s.rows),
                *(num(s.metrics.get(metric)) for metric, _ in headline),
                status,
            ]
        )
    return table(["slice", "selection", "rows", *(title for _, title in headline), "gates"], rows)


def headline(record: EvalRecord) -> str:
    ok = record.verdict == "pass"
    gates = record.all_gates
    failed = sum(1 for g in gates if not g.passed)
    state = f"{PASS} all {len(gates)} gates passed" if ok else f"{FAIL} {failed} of {len(gates)} gates failed"
    digest = str((record.model or {}).get("digest", ""))[:19]
    return (
        f"### ml-ci evaluation of `{escape(str(record.name))}`: {state}\n\n"
        f"{record.examples} examples of the {record.split} split; model {digest}"
    )


def latency_note(record: EvalRecord) -> str:
    """How an evaluation record's latency was measured, in one plain sentence; '' when it was not
    (not reported, or a format 1 record: PyTorch per example on the machine that evaluated)."""
    latency = record.latency
    method = latency.get("method")
    if not isinstance(method, Mapping):
        return ""
    spent = method.get("seconds")
    seconds: Mapping[str, Any] = spent if isinstance(spent, Mapping) else {}
    return (
        f"Latency: the model exported to ONNX (package.quantize {method.get('quantize')}), run by "
        f"{method.get('runtime')}; {latency.get('samples')} texts after {method.get('warmup')} warm-up requests, "
        f"{method.get('statistic')}; load average {method.get('load_average')}; it cost "
        f"{seconds.get('export')} s of export and {seconds.get('timing')} s of timing."
    )


def evaluation(record: EvalRecord, parts: ReportParts, *, images: Sequence[str] = ()) -> str:
    """The evaluation section: headline, metrics, gates, slices, then the task's sections and the images."""
    sections = [headline(record), "#### Metrics\n\n" + metrics_table(record)]
    if note := latency_note(record):  # a latency gate's number means little without how it was measured
        sections.append(escape(note))
    all_gates = record.all_gates
    if all_gates:
        sections.append("#### Gates\n\n" + gates_table(all_gates))
    if record.slices:
        sections.append("#### Slices\n\n" + slices_table(record, parts.headline))
    sections += [f"#### {title}\n\n{body}" for title, body in parts.sections]
    sections += [f"![{name}]({name})" for name in images]
    return "\n\n".join(sections) + "\n"


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
    record: EvalRecord,
    parts: ReportParts,
    *,
    data_report: Mapping[str, Any] | None = None,
    tune_report: Mapping[str, Any] | None = None,
    run_url: str | None = None,
    sha: str | None = None,
) -> str:
    """The sticky PR comment. Images cannot be attached through the API: link the run's artifacts."""
    sections = [marker(str(record.name)), evaluation(record, parts).rstrip("\n")]
    if data_report is not None:
        sections.append(data_check(data_report))
    if tune_report is not None:
        sections.append(tuning(tune_report))
    footer = []
    if run_url:
        shown = ", ".join(p for p in (parts.plots, "metric history") if p)
        footer.append(f"Plots ({shown}) and eval.json: [workflow run artifacts]({run_url}#artifacts)")
    if sha:
        footer.append(f"Commit {sha[:12]}")
    tail = "<sub>" + " · ".join(footer) + "</sub>\n" if footer else ""
    body = "\n\n".join(sections) + "\n\n"
    if len(body) + len(tail) > COMMENT_MAX:
        note = "\n\n… (cut to fit a comment: the full report is in the job summary and the run's artifacts)\n\n"
        body = body[: COMMENT_MAX - len(tail) - len(note)].rsplit("\n", 1)[0] + note
    return (body + tail).rstrip("\n") + "\n"
