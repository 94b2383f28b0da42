"""Slices of the evaluated split: by a metadata column's values, or by text length. Pure.

A slice with a column and no value expands into one slice per value found, named `name:value`. A column whose
values are lists (text-generation's prompt tags) puts a row in the slice of each value its list holds.
Slices smaller than min_rows are reported but not gated: their metrics are too noisy to block on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_ci.config.model import Gate, Slice
from ml_ci.errors import OperationalError


@dataclass(frozen=True)
class SliceRows:
    name: str
    spec: str  # how it was selected, for the report
    rows: tuple[int, ...]
    min_rows: int
    gates: tuple[Gate, ...]

    @property
    def gated(self) -> bool:
        return len(self.rows) >= self.min_rows


def _value_text(value: Any) -> str:
    return "" if value is None else str(value)


def select(slices: Sequence[Slice], lengths: Sequence[int], columns: Mapping[str, Sequence[Any]]) -> list[SliceRows]:
    """Row indices of each slice; `lengths` are the texts' character lengths."""
    out: list[SliceRows] = []
    for s in slices:
        if s.length is not None:
            lo, hi = s.length.min, s.length.max
            rows = tuple(i for i, n in enumerate(lengths) if n >= lo and (hi is None or n < hi))
            spec = f"length in [{lo}, {hi if hi is not None else '∞'})"
            out.append(SliceRows(s.name, spec, rows, s.min_rows, s.gates))
            continue
        if s.column is None:
            out.append(SliceRows(s.name, "all rows", tuple(range(len(lengths))), s.min_rows, s.gates))
            continue
        if s.column not in columns:
            raise OperationalError(
                f"evaluate.slices {s.name}: column {s.column!r} is not in the evaluated split "
                f"(its columns: {', '.join(sorted(columns)) or 'none'})"
            )
        values = [{_value_text(x) for x in v} if isinstance(v, (list, tuple)) else {_value_text(v)} for v in columns[s.column]]
        wanted = [s.value] if s.value is not None else sorted(set().union(*values))
        for value in wanted:
            rows = tuple(i for i, v in enumerate(values) if value in v)
            name = s.name if s.value is not None else f"{s.name}:{value}"
            out.append(SliceRows(name, f"{s.column} = {value!r}", rows, s.min_rows, s.gates))
    return out
