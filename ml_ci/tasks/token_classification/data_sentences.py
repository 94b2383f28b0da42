"""A split's rows as sentences (words and tags), for token-classification's data half and its checks.

A row is words and tags (data.tokens_column, data.tags_column), or a text with character spans
(data.text_column, data.spans_column) that becomes words with `words.split` and tags from the spans.
A tag is a name of the tag list (`B-PER`) or its index (as Hugging Face datasets write `ner_tags`).
Every problem names its place: a CoNLL word's own line (the sentence's line + the word's index), else
the row and the word's index (`data/train.jsonl:4 tokens[2]`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from ml_ci.config.model import Data
from ml_ci.data.read import infer_format
from ml_ci.data.table import Table
from ml_ci.tasks.token_classification import words as splitter
from ml_ci.tasks.token_classification.config import TokenClassificationSpec, of

_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)$")
SCHEME_PREFIXES = {"IOB2": ("B", "I"), "BIOES": ("B", "I", "E", "S")}


@dataclass(frozen=True)
class Problem:
    row: int  # index into the table
    place: str  # file:line of the word, or the row's location and the word's index
    what: str


@dataclass(frozen=True)
class Sentence:
    tokens: list[str] | None  # None: missing, or not a list of strings (the columns check names it)
    tags: list[object] | None  # as written, names or indices; None: missing or not a list
    problems: tuple[Problem, ...] = ()  # spans that cannot become tags (rows with spans only)


def is_words(value: object) -> TypeGuard[list[str] | tuple[str, ...]]:
    return isinstance(value, (list, tuple)) and all(isinstance(w, str) for w in value)


def is_spans(value: object) -> TypeGuard[list[dict[str, object]] | tuple[dict[str, object], ...]]:
    return isinstance(value, (list, tuple)) and all(isinstance(s, dict) for s in value)


def place(table: Table, data: Data, row: int, index: int, column: str) -> str:
    """Where word `index` of a row is: its own line in a CoNLL file (no blank line falls inside a sentence),
    else the row and the word's index in the column."""
    location = table.locations[row]
    m = _LINE.match(location)
    if m and infer_format(m["file"], data.format) == "conll":
        return f"{m['file']}:{int(m['line']) + index}"
    return f"{location} {column}[{index}]"


def line_of(table: Table, problem: Problem) -> str:
    """The problem's file:line for an annotation: the word's line when it has one, else the row's location."""
    return problem.place if _LINE.match(problem.place) else table.locations[problem.row]


def tag_index(value: object, tags: Sequence[str]) -> int | None:
    """The index of a tag value: a name of `tags`, or its index (an int, or digits in text). None when missing or unknown."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value in tags:
            return tags.index(value)
        text = value.strip()
        return int(text) if text.isdigit() and int(text) < len(tags) else None
    if isinstance(value, int) and 0 <= value < len(tags):
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < len(tags):
        return int(value)
    return None


def tag_hint(value: object, spec: TokenClassificationSpec) -> str:
    """Why a tag value is not one of the tag list, when its shape says: another scheme's prefix, a type
    data.entity_types lacks, a type without its prefix."""
    if not isinstance(value, str):
        return f"indices are 0-{len(spec.tags) - 1}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    prefix, dash, kind = value.partition("-")
    prefixes = SCHEME_PREFIXES[spec.scheme]
    if dash and prefix in ("B", "I", "E", "S", "U", "L"):
        if prefix not in prefixes:
            other = "BILOU's (U- is BIOES's S-, L- its E-)" if prefix in ("U", "L") else "a BIOES prefix"
            return f"{prefix}- is {other}; data.scheme is {spec.scheme}"
        if kind not in spec.entity_types:
            return f"type {kind!r} is not one of data.entity_types ({', '.join(spec.entity_types)})"
    elif value in spec.entity_types:
        return f"a type without its prefix: {spec.scheme} tags are {', '.join(p + '-' + value for p in prefixes)} or O"
    return ""


def tag_names(tags: Sequence[object], spec: TokenClassificationSpec) -> list[str] | None:
    """The tags as names of the tag list; None when one is unknown."""
    names = spec.tags
    out: list[str] = []
    for value in tags:
        index = tag_index(value, names)
        if index is None:
            return None
        out.append(names[index])
    return out


def _from_spans(table: Table, data: Data, row: int, text: object, spans: object) -> Sentence:
    spec = of(data)
    column = spec.spans_column or ""
    if not isinstance(text, str):
        return Sentence(None, None)
    found = splitter.split(text)
    tokens = [w.text for w in found]
    if not is_spans(spans):
        return Sentence(tokens, None)
    prefixes = SCHEME_PREFIXES[spec.scheme]
    tags: list[object] = ["O"] * len(found)
    owner: dict[int, int] = {}  # word -> the span that tagged it
    starts = {w.start: i for i, w in enumerate(found)}
    ends = {w.end: i for i, w in enumerate(found)}
    problems: list[Problem] = []
    for j, span in enumerate(spans):
        at = f"{table.locations[row]} {column}[{j}]"
        start, end, kind = span.get("start"), span.get("end"), span.get("type")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
            problems.append(Problem(row, at, "a span needs integer start and end (character offsets, end exclusive)"))
            continue
        if not 0 <= start < end <= len(text):
            problems.append(Problem(row, at, f"[{start}, {end}) is not a span of the text's {len(text)} characters"))
            continue
        if kind not in spec.entity_types:
            problems.append(Problem(row, at, f"type {kind!r} is not one of data.entity_types ({', '.join(spec.entity_types)})"))
            continue
        first, last = starts.get(start), ends.get(end)
        if first is None or last is None or last < first:
            near = [f"{w.text!r} {w.start}-{w.end}" for w in found if w.end > start and w.start < end]
            problems.append(
                Problem(
                    row,
                    at,
                    f"[{start}, {end}) {text[start:end]!r} does not fall on word boundaries "
                    f"(the words there: {', '.join(near) or 'none'}; docs/tasks/token-classification.md: how a text is split)",
                )
            )
            continue
        clash = next((owner[i] for i in range(first, last + 1) if i in owner), None)
        if clash is not None:
            problems.append(Problem(row, at, f"[{start}, {end}) {text[start:end]!r} overlaps {column}[{clash}]"))
            continue
        for i in range(first, last + 1):
            owner[i] = j
            inner = "I" if i < last or "E" not in prefixes else "E"
            tags[i] = f"{'B' if i == first else inner}-{kind}"
        if first == last and "S" in prefixes:
            tags[first] = f"S-{kind}"
    return Sentence(tokens, tags, tuple(problems))


def sentences(table: Table, data: Data) -> list[Sentence]:
    """Each row of the table as a sentence."""
    spec = of(data)
    if spec.spans_column is not None:
        return [
            _from_spans(table, data, row, text, spans)
            for row, (text, spans) in enumerate(zip(table.column(spec.text_column), table.column(spec.spans_column), strict=True))
        ]
    out: list[Sentence] = []
    for tokens, tags in zip(table.column(spec.tokens_column), table.column(spec.tags_column), strict=True):
        out.append(
            Sentence(
                list(tokens) if is_words(tokens) else None,
                list(tags) if isinstance(tags, (list, tuple)) else None,
            )
        )
    return out


def word_problem(word: str) -> str | None:
    """Why a word cannot be one: ml-ci joins a sentence's words with single spaces and splits them back."""
    if not word:
        return "an empty word"
    if any(c.isspace() for c in word):
        return f"{word!r} contains whitespace"
    return None


def transitions(names: Sequence[str], scheme: str) -> list[tuple[int, str]]:
    """(word index, why) for each tag the scheme does not allow where it stands. IOB2: I-X only after B-X or
    I-X. BIOES: also B-X and I-X go on with I-X or end with E-X, and E-X ends an entity begun with B-X."""
    out: list[tuple[int, str]] = []
    inside: str | None = None  # the type of the entity open before this word
    before = "the sentence's start"
    for i, tag in enumerate(names):
        prefix, _, kind = tag.partition("-")
        if scheme == "IOB2":
            if prefix == "I" and inside != kind:
                out.append((i, f"I-{kind} after {before}: an entity begins with B-{kind}"))
        elif inside is not None and not (prefix in ("I", "E") and kind == inside):
            out.append((i, f"{tag} after {before}: a {inside} entity goes on with I-{inside} or ends with E-{inside}"))
        elif inside is None and prefix in ("I", "E"):
            out.append((i, f"{tag} after {before}: an entity begins with B-{kind} (a one-word one is S-{kind})"))
        inside = kind if prefix in ("B", "I") else None
        before = tag
    if scheme == "BIOES" and inside is not None:
        out.append(
            (len(names) - 1, f"{before} ends the sentence: a {inside} entity ends with E-{inside} (a one-word one is S-{inside})")
        )
    return out


def entities(names: Sequence[str]) -> Counter[str]:
    """Entities by type: the tags that begin one (B-, or BIOES's S-)."""
    return Counter(tag[2:] for tag in names if tag[:2] in ("B-", "S-"))


def joined(tokens: Sequence[str]) -> str:
    """A sentence's text: its words joined by single spaces (lossless once the words check passed)."""
    return " ".join(tokens)
