"""A split's rows as records, for text-generation's data half and its checks.

A record is a prompt and its completion (data.prompt_column, data.completion_column) or a chat, a list of
{role, content} messages (data.messages_column). One split may mix the two kinds (a JSON Lines file gives
every row every column, None where its line has no such key): each row is the kind whose keys it has.
A row with both kinds' keys, or neither, is malformed, as is a value of the wrong type, a message without
a role or content, or a role other than system, user and assistant. A chat's roles must be in order: an
optional system message first, then user and assistant in turn, ending with the assistant (whose turns
are learned). Every problem names its place: the row's location (`data/train.jsonl:4`), followed by the
message's index in a chat (`data/train.jsonl:4 messages[2]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml_ci.config.model import Data
from ml_ci.data.table import Table, is_missing
from ml_ci.tasks.text_generation.config import of

ROLES = ("system", "user", "assistant")
Kind = Literal["prompt", "chat"]


@dataclass(frozen=True)
class Problem:
    row: int  # index into the table
    place: str  # the row's location, then the message's index in a chat
    what: str


@dataclass(frozen=True)
class Record:
    """One row read as a record. `kind` is None for a malformed row (`malformed` says why)."""

    kind: Kind | None
    prompt: str | None = None  # a prompt/completion record's
    completion: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None  # a chat's (role, content) pairs
    malformed: Problem | None = None
    order: Problem | None = None  # a chat's roles out of order (a well-formed chat only)

    @property
    def usable(self) -> bool:
        """What training can learn from: a well-formed record, a chat's roles in order."""
        return self.kind is not None and self.order is None

    @property
    def text(self) -> str | None:
        """The prompt text: a prompt, or a chat's user turns joined by newlines; None when malformed."""
        if self.kind == "prompt":
            return self.prompt
        if self.messages is not None:
            return "\n".join(content for role, content in self.messages if role == "user")
        return None

    def as_dict(self) -> dict[str, object]:
        """The record as the renderer reads it, in ml-ci's column names: {prompt, completion} or {messages}."""
        if self.kind == "prompt":
            return {"prompt": self.prompt, "completion": self.completion}
        if self.messages is not None:
            return {"messages": [{"role": role, "content": content} for role, content in self.messages]}
        raise ValueError("a malformed record has no dict")


def _type(value: object) -> str:
    return type(value).__name__


def _chat(messages: object, column: str, at: str, row: int) -> Record:
    def bad(what: str) -> Record:
        return Record(None, malformed=Problem(row, at, what))

    if not isinstance(messages, (list, tuple)):
        return bad(f"{column!r} is {_type(messages)}, not a list of {{role, content}} messages")
    if not messages:
        return bad(f"{column!r} is an empty list")
    pairs: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        here = f"{at} {column}[{i}]"
        if not isinstance(message, dict):
            return Record(None, malformed=Problem(row, here, f"a {_type(message)}, not a {{role, content}} object"))
        for key in ("role", "content"):
            if is_missing(message.get(key)):
                return Record(None, malformed=Problem(row, here, f"no {key!r}"))
            if not isinstance(message[key], str):
                return Record(None, malformed=Problem(row, here, f"{key!r} is {_type(message[key])}, not text"))
        if message["role"] not in ROLES:
            return Record(None, malformed=Problem(row, here, f"role {message['role']!r} is not one of {', '.join(ROLES)}"))
        pairs.append((message["role"], message["content"]))
    return Record("chat", messages=tuple(pairs), order=_order(pairs, column, at, row))


def _order(pairs: list[tuple[str, str]], column: str, at: str, row: int) -> Problem | None:
    """The first role out of order: an optional system message, then user and assistant in turn, ending with assistant."""
    start = 1 if pairs[0][0] == "system" else 0
    if start == len(pairs):
        return Problem(row, f"{at} {column}[0]", "only a system message: a chat needs a user turn and the assistant's answer")
    for i in range(start, len(pairs)):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        role = pairs[i][0]
        if role != expected:
            after = f"after {pairs[i - 1][0]}" if i else "first"
            why = "a system message comes first, once" if role == "system" else f"expected {expected}"
            return Problem(row, f"{at} {column}[{i}]", f"{role} {after}: {why}")
    if pairs[-1][0] != "assistant":
        return Problem(
            row, f"{at} {column}[{len(pairs) - 1}]", "the chat ends with a user turn: it must end with the assistant's"
        )
    return None


def records(table: Table, data: Data) -> list[Record]:
    """Each row of the table as a record."""
    spec = of(data)
    p_col, c_col, m_col = spec.prompt_column, spec.completion_column, spec.messages_column
    out: list[Record] = []
    for row, (prompt, completion, messages) in enumerate(
        zip(table.column(p_col), table.column(c_col), table.column(m_col), strict=True)
    ):
        at = table.locations[row]
        paired = not (is_missing(prompt) and is_missing(completion))
        if paired and not is_missing(messages):
            out.append(
                Record(None, malformed=Problem(row, at, f"both {p_col!r}/{c_col!r} and {m_col!r}: a record is one or the other"))
            )
        elif not is_missing(messages):
            out.append(_chat(messages, m_col, at, row))
        elif not paired:
            out.append(Record(None, malformed=Problem(row, at, f"neither {p_col!r} and {c_col!r} nor {m_col!r}")))
        elif (why := _field(prompt, p_col) or _field(completion, c_col)) is not None:
            out.append(Record(None, malformed=Problem(row, at, why)))
        else:
            assert isinstance(prompt, str) and isinstance(completion, str)
            out.append(Record("prompt", prompt=prompt, completion=completion))
    return out


def _field(value: object, column: str) -> str | None:
    if is_missing(value):
        return f"no {column!r}"
    return None if isinstance(value, str) else f"{column!r} is {_type(value)}, not text"


def empty_targets(record: Record, table: Table, data: Data, row: int) -> list[str]:
    """The places of a record's empty targets: a blank completion, or each blank assistant turn."""
    if record.kind == "prompt":
        return [table.locations[row]] if not (record.completion or "").strip() else []
    column = of(data).messages_column
    return [
        f"{table.locations[row]} {column}[{i}]"
        for i, (role, content) in enumerate(record.messages or ())
        if role == "assistant" and not content.strip()
    ]
