"""The data-check report as data (report.json), as a markdown table (report.md and the job summary)
and as text lines for the terminal. Pure: rendering only.

Version 2 gives each check its `severity` (error or warn, data.checks.severity) and counts the
`warnings`; `passed` is true when every check that can fail the stage passed. A version 1 report
(written before severities) reads as if every check were an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ml_ci.data.checks import Outcome, Registered, fix
from ml_ci.data.fingerprint import combined
from ml_ci.data.table import Table, count

REPORT_VERSION = 2


def _number(value: float | None) -> float | None:
    # JSON has no infinity or NaN
    return None if value is None or not math.isfinite(value) else round(value, 6)


def build(
    tables: Mapping[str, Table], outcomes: Sequence[Outcome], describe: Callable[[Table], dict[str, Any]]
) -> dict[str, Any]:
    """report.json: each split's source, size, what the task says of it (`describe`, DataHalf.describe)
    and fingerprint; each check's outcome."""
    splits = {}
    for role, t in tables.items():
        splits[role] = {"source": t.source, "rows": len(t), **describe(t), "fingerprint": t.fingerprint}
    return {
        "version": REPORT_VERSION,
        "passed": all(o.passed for o in outcomes if o.severity == "error"),
        "warnings": sum(1 for o in outcomes if not o.passed and o.severity == "warn"),
        "fingerprint": combined({role: t.fingerprint for role, t in tables.items()}),
        "splits": splits,
        "checks": [
            {
                "check": o.check,
                "split": o.split,
                "passed": o.passed,
                "severity": o.severity,
                "value": _number(o.value),
                "limit": _number(o.limit),
                "message": o.message,
                "rows": list(o.rows),
                "details": o.details,
            }
            for o in outcomes
        ],
    }


def failed(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The failed checks that fail the stage."""
    return [c for c in report["checks"] if not c["passed"] and c.get("severity", "error") == "error"]


def warned(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The failed checks whose severity is warn."""
    return [c for c in report["checks"] if not c["passed"] and c.get("severity") == "warn"]


def _mark(c: Mapping[str, Any]) -> str:
    return "ok" if c["passed"] else "warn" if c.get("severity") == "warn" else "FAIL"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shown(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.4g}"


def _verdict(report: Mapping[str, Any]) -> str:
    n, bad, warn = len(report["checks"]), len(failed(report)), len(warned(report))
    warnings = f", {count(warn, 'warning')}" if warn else ""
    if bad:
        return f"{bad} of {n} checks failed{warnings}"
    return f"{n - warn} of {n} checks passed{warnings}" if warn else f"all {n} checks passed"


def markdown(report: Mapping[str, Any]) -> str:
    """The report as one markdown table, failures first, then warnings."""
    checks = report["checks"]
    verdict = ("❌ " if failed(report) else "✅ ") + _verdict(report)
    lines = [f"## Data check: {verdict}", "", "| split | source | rows | fingerprint |", "| --- | --- | ---: | --- |"]
    for role, s in report["splits"].items():
        lines.append(f"| {role} | `{_cell(s['source'])}` | {s['rows']} | `{s['fingerprint'][:19]}` |")
    lines += ["", "| | check | split | value | limit | detail |", "| --- | --- | --- | ---: | ---: | --- |"]
    marks = {"FAIL": "❌", "warn": "⚠️", "ok": "✅"}
    for c in sorted(checks, key=lambda c: list(marks).index(_mark(c))):
        numbers = f"{_shown(c['value'])} | {_shown(c['limit'])}"
        lines.append(f"| {marks[_mark(c)]} | {c['check']} | {c['split']} | {numbers} | {_cell(c['message'])} |")
    return "\n".join(lines) + "\n"


def text_lines(report: Mapping[str, Any]) -> list[str]:
    """One line a check, `ok`, `warn` or `FAIL`, then the verdict."""
    lines = [f"{_mark(c):<4} {c['check']:<18} {c['split']:<17} {c['message']}" for c in report["checks"]]
    verdict = _verdict(report)
    lines.append(f"data check: {verdict}" if failed(report) else f"data check: {verdict} ({report['fingerprint']})")
    return lines


def failure_message(report: Mapping[str, Any], checks: Sequence[Registered]) -> str:
    """The DataCheckError text: every failed check with its numbers, first rows and what changes it
    (`checks`: the task's list, which names each check's setting)."""
    bad = failed(report)
    return "\n".join(
        [f"{count(len(bad), 'data check')} failed:"]
        + [f"  {c['check']}: {c['message']}\n    to pass: {fix(c['check'], checks)}" for c in bad]
    )
