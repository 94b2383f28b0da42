"""How an example's text is keyed across records (eval.json's predictions, golden examples, a baseline's rows):
stdlib only, so that the serving image, which compares golden answers with evaluate's, holds it too."""

from __future__ import annotations

import hashlib


def text_hash(text: str) -> str:
    """16 hex digits of sha256: enough to match examples across runs without storing the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
