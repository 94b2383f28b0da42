"""The prompt set (evaluate.prompts): JSON Lines, one item a line, read and checked before any model runs.

    {"id": "capital-fr", "prompt": "The capital of France is", "tags": ["facts"], "reference": "Paris",
     "max_new_tokens": 8, "assert": [{"type": "icontains", "value": "paris"}, {"type": "not-contains", "value": "London"}]}

An item has a `prompt` (a string) or `messages` (a chat: [{role, content}], rendered with the chat template and
a generation prompt), never both; optional `id` (default: its line number), `tags` (names matching
config.TAG_PATTERN: each is a slice and a `pass_rate.TAG` metric), `reference` (the answer ROUGE-L and chrF
compare with), `max_new_tokens` (overrides evaluate.generation's) and `assert` (`assertions.parse`). Every
problem is a DataCheckError (exit 3) naming the file and line, all of them at once, as the data check does,
so that a prompt set is fixed in one pass; a typo of a key says which key was meant.

Pure and torch-free.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_generation import assertions
from ml_ci.tasks.text_generation.config import TAG_PATTERN

KEYS = ("id", "prompt", "messages", "tags", "reference", "max_new_tokens", "assert")
ROLES = ("system", "user", "assistant")
MAX_NEW_TOKENS = 32768  # as evaluate.generation.max_new_tokens' maximum
SHOWN_PROBLEMS = 20  # the rest are counted: a file broken on every line says so in a screenful
_TAG = re.compile(TAG_PATTERN)


@dataclass(frozen=True)
class PromptItem:
    """One checked item of the prompt set."""

    line: int  # 1-based line of the file
    id: str
    prompt: str | None
    messages: tuple[Mapping[str, str], ...] | None
    tags: tuple[str, ...] = ()
    reference: str | None = None
    max_new_tokens: int | None = None
    asserts: tuple[assertions.Assertion, ...] = ()

    @property
    def record(self) -> dict[str, Any]:
        """The item as a record (`render.prompt_text` takes it as it takes a split's)."""
        if self.messages is not None:
            return {"messages": [dict(m) for m in self.messages]}
        return {"prompt": self.prompt}

    @property
    def text(self) -> str:
        """What the item asks (hashed to pair it with a baseline's, measured by the length slices): the prompt, or
        a chat's user turns one per line, as the data half's texts say a record's."""
        if self.messages is None:
            return self.prompt or ""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")


def _messages(value: Any) -> tuple[Mapping[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("`messages` is a non-empty list of {role, content}")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping) or set(m) != {"role", "content"}:
            raise ValueError(f"messages[{i}] is not an object with exactly `role` and `content`")
        if m["role"] not in ROLES:
            raise ValueError(f"messages[{i}] has role {m['role']!r}, not one of {', '.join(ROLES)}")
        if not isinstance(m["content"], str):
            raise ValueError(f"messages[{i}]'s content is not a string")
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "user" for m in out):
        raise ValueError("`messages` has no user turn to answer")
    return tuple(out)


def _key_hint(key: str) -> str:
    near = difflib.get_close_matches(key, KEYS, n=1)
    return f"; did you mean {near[0]!r}?" if near else f" (an item has {', '.join(KEYS)})"


def item(raw: Any, line: int) -> PromptItem:
    """One line's item; ValueError naming the first thing wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(f"an item is a JSON object, not {type(raw).__name__}")
    for key in raw:
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}{_key_hint(key)}")
    prompt, messages = raw.get("prompt"), raw.get("messages")
    if "prompt" in raw and "messages" in raw:
        raise ValueError("an item has `prompt` or `messages`, not both")
    if "prompt" not in raw and "messages" not in raw:
        raise ValueError("an item needs a `prompt` (a string) or `messages` (a chat)")
    if "prompt" in raw and (not isinstance(prompt, str) or not prompt):
        raise ValueError(f"`prompt` is a non-empty string, not {prompt!r}")
    ident = raw.get("id", str(line))
    if not isinstance(ident, str) or not ident:
        raise ValueError(f"`id` is a non-empty string, not {ident!r}")
    tags = raw.get("tags", [])
    if not isinstance(tags, list):
        raise ValueError(f"`tags` is a list of names, not {tags!r}")
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise ValueError(f"tag {tag!r} does not match {TAG_PATTERN} (letters, digits, _ and -: it names a metric)")
    reference = raw.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise ValueError(f"`reference` is a string, not {reference!r}")
    limit = raw.get("max_new_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_NEW_TOKENS):
        raise ValueError(f"`max_new_tokens` is an integer from 1 to {MAX_NEW_TOKENS}, not {limit!r}")
    asserts = raw.get("assert", [])
    if not isinstance(asserts, list):
        raise ValueError(f"`assert` is a list of assertions, not {asserts!r}")
    checked = []
    for i, a in enumerate(asserts):
        try:
            checked.append(assertions.parse(a))
        except ValueError as e:
            raise ValueError(f"assert[{i}]: {e}") from None
    return PromptItem(
        line=line,
        id=ident,
        prompt=prompt if messages is None else None,
        messages=_messages(messages) if "messages" in raw else None,
        tags=tuple(dict.fromkeys(tags)),
        reference=reference,
        max_new_tokens=limit,
        asserts=tuple(checked),
    )


def parse(text: str, source: str) -> list[PromptItem]:
    """Every item of a prompt file's text; DataCheckError listing each bad line as `source:line: why`."""
    items: list[PromptItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{source}:{n}: not JSON: {e.msg} (column {e.colno})")
            continue
        try:
            found = item(raw, n)
        except ValueError as e:
            problems.append(f"{source}:{n}: {e}")
            continue
        if found.id in seen:
            problems.append(f"{source}:{n}: id {found.id!r} is already the item of line {seen[found.id]}")
            continue
        seen[found.id] = n
        items.append(found)
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = problems[:SHOWN_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise DataCheckError(f"the prompt set (evaluate.prompts) has {len(problems)} problem(s):\n" + "\n".join(shown))
    if not items:
        raise DataCheckError(f"{source}: the prompt set (evaluate.prompts) has no item")
    return items


def read(path: Path, source: str) -> list[PromptItem]:
    """The prompt file at path (shown as source); a missing file names evaluate.prompts."""
    from ml_ci.data.read import decode, read_bytes

    return parse(decode(read_bytes(path, source, key="evaluate.prompts"), source), source)


def digest(path: Path) -> str:
    """sha256 of the file's bytes (evaluate's and export's cache keys), or `missing`."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "missing"
