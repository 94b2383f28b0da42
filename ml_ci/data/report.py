"""The data-check report as data (report.json), as a markdown table (report.md and the job summary)
and as text lines for the terminal. Pure: rendering only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ml_ci.config.model import Data
from ml_ci.data.checks import Outcome
from ml_ci.data.fingerprint import combined
from ml_ci.data.table import Table, count, label_index

REPORT_VERSION = 1


def _number(value: float | None) -> float | None:
    # JSON has no infinity or NaN
    return None if value is None or not math.isfinite(value) else round(value, 6)


def build(tables: Mapping[str, Table], outcomes: Sequence[Outcome], data: Data) -> dict[str, Any]:
    """report.json: each split's source, size, label counts and fingerprint; each check's outcome."""
    splits = {}
    for role, t in tables.items():
        counts = dict.fromkeys(data.labels, 0)
        for v in t.column(data.label_column):
            if (i := label_index(v, data.labels)) is not None:
                counts[data.labels[i]] += 1
        splits[role] = {"source": t.source, "rows": len(t), "labels": counts, "fingerprint": t.fingerprint}
    return {
        "version": REPORT_VERSION,
        "passed": all(o.passed for o in outcomes),
        "fingerprint": combined({role: t.fingerprint for role, t in tables.items()}),
        "splits": splits,
        "checks": [{"check": o.check, "split": o.split, "passed": o.passed, "value": _number(o.value),
                    "limit": _number(o.limit), "message": o.message, "rows": list(o.rows), "details": o.details}
                   for o in outcomes],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shown(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.4g}"


def markdown(report: Mapping[str, Any]) -> str:
    """The report as one markdown table, failures first."""
    checks = report["checks"]
    failed = [c for c in checks if not c["passed"]]
    verdict = f"❌ {len(failed)} of {len(checks)} checks failed" if failed else f"✅ all {len(checks)} checks passed"
    lines = [f"## Data check: {verdict}", "",
             "| split | source | rows | fingerprint |", "| --- | --- | ---: | --- |"]
    for role, s in report["splits"].items():
        lines.append(f"| {role} | `{_cell(s['source'])}` | {s['rows']} | `{s['fingerprint'][:19]}` |")
    lines += ["", "| | check | split | value | limit | detail |", "| --- | --- | --- | ---: | ---: | --- |"]
    for c in sorted(checks, key=lambda c: c["passed"]):
        mark = "✅" if c["passed"] else "❌"
        numbers = f"{_shown(c['value'])} | {_shown(c['limit'])}"
        lines.append(f"| {mark} | {c['check']} | {c['split']} | {numbers} | {_cell(c['message'])} |")
    return "\n".join(lines) + "\n"


def text_lines(report: Mapping[str, Any]) -> list[str]:
    """One line a check, `ok` or `FAIL`, then the verdict."""
    lines = [f"{'ok  ' if c['passed'] else 'FAIL'} {c['check']:<18} {c['split']:<17} {c['message']}" for c in report["checks"]]
    failed = sum(1 for c in report["checks"] if not c["passed"])
    lines.append(f"data check: {failed} of {len(report['checks'])} checks failed" if failed
                 else f"data check: all {len(report['checks'])} checks passed ({report['fingerprint']})")
    return lines


def failure_message(report: Mapping[str, Any]) -> str:
    """The DataCheckError text: every failed check with its numbers and first rows."""
    failed = [c for c in report["checks"] if not c["passed"]]
    return "\n".join([f"{count(len(failed), 'data check')} failed:"] + [f"  {c['check']}: {c['message']}" for c in failed])
