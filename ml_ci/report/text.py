"""The text reporter: what `ml-ci evaluate` prints on a terminal (and in a CI log).

The same rows as the markdown report (ml_ci/report/markdown.py), without markdown's escaping: a
terminal shows `&lt;= 250` literally, so a gate reads `latency_p95_ms <= 250` here. Columns are
padded to line up; the marks are words, whose width every terminal agrees on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml_ci.report import markdown

MARKS = {markdown.PASS: "pass", markdown.FAIL: "FAIL", markdown.INFO: "n/a"}
# With two classes the metrics already say it all; from three on, the per-class table shows which
# class the model gets wrong (a rare class hides behind a good macro average).
PER_CLASS_FROM = 3


def cell(text: str) -> str:
    """One line per row, whatever a name holds."""
    return " ".join(text.splitlines()) if text else ""


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [[cell(c) for c in header], *([cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gates_table(gates: Sequence[Mapping[str, Any]]) -> str:
    rows = [[MARKS.get(row[0], row[0]), *row[1:]] for row in markdown.gate_rows(gates)]
    return table(["", *markdown.GATE_HEADER[1:]], rows)


def per_class_table(record: Mapping[str, Any]) -> str:
    return table(markdown.PER_CLASS_HEADER, markdown.per_class_rows(record))


def evaluation(record: Mapping[str, Any], gates: Sequence[Mapping[str, Any]]) -> str:
    """Metrics, the gates, and the per-class results when there are more than two classes."""
    parts = [table(*markdown.metrics_rows(record))]
    if gates:
        parts.append(gates_table(gates))
    if len(record.get("labels") or ()) >= PER_CLASS_FROM and record.get("per_class"):
        parts.append("per class:\n" + per_class_table(record))
    return "\n\n".join(parts) + "\n"
