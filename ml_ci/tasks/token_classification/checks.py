"""token-classification's data checks: the task's own, and ml_ci.data.checks' generic ones bound to its
columns and to each sentence's text (its words joined by single spaces). The list, in run order, is
`data.CHECKS`. Every failure names the file and line (a CoNLL word's own line) or the row and the word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ml_ci.config.model import Data
from ml_ci.data import checks as generic
from ml_ci.data.checks import SHOWN, Outcome, Tables
from ml_ci.data.table import Table, count
from ml_ci.tasks.token_classification import data_tokenizer
from ml_ci.tasks.token_classification.config import of
from ml_ci.tasks.token_classification.data_sentences import (
    Problem,
    Sentence,
    entities,
    is_spans,
    is_words,
    joined,
    line_of,
    place,
    sentences,
    tag_hint,
    tag_names,
    transitions,
    word_problem,
)


def texts(table: Table, data: Data) -> list[str | None]:
    """Each sentence's words joined by single spaces; None for a row without a list of words."""
    return [joined(s.tokens) if s.tokens is not None else None for s in sentences(table, data)]


def _problems(check: str, role: str, t: Table, problems: list[Problem], passed: str, failed: str) -> Outcome:
    """One outcome of a check that lists its problems, each at its place."""
    found = [(p.place, p.what) for p in problems]
    return generic.listed(check, role, t, found, [line_of(t, p) for p in problems[:SHOWN]], passed, failed)


def check_columns(tables: Tables, data: Data) -> list[Outcome]:
    """The words and tags columns (or the text and spans columns) and the slice columns exist, holding lists."""
    spec = of(data)
    if spec.spans_column is not None:
        columns = (
            generic.Column(spec.text_column, "data.text_column", "text", lambda v: isinstance(v, str)),
            generic.Column(spec.spans_column, "data.spans_column", "lists of {start, end, type} spans", is_spans),
        )
    else:
        columns = (
            generic.Column(spec.tokens_column, "data.tokens_column", "lists of words (strings)", is_words),
            generic.Column(
                spec.tags_column, "data.tags_column", "lists of tags (names or indices)", lambda v: isinstance(v, list)
            ),
        )
    return generic.check_columns(tables, data, columns)


def check_null_fraction(tables: Tables, data: Data) -> list[Outcome]:
    """Rows missing the words or the tags (the text or the spans), per split, at most data.checks.max_null_fraction."""
    spec = of(data)
    if spec.spans_column is not None:
        return generic.check_null_fraction(tables, data, (spec.text_column, spec.spans_column), "the text or the spans")
    return generic.check_null_fraction(tables, data, (spec.tokens_column, spec.tags_column), "the words or the tags")


def check_empty_sentences(tables: Tables, data: Data) -> list[Outcome]:
    """Sentences without a word, per split, at most data.checks.max_empty_fraction (training drops them)."""
    return generic.fraction_check(
        "empty_sentences",
        "max_empty_fraction",
        data.checks.max_empty_fraction,
        "have no word",
        lambda t: [i for i, s in enumerate(sentences(t, data)) if s.tokens is not None and not s.tokens],
        tables,
        noun="sentences",
    )


def _word_column(data: Data) -> str:
    spec = of(data)
    return spec.text_column if spec.spans_column is not None else spec.tokens_column


def check_words(tables: Tables, data: Data) -> list[Outcome]:
    """No word is empty or holds whitespace: a sentence's words joined by single spaces split back into them."""
    out: list[Outcome] = []
    column = _word_column(data)
    for role, t in tables.items():
        problems = [
            Problem(row, place(t, data, row, i, column), why)
            for row, s in enumerate(sentences(t, data))
            for i, word in enumerate(s.tokens or [])
            if (why := word_problem(word)) is not None
        ]
        out.append(
            _problems(
                "words",
                role,
                t,
                problems,
                "no word is empty or holds whitespace",
                f"{count(len(problems), 'word')} empty or holding whitespace (ml-ci joins a sentence's words with single "
                "spaces and splits them back: split such a word in two, or drop it)",
            )
        )
    return out


def check_spans(tables: Tables, data: Data) -> list[Outcome]:
    """Each span of a text covers whole words, of a known type, overlapping no other span."""
    out: list[Outcome] = []
    for role, t in tables.items():
        problems = [p for s in sentences(t, data) for p in s.problems]
        out.append(
            _problems(
                "spans",
                role,
                t,
                problems,
                "every span covers whole words, of a type in data.entity_types, overlapping no other",
                f"{count(len(problems), 'span')} that cannot become tags",
            )
        )
    return out


def check_tag_count(tables: Tables, data: Data) -> list[Outcome]:
    """Each sentence has one tag per word."""
    out: list[Outcome] = []
    spec = of(data)
    for role, t in tables.items():
        problems = [
            Problem(row, t.locations[row], f"{count(len(s.tokens), 'word')}, {count(len(s.tags), 'tag')}")
            for row, s in enumerate(sentences(t, data))
            if s.tokens is not None and s.tags is not None and len(s.tokens) != len(s.tags)
        ]
        out.append(
            _problems(
                "tag_count",
                role,
                t,
                problems,
                "every sentence has one tag per word",
                f"{count(len(problems), 'sentence')} whose {spec.tags_column!r} and {spec.tokens_column!r} differ in length",
            )
        )
    return out


def check_tags(tables: Tables, data: Data) -> list[Outcome]:
    """Every tag is a name of the tag list (O, then each entity type's scheme prefixes) or its index."""
    out: list[Outcome] = []
    spec = of(data)
    names = spec.tags
    for role, t in tables.items():
        problems: list[Problem] = []
        for row, s in enumerate(sentences(t, data)):
            for i, value in enumerate(s.tags or []):
                if tag_names([value], spec) is None:
                    hint = tag_hint(value, spec)
                    problems.append(
                        Problem(row, place(t, data, row, i, spec.tags_column), f"{value!r}" + (f": {hint}" if hint else ""))
                    )
        out.append(
            _problems(
                "tags",
                role,
                t,
                problems,
                f"every tag is one of {', '.join(names)}",
                f"{count(len(problems), 'tag')} outside data.scheme {spec.scheme}'s tags of data.entity_types "
                f"({', '.join(names)}, or their indices 0-{len(names) - 1})",
            )
        )
    return out


def _names(s: Sentence, data: Data) -> list[str] | None:
    """A sentence's tag names, when it has one known tag per word."""
    if s.tokens is None or s.tags is None or len(s.tokens) != len(s.tags):
        return None
    return tag_names(s.tags, of(data))


def check_transitions(tables: Tables, data: Data) -> list[Outcome]:
    """No tag where data.scheme does not allow it (I-X after O or after B-Y; BIOES: also an entity left open)."""
    out: list[Outcome] = []
    spec = of(data)
    for role, t in tables.items():
        problems = [
            Problem(row, place(t, data, row, i, spec.tags_column), why)
            for row, s in enumerate(sentences(t, data))
            if (found := _names(s, data)) is not None
            for i, why in transitions(found, spec.scheme)
        ]
        out.append(
            _problems(
                "transitions",
                role,
                t,
                problems,
                f"every tag follows the {spec.scheme} scheme",
                f"{count(len(problems), 'tag')} that the {spec.scheme} scheme does not allow there (strict scoring "
                "reads them as other entities than meant)",
            )
        )
    return out


def check_truncation(tables: Tables, data: Data) -> list[Outcome]:
    """Sentences longer than model.max_length subwords of the base model's tokenizer (their last words are cut:
    no tag learned or predicted), per split, at most data.checks.max_truncated_fraction."""
    out: list[Outcome] = []
    spec = of(data)
    limit, max_length = spec.max_truncated_fraction, spec.max_length
    root = next((t.root for t in tables.values() if t.root is not None), None)
    loaded = data_tokenizer.load(spec.base, root) if tables else None
    for role, t in tables.items():
        assert loaded is not None
        if loaded.tokenizer is None:
            out.append(
                Outcome(
                    check="truncation",
                    split=role,
                    passed=True,
                    limit=limit,
                    message=f"{t.source}: not measured: {loaded.why}",
                    details={"measured": False},
                )
            )
            continue
        usable = [(row, s.tokens) for row, s in enumerate(sentences(t, data)) if s.tokens]
        measured = data_tokenizer.lengths(loaded.tokenizer, [tokens for _, tokens in usable], max_length)
        long = [(row, m) for (row, _), m in zip(usable, measured, strict=True) if m.subwords > max_length]
        cut = sum(m.cut for _, m in long)
        frac = generic.fraction(len(long), len(t))
        passed = frac <= limit
        longest = max((m.subwords for m in measured), default=0)
        message = (
            f"{t.source}: {len(long)} of {count(len(t), 'sentence')} ({frac:.1%}) longer than model.max_length "
            f"{max_length} subwords (longest {longest}); {count(cut, 'word')} would be cut"
        )
        first = tuple(f"{t.locations[row]} ({m.subwords} subwords, {m.cut} cut)" for row, m in long[:SHOWN])
        if not passed:
            message += f", above max_truncated_fraction {limit}: raise model.max_length or split them; first" + generic.listing(
                first, len(long)
            )
        out.append(
            Outcome(
                check="truncation",
                split=role,
                passed=passed,
                value=frac,
                limit=limit,
                message=message,
                rows=tuple(t.locations[row] for row, _ in long[:SHOWN]),
                details={"measured": True, "sentences": len(long), "words_cut": cut, "longest": longest},
            )
        )
    return out


def entity_counts(table: Table, data: Data) -> dict[str, int]:
    """Entities by type, every type named (0 for one without), in data.entity_types' order."""
    found: Counter[str] = Counter()
    for s in sentences(table, data):
        if (names := _names(s, data)) is not None:
            found += entities(names)
    return {kind: found[kind] for kind in of(data).entity_types}


def _entities(n: int) -> str:
    return f"{n} {'entity' if n == 1 else 'entities'}"


def _train(tables: Tables) -> list[tuple[str, Table]]:
    return [("train", tables["train"])] if "train" in tables else []


def check_min_entities_per_type(tables: Tables, data: Data) -> list[Outcome]:
    """Each entity type has at least data.checks.min_entities_per_type entities in the training split."""
    out: list[Outcome] = []
    limit = of(data).min_entities_per_type
    for role, t in _train(tables):
        counts = entity_counts(t, data)
        short = [(kind, n) for kind, n in counts.items() if n < limit]
        fewest = min(counts.values())
        message = (
            f"{t.source}: "
            + ", ".join(f"type {kind!r} has {_entities(n)}" for kind, n in short)
            + f", fewer than min_entities_per_type {limit}"
            if short
            else f"{t.source}: every entity type has at least {limit} (fewest: {fewest})"
        )
        out.append(
            Outcome(
                check="min_entities_per_type",
                split=role,
                passed=not short,
                value=fewest,
                limit=limit,
                message=message,
                details=counts,
            )
        )
    return out


def check_type_balance(tables: Tables, data: Data) -> list[Outcome]:
    """The most frequent entity type has at most data.checks.max_type_imbalance times the entities of the least."""
    out: list[Outcome] = []
    limit = of(data).max_type_imbalance
    for role, t in _train(tables):
        counts = entity_counts(t, data)
        most, least = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        if counts[least] == 0:
            absent = ", ".join(repr(kind) for kind, n in counts.items() if n == 0)
            message = f"{t.source}: type {absent} has no entity; the model cannot learn it (max_type_imbalance {limit})"
            out.append(
                Outcome(check="type_balance", split=role, passed=False, value=None, limit=limit, message=message, details=counts)
            )
            continue
        ratio = counts[most] / counts[least]
        passed = ratio <= limit
        message = (
            f"{t.source}: most frequent type {most!r} has {_entities(counts[most])}, least frequent {least!r} "
            f"{counts[least]}: ratio {ratio:.2f}"
            + (f", above max_type_imbalance {limit}" if not passed else f" (max_type_imbalance {limit})")
        )
        out.append(
            Outcome(check="type_balance", split=role, passed=passed, value=ratio, limit=limit, message=message, details=counts)
        )
    return out


def _bound(check: Callable[[Tables, Data, generic.Texts], list[Outcome]]) -> Callable[[Tables, Data], list[Outcome]]:
    """A generic text check bound to the sentences' texts."""
    return lambda tables, data: check(tables, data, lambda t: texts(t, data))


check_duplicates = _bound(generic.check_duplicates)
check_leakage = _bound(generic.check_leakage)


def check_drift(tables: Tables, data: Data) -> list[Outcome]:
    """The entity-type distribution and the sentence lengths of each split against the reference."""
    return generic.check_drift(
        tables, data, lambda t: texts(t, data), {"entity type": lambda t: list(entity_counts(t, data).values())}
    )
