"""token-classification's data half (`ml_ci.tasks.protocols.data.DataHalf`): a row is a sentence, its words
and one tag per word (an index into the tag list: O, then each entity type's B-, I- (BIOES: also E-, S-)),
read from data.tokens_column and data.tags_column, or made from a text and its character spans
(data.text_column, data.spans_column) with `words.split`.

A sentence's text, what the generic checks measure and evaluation hashes, is its words joined by single
spaces; the `words` check makes that lossless. Its checks (`CHECKS`, in run order) are in `checks.py`;
sentences without a word are dropped from the rows (nothing to tag). A validation split held out of train
is stratified by the type of each sentence's first entity (none: a stratum of its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config, Data
from ml_ci.data import checks as generic
from ml_ci.data.checks import Registered
from ml_ci.data.table import Table, count, is_missing
from ml_ci.errors import DataCheckError
from ml_ci.tasks.token_classification import checks as c
from ml_ci.tasks.token_classification import data_tokenizer
from ml_ci.tasks.token_classification.config import of
from ml_ci.tasks.token_classification.data_sentences import entities, sentences, tag_names, word_problem

if TYPE_CHECKING:
    from datasets import Dataset

TOKENS = "tokens"
TAGS = "tags"
_SHOWN = 5  # unusable rows named in a message


def _spans(data: Data) -> bool:
    return of(data).spans_column is not None


# The one list of checks, in the order they run and are reported. Those that can warn are the names of
# data.checks.severity in the task's schema branch (ml_ci.config.by_task makes it from this list).
CHECKS: tuple[Registered, ...] = (
    Registered("columns", c.check_columns, setting="data.tokens_column / data.tags_column", can_warn=False),
    Registered("min_rows", generic.check_min_rows, setting="data.checks.min_rows"),
    Registered("null_fraction", c.check_null_fraction, setting="data.checks.max_null_fraction", can_warn=False),
    Registered("empty_sentences", c.check_empty_sentences, setting="data.checks.max_empty_fraction"),
    Registered("words", c.check_words, setting="data.tokens_column", can_warn=False),
    Registered("spans", c.check_spans, _spans, setting="data.spans_column", can_warn=False),
    Registered("tag_count", c.check_tag_count, setting="data.tags_column", can_warn=False),
    Registered("tags", c.check_tags, setting="data.entity_types / data.scheme", can_warn=False),
    Registered("transitions", c.check_transitions, setting="data.scheme"),
    Registered("duplicates", c.check_duplicates, setting="data.checks.max_duplicate_fraction"),
    Registered("truncation", c.check_truncation, setting="data.checks.max_truncated_fraction / model.max_length"),
    Registered("min_entities_per_type", c.check_min_entities_per_type, setting="data.checks.min_entities_per_type"),
    Registered("type_balance", c.check_type_balance, setting="data.checks.max_type_imbalance"),
    Registered("leakage", c.check_leakage, lambda data: data.checks.leakage, setting="data.checks.leakage"),
    Registered("drift", c.check_drift, setting="data.checks.drift.threshold"),
)


def checks() -> tuple[Registered, ...]:
    return CHECKS


def columns(data: Data) -> tuple[str, ...]:
    spec = of(data)
    return (spec.text_column, spec.spans_column) if spec.spans_column is not None else (spec.tokens_column, spec.tags_column)


def texts(table: Table, data: Data) -> list[str | None]:
    """Each sentence's words joined by single spaces; None for a row without a list of words."""
    return c.texts(table, data)


def check_inputs(config: Config) -> dict[str, Any]:
    """The truncation check reads model.base's tokenizer and model.max_length: a change to either re-runs the checks."""
    spec = of(config)
    return {
        "model": {"base": spec.base, "revision": config.model.revision, "max_length": spec.max_length},
        "tokenizer": data_tokenizer.identity(spec.base, config.root),
    }


def describe(table: Table, data: Data) -> dict[str, Any]:
    """The split's words, and its entities per type (every type named, 0 for one without)."""
    found = [s.tokens for s in sentences(table, data) if s.tokens is not None]
    return {"words": sum(len(t) for t in found), "entities": c.entity_counts(table, data)}


def strata(table: Table, data: Data) -> list[int | None]:
    """0 for a sentence without an entity, else 1 + the index of its first entity's type; None for an unusable row."""
    spec = of(data)
    out: list[int | None] = []
    for s in sentences(table, data):
        names = tag_names(s.tags, spec) if s.tokens is not None and s.tags is not None else None
        if names is None:
            out.append(None)
            continue
        first = next(iter(entities(names)), None)
        out.append(0 if first is None else 1 + spec.entity_types.index(first))
    return out


def split_keys(data: Data) -> tuple[str, ...]:
    spec = of(data)
    return (spec.tokens_column, spec.tags_column, spec.text_column, spec.spans_column or "", spec.scheme, *spec.entity_types)


def _usable(table: Table, data: Data) -> tuple[list[int], list[list[str]], list[list[int]]]:
    """The rows training can use (their indices, words and tag indices); DataCheckError naming the others."""
    spec = of(data)
    wanted = [*columns(data), *data.slice_columns]
    missing = [name for name in wanted if name not in table.columns]
    if missing:
        raise DataCheckError(
            f"{table.source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(table.columns) or 'none'}); "
            + ("set data.text_column / data.spans_column" if spec.spans_column else "set data.tokens_column / data.tags_column")
        )
    kept: list[int] = []
    words: list[list[str]] = []
    tags: list[list[int]] = []
    bad: list[str] = []
    for row, s in enumerate(sentences(table, data)):
        at = table.locations[row]
        if s.tokens is None:
            bad.append(f"{at} ({'no text' if spec.spans_column else 'no list of words'})")
        elif s.tags is None:
            bad.append(f"{at} ({'no list of spans' if spec.spans_column else 'no list of tags'})")
        elif s.problems:
            bad.append(f"{at} ({s.problems[0].what})")
        elif (why := next((w for w in map(word_problem, s.tokens) if w is not None), None)) is not None:
            bad.append(f"{at} ({why})")
        elif len(s.tokens) != len(s.tags):
            bad.append(f"{at} ({count(len(s.tokens), 'word')}, {count(len(s.tags), 'tag')})")
        elif (names := tag_names(s.tags, spec)) is None:
            bad.append(f"{at} (a tag outside {', '.join(spec.tags)})")
        elif s.tokens:  # a sentence without a word has nothing to tag
            kept.append(row)
            words.append(s.tokens)
            tags.append([spec.tags.index(name) for name in names])
    if bad:
        raise DataCheckError(
            f"{table.source}: cannot use {count(len(bad), 'row')}: {'; '.join(bad[:_SHOWN])}"
            f"{'; ...' if len(bad) > _SHOWN else ''}. Run `ml-ci data check` for the full report"
        )
    if not kept:
        raise DataCheckError(f"{table.source}: the split has no sentences")
    return kept, words, tags


def rows(table: Table, data: Data) -> dict[str, list[object]]:
    """One split's checked columns as plain lists: `tokens` (the words), `tags` (indices into the tag list) and
    the slice columns as text. Sentences without a word are left out."""
    kept, words, tags = _usable(table, data)
    clash = [name for name in data.slice_columns if name in (TOKENS, TAGS)]
    if clash:
        raise DataCheckError(f"slice column {clash[0]!r} clashes with the column ml-ci names {clash[0]!r}; rename it in the data")
    out: dict[str, list[object]] = {TOKENS: list(words), TAGS: list(tags)}
    for name in data.slice_columns:
        values = table.columns[name]
        out[name] = [None if is_missing(values[i]) else str(values[i]) for i in kept]
    return out


def to_dataset(table: Table, data: Data) -> Dataset:
    """The Dataset of one split: `tokens`, `tags` (ClassLabel over the tag list) and the slice columns."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    spec = of(data)
    features = Features(
        {
            TOKENS: Sequence(Value("string")),
            TAGS: Sequence(ClassLabel(names=list(spec.tags))),
            **{name: Value("string") for name in data.slice_columns},
        }
    )
    return Dataset.from_dict(rows(table, data), features=features)
