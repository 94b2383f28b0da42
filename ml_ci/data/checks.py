"""The data checks: pure functions over Tables, listed once in CHECKS, run in that order.

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
from ml_ci.data.table import Table, count, is_missing, label_hint, label_index

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


# --- primitives over columns ---------------------------------------------------------------


def as_texts(values: Sequence[object]) -> list[str | None]:
    """Text values, None for a missing or non-text one (the columns check reports the latter)."""
    return [v if isinstance(v, str) else None for v in values]


def null_rows(texts: Sequence[object], labels: Sequence[object]) -> list[int]:
    return [i for i, (t, y) in enumerate(zip(texts, labels, strict=True)) if is_missing(t) or is_missing(y)]


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


def unknown_labels(values: Sequence[object], labels: Sequence[str]) -> list[int]:
    return [i for i, v in enumerate(values) if not is_missing(v) and label_index(v, labels) is None]


def label_counts(values: Sequence[object], labels: Sequence[str]) -> list[int]:
    counts = [0] * len(labels)
    for v in values:
        if (index := label_index(v, labels)) is not None:
            counts[index] += 1
    return counts


def length_violations(texts: Sequence[str | None], low: int, high: int) -> list[int]:
    return [i for i, t in enumerate(texts) if t is not None and not low <= len(t) <= high]


# --- formatting ---------------------------------------------------------------------------


def _first(
    table: Table, rows: Sequence[int], values: Sequence[object] | None = None, describe: Callable[[object], str] = repr
) -> tuple[str, ...]:
    """The first offending rows' locations, each followed by (its value, described) when values are given."""
    return tuple(
        f"{table.locations[i]} ({describe(values[i])})" if values is not None else table.locations[i] for i in rows[:SHOWN]
    )


def _listing(rows: Sequence[str], total: int) -> str:
    more = f", and {total - len(rows)} more" if total > len(rows) else ""
    return f": {', '.join(rows)}{more}"


def _fraction(n: int, total: int) -> float:
    return n / total if total else 0.0


def _chars(n: int) -> str:
    return f"{n} character{'s' if n != 1 else ''}"


def _texts(table: Table, data: Data) -> list[str | None]:
    return as_texts(table.column(data.text_column))


# --- the checks ---------------------------------------------------------------------------


def _type_name(v: object) -> str:
    return type(v).__name__


def check_columns(tables: Tables, data: Data) -> list[Outcome]:
    """The text, label and slice columns exist; texts are strings, labels strings or integers."""
    out: list[Outcome] = []
    for role, t in tables.items():
        missing = [c for c in (data.text_column, data.label_column, *data.slice_columns) if c not in t.columns]
        if missing:
            hint = {data.text_column: "data.text_column", data.label_column: "data.label_column"}
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
        texts, labels = t.columns[data.text_column], t.columns[data.label_column]
        bad_text = [i for i, v in enumerate(texts) if not is_missing(v) and not isinstance(v, str)]
        bad_label = [
            i for i, v in enumerate(labels) if not is_missing(v) and (isinstance(v, bool) or not isinstance(v, (str, int, float)))
        ]
        problems = []
        if bad_text:
            problems.append(
                f"column {data.text_column!r} must hold text; other values in {count(len(bad_text), 'row')}"
                + _listing(_first(t, bad_text, texts, _type_name), len(bad_text))
            )
        if bad_label:
            problems.append(
                f"column {data.label_column!r} must hold label names or indices; "
                f"other values in {count(len(bad_label), 'row')}"
                + _listing(_first(t, bad_label, labels, _type_name), len(bad_label))
            )
        rows = _first(t, bad_text) + _first(t, bad_label)
        message = (
            f"{t.source}: " + "; ".join(problems)
            if problems
            else f"{t.source}: columns {', '.join(map(repr, (data.text_column, data.label_column, *data.slice_columns)))} present"
        )
        out.append(
            Outcome(
                check="columns",
                split=role,
                passed=not problems,
                value=len(bad_text) + len(bad_label),
                limit=0,
                message=message,
                rows=rows,
            )
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


def _fraction_check(
    name: str, limit_name: str, limit: float, what: str, find: Callable[[Table], list[int]], tables: Tables
) -> list[Outcome]:
    out: list[Outcome] = []
    for role, t in tables.items():
        rows = find(t)
        frac = _fraction(len(rows), len(t))
        passed = frac <= limit
        message = f"{t.source}: {len(rows)} of {len(t)} rows ({frac:.1%}) {what}"
        if not passed:
            message += f", above {limit_name} {limit}; first" + _listing(_first(t, rows), len(rows))
        out.append(Outcome(check=name, split=role, passed=passed, value=frac, limit=limit, message=message, rows=_first(t, rows)))
    return out


def check_null_fraction(tables: Tables, data: Data) -> list[Outcome]:
    """Rows missing the text or the label, per split, at most data.checks.max_null_fraction."""
    return _fraction_check(
        "null_fraction",
        "max_null_fraction",
        data.checks.max_null_fraction,
        "miss the text or the label",
        lambda t: null_rows(t.column(data.text_column), t.column(data.label_column)),
        tables,
    )


def check_empty_texts(tables: Tables, data: Data) -> list[Outcome]:
    """Empty or whitespace-only texts, per split, at most data.checks.max_empty_fraction."""
    return _fraction_check(
        "empty_texts",
        "max_empty_fraction",
        data.checks.max_empty_fraction,
        "have an empty or whitespace-only text",
        lambda t: empty_rows(_texts(t, data)),
        tables,
    )


def check_labels(tables: Tables, data: Data) -> list[Outcome]:
    """Every label is a name from data.labels or an index into it."""
    out: list[Outcome] = []
    for role, t in tables.items():
        values = t.column(data.label_column)
        rows = unknown_labels(values, data.labels)
        first = _first(t, rows, values)
        message = (
            f"{t.source}: {count(len(rows), 'row')} with a label outside {list(data.labels)} "
            f"(or its indices 0-{len(data.labels) - 1})" + _listing(first, len(rows)) + label_hint([values[i] for i in rows])
            if rows
            else f"{t.source}: every label is in {list(data.labels)}"
        )
        out.append(
            Outcome(check="labels", split=role, passed=not rows, value=len(rows), limit=0, message=message, rows=_first(t, rows))
        )
    return out


def check_duplicates(tables: Tables, data: Data) -> list[Outcome]:
    """Texts repeated within a split (exact, or after normalization), at most data.checks.max_duplicate_fraction."""
    out: list[Outcome] = []
    limit = data.checks.max_duplicate_fraction
    for role, t in tables.items():
        dups = duplicate_rows(_texts(t, data))
        exact = sum(1 for *_, same in dups if same)
        frac = _fraction(len(dups), len(t))
        passed = frac <= limit
        first = tuple(f"{t.locations[i]} repeats {t.locations[j]}" for i, j, _ in dups[:SHOWN])
        message = (
            f"{t.source}: {len(dups)} of {len(t)} rows ({frac:.1%}) repeat an earlier text after normalization ({exact} exact)"
        )
        if not passed:
            message += f", above max_duplicate_fraction {limit}; first" + _listing(first, len(dups))
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


def check_text_length(tables: Tables, data: Data) -> list[Outcome]:
    """Every text is between data.checks.text_length.min and .max characters long."""
    out: list[Outcome] = []
    low, high = data.checks.text_length.min, data.checks.text_length.max
    for role, t in tables.items():
        texts = _texts(t, data)
        rows = length_violations(texts, low, high)
        lengths = [len(x) for x in texts if x is not None]
        span = f"{min(lengths)}-{max(lengths)}" if lengths else "none"
        message = (
            f"{t.source}: {count(len(rows), 'text')} outside {low}..{high} characters"
            + _listing(_first(t, rows, texts, lambda x: _chars(len(str(x)))), len(rows))
            if rows
            else f"{t.source}: text lengths {span} characters, within {low}..{high}"
        )
        out.append(
            Outcome(
                check="text_length", split=role, passed=not rows, value=len(rows), limit=0, message=message, rows=_first(t, rows)
            )
        )
    return out


def _train(tables: Tables) -> list[tuple[str, Table]]:
    return [("train", tables["train"])] if "train" in tables else []


def check_min_rows_per_class(tables: Tables, data: Data) -> list[Outcome]:
    """Each label has at least data.checks.min_rows_per_class rows in the training split."""
    out: list[Outcome] = []
    limit = data.checks.min_rows_per_class
    for role, t in _train(tables):
        counts = label_counts(t.column(data.label_column), data.labels)
        short = [(name, n) for name, n in zip(data.labels, counts, strict=True) if n < limit]
        if short:
            message = (
                f"{t.source}: "
                + ", ".join(f"label {name!r} has {count(n, 'row')}" for name, n in short)
                + f", fewer than min_rows_per_class {limit}"
            )
        else:
            message = f"{t.source}: every label has at least {count(limit, 'row')} (fewest: {min(counts)})"
        out.append(
            Outcome(
                check="min_rows_per_class",
                split=role,
                passed=not short,
                value=min(counts),
                limit=limit,
                message=message,
                details=dict(zip(data.labels, counts, strict=True)),
            )
        )
    return out


def check_class_balance(tables: Tables, data: Data) -> list[Outcome]:
    """The most frequent label has at most data.checks.max_class_imbalance times the rows of the least frequent."""
    out: list[Outcome] = []
    limit = data.checks.max_class_imbalance
    for role, t in _train(tables):
        counts = dict(zip(data.labels, label_counts(t.column(data.label_column), data.labels), strict=True))
        most, least = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        if counts[least] == 0:
            absent = [name for name, n in counts.items() if n == 0]
            out.append(
                Outcome(
                    check="class_balance",
                    split=role,
                    passed=False,
                    value=None,
                    limit=limit,
                    details=counts,
                    message=f"{t.source}: label {', '.join(map(repr, absent))} has no rows; "
                    f"the model cannot learn it (max_class_imbalance {limit})",
                )
            )
            continue
        ratio = counts[most] / counts[least]
        message = (
            f"{t.source}: every label has {count(counts[most], 'row')}: ratio 1.00"
            if ratio == 1
            else f"{t.source}: most frequent label {most!r} has {count(counts[most], 'row')}, least frequent {least!r} "
            f"{counts[least]}: ratio {ratio:.2f}"
        )
        passed = ratio <= limit
        message += f", above max_class_imbalance {limit}" if not passed else f" (max_class_imbalance {limit})"
        out.append(
            Outcome(check="class_balance", split=role, passed=passed, value=ratio, limit=limit, message=message, details=counts)
        )
    return out


def check_leakage(tables: Tables, data: Data) -> list[Outcome]:
    """No normalized text appears in two of train, validation and test (by its sha256)."""
    out: list[Outcome] = []
    roles = [r for r in ("train", "validation", "test") if r in tables]
    for a_i, a in enumerate(roles):
        seen: dict[str, int] = {}
        ta = tables[a]
        for i, text in enumerate(_texts(ta, data)):
            if text is not None and text.strip():
                seen.setdefault(text_hash(text), i)
        for b in roles[a_i + 1 :]:
            tb = tables[b]
            hits = [
                (i, seen[h])
                for i, text in enumerate(_texts(tb, data))
                if text is not None and text.strip() and (h := text_hash(text)) in seen
            ]
            first = tuple(f"{tb.locations[i]} = {ta.locations[j]}" for i, j in hits[:SHOWN])
            message = (
                f"{tb.source}: {count(len(hits), 'text')} also in {ta.source} (after normalization)" + _listing(first, len(hits))
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


def check_drift(tables: Tables, data: Data) -> list[Outcome]:
    """Label and text-length distributions of each split against the reference (data.reference, else train).

    psi: drifted when the PSI is above the threshold; chi2: when the test's p-value is below it."""
    out: list[Outcome] = []
    method, threshold = data.checks.drift.method, data.checks.drift.threshold
    ref_role = "reference" if "reference" in tables else "train"
    if ref_role not in tables:
        return out
    ref = tables[ref_role]
    ref_labels = label_counts(ref.column(data.label_column), data.labels)
    ref_lengths = [len(x) for x in _texts(ref, data) if x is not None]
    for role, t in tables.items():
        if role in (ref_role, "reference"):
            continue
        lengths = [len(x) for x in _texts(t, data) if x is not None]
        bins = drift.bin_count(len(ref_lengths), len(lengths))
        edges = drift.quantile_edges(ref_lengths, bins)
        measures = {
            "label": _drift_measure(method, ref_labels, label_counts(t.column(data.label_column), data.labels)),
            "length": _drift_measure(method, drift.histogram(ref_lengths, edges), drift.histogram(lengths, edges)),
        }
        name = "PSI" if method == "psi" else "chi2 p-value"
        drifted = {k: v for k, v in measures.items() if (v > threshold if method == "psi" else v < threshold)}
        numbers = f"label {name} {measures['label']:.3f}, length {name} {measures['length']:.3f} ({len(edges) + 1} bins)"
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


# The one list of checks, in the order they run and are reported. Those that can warn are the schema's
# data.checks.severity names (a test checks it).
CHECKS: tuple[Registered, ...] = (
    Registered("columns", check_columns, setting="data.text_column / data.label_column", can_warn=False),
    Registered("min_rows", check_min_rows, setting="data.checks.min_rows"),
    Registered("null_fraction", check_null_fraction, setting="data.checks.max_null_fraction", can_warn=False),
    Registered("empty_texts", check_empty_texts, setting="data.checks.max_empty_fraction"),
    Registered("labels", check_labels, setting="data.labels", can_warn=False),
    Registered("duplicates", check_duplicates, setting="data.checks.max_duplicate_fraction"),
    Registered("text_length", check_text_length, setting="data.checks.text_length"),
    Registered("min_rows_per_class", check_min_rows_per_class, setting="data.checks.min_rows_per_class"),
    Registered("class_balance", check_class_balance, setting="data.checks.max_class_imbalance"),
    Registered("leakage", check_leakage, lambda data: data.checks.leakage, setting="data.checks.leakage"),
    Registered("drift", check_drift, setting="data.checks.drift.threshold"),
)
BY_NAME = {c.name: c for c in CHECKS}


def fix(check: str, severity: str = "error") -> str:
    """What to change when a check fails: the data, its setting, or (where it can) its severity."""
    registered = BY_NAME.get(check)
    if registered is None:
        return ""
    steps = ["fix the data"] + ([f"change {registered.setting}"] if registered.setting else [])
    if registered.can_warn and severity == "error":
        steps.append(f"make it a warning with data.checks.severity: {{{check}: warn}}")
    return ", ".join(steps[:-1]) + " or " + steps[-1] if len(steps) > 1 else steps[0]


def run_checks(tables: Tables, data: Data) -> list[Outcome]:
    """Every enabled check, each with its severity; splits without the text or label column are left out
    of the checks after `columns`."""
    outcomes = check_columns(tables, data)
    usable = {role: t for role, t in tables.items() if data.text_column in t.columns and data.label_column in t.columns}
    for check in CHECKS[1:]:
        if check.enabled(data):
            outcomes.extend(check.run(usable, data))
    severity = data.checks.severity
    return [replace(o, severity=severity.get(o.check, "error")) if BY_NAME[o.check].can_warn else o for o in outcomes]
