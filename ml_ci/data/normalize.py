"""Text normalization for duplicate and leakage checks: texts equal up to case, Unicode form,
spacing and punctuation count as the same text."""

from __future__ import annotations

import hashlib
import unicodedata


class _Punctuation(dict[int, int | None]):
    """str.translate table that drops Unicode punctuation (categories P*): each code point is
    classified once, on first sight, so the table stays small and lookups run at C speed."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.category(chr(code)).startswith("P") else code
        self[code] = value
        return value


_PUNCTUATION = _Punctuation()


def normalize(text: str) -> str:
    """NFKC, casefold, punctuation removed, whitespace collapsed: "Great  movie!" -> "great movie"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_PUNCTUATION).split())


def text_hash(text: str) -> str:
    """sha256 of the normalized text: what the leakage check compares across splits."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()
