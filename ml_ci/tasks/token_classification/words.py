"""How a raw text becomes words: the one splitter the server uses on `{"texts": [...]}` and the data half
uses on a text with character spans, so that a model trained on spans is served on the same words.

A word is an abbreviation of single letters with periods (`U.S.`), or a run of letters and digits joined by
inner hyphens, periods, slashes or ampersands (`1996-08-22`, `3.5`, `AT&T`); an apostrophe starts a word
(`Germany's` is `Germany` `'s`, as CoNLL has it); every other character that is not a space is a word of
its own (`(`, `,`, `$`). That is close to how CoNLL-2003
was tokenized; a text whose words come out otherwise can be sent as words (`{"tokens": [[...]]}`).

Standard library only: the serving image imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|[^\W_]+(?:[-./&][^\W_]+)*|['’][^\W_]+|\S")


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # character offsets into the text, end exclusive
    end: int


def split(text: str) -> list[Word]:
    """The words of text with their character offsets, in order."""
    return [Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def join(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Pre-split words as one text (joined by single spaces) and each word's offsets into it: what entity
    offsets refer to when a request (or a data row) gives words rather than a text."""
    offsets: list[tuple[int, int]] = []
    at = 0
    for token in tokens:
        offsets.append((at, at + len(token)))
        at += len(token) + 1
    return " ".join(tokens), offsets
