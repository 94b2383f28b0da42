"""text-generation's data half (`ml_ci.tasks.protocols.data.DataHalf`): a row is a record, a prompt and its
completion (data.prompt_column, data.completion_column) or a chat, a list of {role, content} messages
(data.messages_column). A split may mix the two kinds: each row is the kind whose keys it has
(`data_records`), and the rows carry the three columns, None where a record has none.

A record's text, what the generic checks measure (empty prompts, duplicates, leakage across splits, length
drift) and a validation split held out of train groups by, is its prompt: the prompt, or a chat's user turns
joined by newlines. Its checks (`CHECKS`, in run order) are in `checks.py`. A held-out validation split is
stratified by kind (prompt/completion, chat).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config, Data
from ml_ci.data.checks import Registered
from ml_ci.data.table import Table, count, is_missing
from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_generation import checks as c
from ml_ci.tasks.text_generation import data_tokenizer
from ml_ci.tasks.text_generation.config import of
from ml_ci.tasks.text_generation.data_records import Record, records
from ml_ci.tasks.text_generation.render import COMPLETION, MESSAGES, PROMPT

if TYPE_CHECKING:
    from datasets import Dataset

_SHOWN = 5  # unusable rows named in a message
_KINDS = ("prompt", "chat")

# The one list of checks, in the order they run and are reported. Those that can warn are the names of
# data.checks.severity in the task's schema branch (ml_ci.config.by_task makes it from this list).
CHECKS: tuple[Registered, ...] = (
    Registered(
        "columns", c.check_columns, setting="data.prompt_column / data.completion_column / data.messages_column", can_warn=False
    ),
    Registered("min_rows", c.check_min_rows, setting="data.checks.min_rows"),
    Registered(
        "records", c.check_records, setting="data.prompt_column / data.completion_column / data.messages_column", can_warn=False
    ),
    Registered("roles", c.check_roles, setting="data.messages_column", can_warn=False),
    Registered("empty_completions", c.check_empty_completions, setting="data.checks.max_empty_fraction"),
    Registered("empty_texts", c.check_empty_prompts, setting="data.checks.max_empty_fraction"),
    Registered("chat_template", c.check_chat_template, setting="data.chat_template", can_warn=False),
    Registered("truncation", c.check_truncation, setting="data.checks.max_truncated_fraction / model.max_length"),
    Registered("duplicates", c.check_duplicates, setting="data.checks.max_duplicate_fraction"),
    Registered("leakage", c.check_leakage, lambda data: data.checks.leakage, setting="data.checks.leakage"),
    Registered("drift", c.check_drift, setting="data.checks.drift.threshold"),
)


def checks() -> tuple[Registered, ...]:
    return CHECKS


def columns(data: Data) -> tuple[str, ...]:
    """None that every split must have: a split holds prompt/completion records, chats, or both. Each check after
    `columns` reads only the splits that have one kind's columns (`checks.readable`); `columns` names the others."""
    return ()


def texts(table: Table, data: Data) -> list[str | None]:
    """Each record's prompt text (a chat's user turns joined by newlines); None for a malformed record."""
    return c.texts(table, data)


def check_inputs(config: Config) -> dict[str, Any]:
    """The template and truncation checks read model.base's tokenizer (its vocabulary, special tokens and chat
    template) and model.max_length: a change to either re-runs the checks."""
    spec = of(config)
    return {
        "model": {"base": spec.base, "revision": config.model.revision, "max_length": spec.max_length},
        "tokenizer": data_tokenizer.identity(spec.base, config.root),
    }


def describe(table: Table, data: Data) -> dict[str, Any]:
    """The split's records of each kind (malformed ones are neither)."""
    found = [r.kind for r in records(table, data)]
    return {"records": {"prompt_completion": found.count("prompt"), "chat": found.count("chat")}}


def strata(table: Table, data: Data) -> list[int | None]:
    """0 for a prompt/completion record, 1 for a chat; None for one training cannot use."""
    return [_KINDS.index(r.kind) if r.usable and r.kind is not None else None for r in records(table, data)]


def split_keys(data: Data) -> tuple[str, ...]:
    spec = of(data)
    return (spec.prompt_column, spec.completion_column, spec.messages_column)


def _why(record: Record) -> str:
    problem = record.malformed or record.order
    assert problem is not None
    return f"{problem.place} ({problem.what})"


def _usable(table: Table, data: Data) -> tuple[list[int], list[Record]]:
    """The records training can use (their rows and records); DataCheckError naming the others."""
    spec = of(data)
    missing = [name for name in data.slice_columns if name not in table.columns]
    if not c.readable(table, data) and not missing:
        missing = [
            name for name in (spec.prompt_column, spec.completion_column, spec.messages_column) if name not in table.columns
        ]
    if missing:
        raise DataCheckError(
            f"{table.source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(table.columns) or 'none'}); "
            "set data.prompt_column / data.completion_column / data.messages_column or data.slice_columns"
        )
    kept: list[int] = []
    found: list[Record] = []
    bad: list[str] = []
    for row, record in enumerate(records(table, data)):
        if record.usable:
            kept.append(row)
            found.append(record)
        else:
            bad.append(_why(record))
    if bad:
        raise DataCheckError(
            f"{table.source}: cannot use {count(len(bad), 'record')}: {'; '.join(bad[:_SHOWN])}"
            f"{'; ...' if len(bad) > _SHOWN else ''}. Run `ml-ci data check` for the full report"
        )
    if not kept:
        raise DataCheckError(f"{table.source}: the split has no records")
    return kept, found


def rows(table: Table, data: Data) -> dict[str, list[object]]:
    """One split's records as plain columns in ml-ci's names, whatever ml.yaml calls them: `prompt` and `completion`
    (text, None for a chat), `messages` (a list of {role, content}, None for a prompt/completion record), then the
    slice columns as text. `records(rows)` turns them back into what `render` reads."""
    kept, found = _usable(table, data)
    clash = [name for name in data.slice_columns if name in (PROMPT, COMPLETION, MESSAGES)]
    if clash:
        raise DataCheckError(f"slice column {clash[0]!r} clashes with the column ml-ci names {clash[0]!r}; rename it in the data")
    dicts = [r.as_dict() for r in found]
    out: dict[str, list[object]] = {name: [d.get(name) for d in dicts] for name in (PROMPT, COMPLETION, MESSAGES)}
    for name in data.slice_columns:
        values = table.columns[name]
        out[name] = [None if is_missing(values[i]) else str(values[i]) for i in kept]
    return out


def as_records(columns: dict[str, list[object]]) -> list[dict[str, Any]]:
    """`rows`' columns (or a Dataset's, as `to_dataset` wrote them) back into records as `render` reads them: a
    chat's {messages}, else {prompt, completion}."""
    out: list[dict[str, Any]] = []
    for prompt, completion, messages in zip(columns[PROMPT], columns[COMPLETION], columns[MESSAGES], strict=True):
        out.append({MESSAGES: messages} if messages is not None else {PROMPT: prompt, COMPLETION: completion})
    return out


def to_dataset(table: Table, data: Data) -> Dataset:
    """The Dataset of one split: `prompt`, `completion`, `messages` (a list of {role, content}; None where the
    record is the other kind) and the slice columns."""
    from datasets import Dataset, Features, Value

    features = Features(
        {
            PROMPT: Value("string"),
            COMPLETION: Value("string"),
            MESSAGES: [{"role": Value("string"), "content": Value("string")}],
            **{name: Value("string") for name in data.slice_columns},
        }
    )
    return Dataset.from_dict(rows(table, data), features=features)
