"""The `phonetic` search parameter: "a portion of either family or given name using some
kind of phonetic matching algorithm" (R4, Patient and Practitioner).

The algorithm is Metaphone (jellyfish's implementation). Over common name variants it joins
more true pairs than NYSIIS (Catherine/Kathryn, Jeffrey/Geoffrey, Smith/Smyth) and, unlike
Soundex, keeps apart names that only share consonant classes (Jones/James). A name part is
indexed by the key of the whole part and of each of its words, so `phonetic=Jones` finds
"Smith-Jones"; a search value is one portion, keyed whole. Keys are computed here on both
sides, so any PostgreSQL serves the search (no fuzzystrmatch extension needed), and
ALGORITHM is part of the index signature: changing it rewrites the stored keys.
"""

from __future__ import annotations

import re

import jellyfish

from fhirserver.textfold import normalize_text

CODE = "phonetic"   # R4's code for it on every type that has it
ALGORITHM = "metaphone/jellyfish-1"
DOCUMENTATION = ("Metaphone keys of each family and given name, whole and word by word; the value is one "
                 "name portion. Modifiers: :missing.")
PARTS = ("family", "given")   # the parts R4 names; prefixes, suffixes and text are not name portions
_LETTERS = re.compile(r"[a-z]+")


def _words(text: str) -> list[str]:
    return _LETTERS.findall(normalize_text(text))


def key(text: str) -> str | None:
    """The key of one name portion: its letters after case and accent folding (None: no letters)."""
    letters = "".join(_words(text))
    return (jellyfish.metaphone(letters) or None) if letters else None


def keys(text: str) -> set[str]:
    """The keys a stored name part is found by: the whole part's and each word's."""
    words = _words(text)
    found = {jellyfish.metaphone(w) for w in words}
    if len(words) > 1:
        found.add(jellyfish.metaphone("".join(words)))
    found.discard("")
    return found
