"""The data checks every task shares: pure functions over Tables. A task lists the checks it runs,
these and its own, in the order they run and are reported (`DataHalf.checks`); `run_checks` runs a
task's list, and `fix` says what changes a failed one.

Each check returns one Outcome per split (or per pair of splits) it looked at, naming the
numbers and the first offending rows, so that a failure says what to fix where.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ml_ci.config.model import Data
from ml_ci.data import drift
from ml_ci.data.normalize import normalize, text_hash
from ml_ci.data.table import Table, count, is_missing

SHOWN = 5  # offending rows named in a message; the report keeps as many


@dataclass(frozen=True, kw_only=True)
class Outcome:
    check: str
    split: str  # a role, or "train+validation" for a pair
    passed: bool
    message: str
    value: float | None = None  # the measured number the limit applies to
    limit: float | None = None
    rows: tuple[str, ...] = ()  # the first offending rows (locations)
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"  # what a failure does: error (exit 3) or warn (reported only); data.checks.severity


Tables = Mapping[str, Table]
Check = Callable[[Tables, Data], list[Outcome]]
# The text of each row that the text checks measure, None for a missing or non-text one: the task's (its
# data half's `texts`), bound by the task's check.
Texts = Callable[[Table], list[str | None]]


# --- primitives over columns ---------------------------------------------------------------


def as_texts(values: Sequence[object]) -> list[str | None]:
    """Text values, None for a missing or non-text one (the columns check reports the latter)."""
    return [v if isinstance(v, str) else None for v in values]


def null_rows(*columns: Sequence[object]) -> list[int]:
    """The rows missing a value in any of the columns."""
    return [i for i, values in enumerate(zip(*columns, strict=True)) if any(is_missing(v) for v in values)]


def empty_rows(texts: Sequence[str | None]) -> list[int]:
    return [i for i, t in enumerate(texts) if t is not None and not t.strip()]


def duplicate_rows(texts: Sequence[str | None]) -> list[tuple[int, int, bool]]:
    """(row, earlier row it repeats, exact?) for each text equal to an earlier one after normalization.
    Empty texts are left to the empty check."""
    first: dict[str, int] = {}
    out: list[tuple[int, int, bool]] = []
    for i, t in enumerate(texts):
        if t is None or not t.strip():
            continue
        key = normalize(t)
        if key in first:
            out.append((i, first[key], texts[first[key]] == t))
        else:
            first[key] = i
    return out


def length_violations(texts: Sequence[str | None], low: int, high: int) -> list[int]:
    return [i for i, t in enumerate(texts) if t is not None and not low <= len(t) <= high]


# --- formatting ---------------------------------------------------------------------------


def first_rows(
    table: Table, rows: Sequence[int], values: Sequence[object] | None = None, describe: Callable[[object], str] = repr
) -> tuple[str, ...]:
    """The first offending rows' locations, each followed by (its value, described) when values are given."""
    return tuple(
        f"{table.locations[i]} ({describe(values[i])})" if values is not None else table.locations[i] for i in rows[:SHOWN]
    )


def listing(rows: Sequence[str], total: int) -> str:
    more = f", and {total - len(rows)} more" if total > len(rows) else ""
    return f": {', '.join(rows)}{more}"


def listed(
    check: str, role: str, table: Table, found: Sequence[tuple[str, str]], rows: Sequence[str], passed: str, failed: str
) -> Outcome:
    """One outcome of a check that lists what it found, each "{place} ({what})": `failed` and the first of them when
    it found any (`rows`: their locations, for annotations), else `passed`."""
    first = [f"{place} ({what})" for place, what in found[:SHOWN]]
    message = f"{table.source}: {failed}" + listing(first, len(found)) if found else f"{table.source}: {passed}"
    return Outcome(
        check=check, split=role, passed=not found, value=len(found), limit=0, message=message, rows=tuple(rows[:SHOWN])
    )


def fraction(n: int, total: int) -> float:
    return n / total if total else 0.0


def _chars(n: int) -> str:
    return f"{n} character{'s' if n != 1 else ''}"


# --- the checks ---------------------------------------------------------------------------


def _type_name(v: object) -> str:
    return type(v).__name__


@dataclass(frozen=True)
class Column:
    """A column a task reads from every split: its name, the ml.yaml key that names it (for the fix),
    and which present values it can use."""

    name: str
    setting: str
    holds: str  # the values it must hold, as a failure says: "text", ...
    accepts: Callable[[object], bool]


def check_columns(tables: Tables, data: Data, columns: Sequence[Column]) -> list[Outcome]:
    """The task's columns and the slice columns exist; each of the task's holds what it can use."""
    out: list[Outcome] = []
    names = (*(c.name for c in columns), *data.slice_columns)
    for role, t in tables.items():
        missing = [c for c in names if c not in t.columns]
        if missing:
            hint = {c.name: c.setting for c in columns}
            fix = " or ".join(dict.fromkeys(hint.get(c, "data.slice_columns") for c in missing))
            out.append(
                Outcome(
                    check="columns",
                    split=role,
                    passed=False,
                    value=len(missing),
                    limit=0,
                    message=f"{t.source}: no column {', '.join(map(repr, missing))} "
                    f"(columns: {', '.join(t.columns) or 'none'}); rename it in the data or set {fix}",
                )
            )
            continue
        problems = []
        rows: tuple[str, ...] = ()
        bad_total = 0
        for column in columns:
            values = t.columns[column.name]
            bad = [i for i, v in enumerate(values) if not is_missing(v) and not column.accepts(v)]
            if bad:
                problems.append(
                    f"column {column.name!r} must hold {column.holds}; other values in {count(len(bad), 'row')}"
                    + listing(first_rows(t, bad, values, _type_name), len(bad))
                )
            rows += first_rows(t, bad)
            bad_total += len(bad)
        message = (
            f"{t.source}: " + "; ".join(problems) if problems else f"{t.source}: columns {', '.join(map(repr, names))} present"
        )
        out.append(
            Outcome(check="columns", split=role, passed=not problems, value=bad_total, limit=0, message=message, rows=rows)
        )
    return out


def check_min_rows(tables: Tables, data: Data) -> list[Outcome]:
    """Each split has at least data.checks.min_rows rows, and never none."""
    out: list[Outcome] = []
    limit = data.checks.min_rows
    for role, t in tables.items():
        n = len(t)
        if n == 0:
            message = f"{t.source}: the split has no rows"
        elif n < limit:
            message = f"{t.source}: {count(n, 'row')}, fewer than min_rows {limit}"
        else:
            message = f"{t.source}: {count(n, 'row')} (min_rows {limit})"
        out.append(Outcome(check="min_rows", split=role, passed=n > 0 and n >= limit, value=n, limit=limit, message=message))
    return out


def fraction_check(
    name: str,
    limit_name: str,
    limit: float,
    what: str,
    find: Callable[[Table], list[int]],
    tables: Tables,
    noun: str = "rows",
) -> list[Outcome]:
    """The rows `find` picks in each split, at most `limit` of them: "{n} of {total} {noun} ({frac}) {what}"."""
    out: list[Outcome] = []
    for role, t in tables.items():
        rows = find(t)
        frac = fraction(len(rows), len(t))
        passed = frac <= limit
        message = f"{t.source}: {len(rows)} of {len(t)} {noun} ({frac:.1%}) {what}"
        if not passed:
            message += f", above {limit_name} {limit}; first" + listing(first_rows(t, rows), len(rows))
        out.append(
            Outcome(check=name, split=role, passed=passed, value=frac, limit=limit, message=message, rows=first_rows(t, rows))
        )
    return out


def check_null_fraction(tables: Tables, data: Data, columns: Sequence[str], what: str) -> list[Outcome]:
    """Rows missing a value of the columns (`what` says which, as the message reads: "the text or
    ..."), per split, at most data.checks.max_null_fraction."""
    return fraction_check(
        "null_fraction",
        "max_null_fraction",
        data.checks.max_null_fraction,
        f"miss {what}",
        lambda t: null_rows(*(t.column(c) for c in columns)),
        tables,
    )


def check_empty_texts(tables: Tables, data: Data, texts: Texts) -> list[Outcome]:
    """Empty or whitespace-only texts, per split, at most data.checks.max_empty_fraction."""
    return fraction_check(
        "empty_texts",
        "max_empty_fraction",
        data.checks.max_empty_fraction,
        "have an empty or whitespace-only text",
        lambda t: empty_rows(texts(t)),
        tables,
    )


def check_duplicates(tables: Tables, data: Data, texts: Texts) -> list[Outcome]:
    """Texts repeated within a split (exact, or after normalization), at most data.checks.max_duplicate_fraction."""
    out: list[Outcome] = []
    limit = data.checks.max_duplicate_fraction
    for role, t in tables.items():
        dups = duplicate_rows(texts(t))
        exact = sum(1 for *_, same in dups if same)
        frac = fraction(len(dups), len(t))
        passed = frac <= limit
        first = tuple(f"{t.locations[i]} repeats {t.locations[j]}" for i, j, _ in dups[:SHOWN])
        message = (
            f"{t.source}: {len(dups)} of {len(t)} rows ({frac:.1%}) repeat an earlier text after normalization ({exact} exact)"
        )
        if not passed:
            message += f", above max_duplicate_fraction {limit}; first" + listing(first, len(dups))
        out.append(
            Outcome(
                check="duplicates",
                split=role,
                passed=passed,
                value=frac,
                limit=limit,
                message=message,
                rows=tuple(t.locations[i] for i, *_ in dups[:SHOWN]),
                details={"normalized": len(dups), "exact": exact},
            )
        )
    return out


def check_text_length(tables: Tables, data: Data, texts: Texts) -> list[Outcome]:
    """Every text is between data.checks.text_length.min and .max characters long."""
    out: list[Outcome] = []
    low, high = data.checks.text_length.min, data.checks.text_length.max
    for role, t in tables.items():
        values = texts(t)
        rows = length_violations(values, low, high)
        lengths = [len(x) for x in values if x is not None]
        span = f"{min(lengths)}-{max(lengths)}" if lengths else "none"
        message = (
            f"{t.source}: {count(len(rows), 'text')} outside {low}..{high} characters"
            + listing(first_rows(t, rows, values, lambda x: _chars(len(str(x)))), len(rows))
            if rows
            else f"{t.source}: text lengths {span} characters, within {low}..{high}"
        )
        out.append(
            Outcome(
                check="text_length",
                split=role,
                passed=not rows,
                value=len(rows),
                limit=0,
                message=message,
                rows=first_rows(t, rows),
            )
        )
    return out


def check_leakage(tables: Tables, data: Data, texts: Texts) -> list[Outcome]:
    """No normalized text appears in two of train, validation and test (by its sha256)."""
    out: list[Outcome] = []
    roles = [r for r in ("train", "validation", "test") if r in tables]
    for a_i, a in enumerate(roles):
        seen: dict[str, int] = {}
        ta = tables[a]
        for i, text in enumerate(texts(ta)):
            if text is not None and text.strip():
                seen.setdefault(text_hash(text), i)
        for b in roles[a_i + 1 :]:
            tb = tables[b]
            hits = [
                (i, seen[h])
                for i, text in enumerate(texts(tb))
                if text is not None and text.strip() and (h := text_hash(text)) in seen
            ]
            first = tuple(f"{tb.locations[i]} = {ta.locations[j]}" for i, j in hits[:SHOWN])
            message = (
                f"{tb.source}: {count(len(hits), 'text')} also in {ta.source} (after normalization)" + listing(first, len(hits))
                if hits
                else f"{tb.source}: no text also in {ta.source}"
            )
            out.append(
                Outcome(
                    check="leakage",
                    split=f"{a}+{b}",
                    passed=not hits,
                    value=len(hits),
                    limit=0,
                    message=message,
                    rows=tuple(tb.locations[i] for i, _ in hits[:SHOWN]),
                )
            )
    return out


def _drift_measure(method: str, expected: list[int], actual: list[int]) -> float:
    return drift.psi(expected, actual) if method == "psi" else drift.chi2_pvalue(expected, actual)


Histogram = Callable[[Table], list[int]]


def check_drift(tables: Tables, data: Data, texts: Texts, histograms: Mapping[str, Histogram]) -> list[Outcome]:
    """The task's distributions (name -> counts over fixed bins, measured first) and the text-length
    distribution of each split against the reference (data.reference, else train).

    psi: drifted when the PSI is above the threshold; chi2: when the test's p-value is below it."""
    out: list[Outcome] = []
    method, threshold = data.checks.drift.method, data.checks.drift.threshold
    ref_role = "reference" if "reference" in tables else "train"
    if ref_role not in tables:
        return out
    ref = tables[ref_role]
    ref_counts = {name: histogram(ref) for name, histogram in histograms.items()}
    ref_lengths = [len(x) for x in texts(ref) if x is not None]
    for role, t in tables.items():
        if role in (ref_role, "reference"):
            continue
        lengths = [len(x) for x in texts(t) if x is not None]
        bins = drift.bin_count(len(ref_lengths), len(lengths))
        edges = drift.quantile_edges(ref_lengths, bins)
        measures = {name: _drift_measure(method, ref_counts[name], histogram(t)) for name, histogram in histograms.items()}
        measures["length"] = _drift_measure(method, drift.histogram(ref_lengths, edges), drift.histogram(lengths, edges))
        name = "PSI" if method == "psi" else "chi2 p-value"
        drifted = {k: v for k, v in measures.items() if (v > threshold if method == "psi" else v < threshold)}
        numbers = ", ".join(f"{k} {name} {v:.3f}" for k, v in measures.items()) + f" ({len(edges) + 1} bins)"
        if drifted:
            which = " and ".join(drifted)
            side = "above" if method == "psi" else "below"
            message = f"{t.source}: the {which} distribution drifted from {ref.source}: {numbers}, {side} threshold {threshold}"
        else:
            message = f"{t.source}: against {ref.source}: {numbers} (threshold {threshold})"
        worst = max(measures.values()) if method == "psi" else min(measures.values())
        out.append(
            Outcome(
                check="drift",
                split=role,
                passed=not drifted,
                value=worst,
                limit=threshold,
                message=message,
                details={"method": method, **measures},
            )
        )
    return out


@dataclass(frozen=True)
class Registered:
    name: str
    run: Check
    enabled: Callable[[Data], bool] = lambda _: True
    setting: str = ""  # the ml.yaml key that changes what passes, named in a failure
    can_warn: bool = True  # False: training cannot use such rows, so the check always fails the stage


def fix(check: str, checks: Sequence[Registered], severity: str = "error") -> str:
    """What to change when a check fails: the data, its setting, or (where it can) its severity."""
    registered = {c.name: c for c in checks}.get(check)
    if registered is None:
        return ""
    steps = ["fix the data"] + ([f"change {registered.setting}"] if registered.setting else [])
    if registered.can_warn and severity == "error":
        steps.append(f"make it a warning with data.checks.severity: {{{check}: warn}}")
    return ", ".join(steps[:-1]) + " or " + steps[-1] if len(steps) > 1 else steps[0]


def run_checks(tables: Tables, data: Data, checks: Sequence[Registered], columns: Sequence[str]) -> list[Outcome]:
    """Every enabled check of a task's list, each with its severity. The first (the task's `columns`)
    runs on every split; the rest only on the splits that have every one of `columns`."""
    outcomes = checks[0].run(tables, data)
    usable = {role: t for role, t in tables.items() if all(c in t.columns for c in columns)}
    for check in checks[1:]:
        if check.enabled(data):
            outcomes.extend(check.run(usable, data))
    severity = data.checks.severity
    by_name = {c.name: c for c in checks}
    return [replace(o, severity=severity.get(o.check, "error")) if by_name[o.check].can_warn else o for o in outcomes]
