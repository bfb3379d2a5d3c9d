"""Text as R4 string search compares it (ground layer: the index and the parser both fold)."""

from __future__ import annotations

import unicodedata


def normalize_text(value: str) -> str:
    """R4 string search ignores case and accents (search.html#string): fold both."""
    if value.isascii():
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
