"""Text normalization for duplicate and leakage checks: texts equal up to case, Unicode form,
spacing and punctuation count as the same text."""

from __future__ import annotations

import hashlib
import unicodedata


def normalize(text: str) -> str:
    """NFKC, casefold, punctuation removed, whitespace collapsed: "Great  movie!" -> "great movie"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if not unicodedata.category(c).startswith("P"))
    return " ".join(kept.split())


def text_hash(text: str) -> str:
    """sha256 of the normalized text: what the leakage check compares across splits."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()
