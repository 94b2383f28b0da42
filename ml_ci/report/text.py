"""The text reporter: what `ml-ci evaluate` prints on a terminal (and in a CI log).

The same rows as the markdown report (ml_ci/report/markdown.py), without markdown's escaping: a
terminal shows `&lt;= 250` literally, so a gate reads `latency_p95_ms <= 250` here. Columns are
padded to line up; the marks are words, whose width every terminal agrees on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ml_ci.report import markdown

if TYPE_CHECKING:
    from ml_ci.records.evaluation import EvalRecord, GateResult
    from ml_ci.tasks.protocols.evaluation import ReportParts

MARKS = {markdown.PASS: "pass", markdown.FAIL: "FAIL", markdown.INFO: "n/a"}


def cell(text: str) -> str:
    """One line per row, whatever a name holds."""
    return " ".join(text.splitlines()) if text else ""


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [[cell(c) for c in header], *([cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gates_table(gates: Sequence[GateResult]) -> str:
    rows = [[MARKS.get(row[0], row[0]), *row[1:]] for row in markdown.gate_rows(gates)]
    return table(["", *markdown.GATE_HEADER[1:]], rows)


def evaluation(record: EvalRecord, gates: Sequence[GateResult], parts: ReportParts) -> str:
    """Metrics, the gates, and what the task adds for a terminal."""
    blocks = [table(*markdown.metrics_rows(record))]
    if gates:
        blocks.append(gates_table(gates))
    blocks += parts.text
    return "\n\n".join(blocks) + "\n"
