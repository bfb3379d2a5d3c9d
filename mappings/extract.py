"""Small pure functions that turn FHIR elements into column values.

Each `*_of(path)` returns an extractor `resource -> value`. Paths are dotted
element names; arrays along the way are flattened, and `name[x]` picks whichever
typed form of a choice element is present. Extractors read validated resources,
so they never need to defend against wrong JSON types.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Iterator

from fhirserver.fhirtime import OPEN_END, interval

Extractor = Callable[[dict], object]


def _values(node: object, parts: list[str]) -> Iterator[object]:
    if isinstance(node, list):
        for item in node:
            yield from _values(item, parts)
        return
    if not parts:
        yield node
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[x]"):
        stem = head[:-3]
        for key, value in node.items():
            if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
                yield from _values({key[len(stem):]: value}, ["*"] + rest)
        return
    if head == "*":
        for value in node.values():
            yield from _values(value, rest)
        return
    if head in node:
        yield from _values(node[head], rest)


def values(resource: dict, path: str) -> list:
    return list(_values(resource, path.split(".")))


def choice(resource: dict, path: str) -> tuple[str, object] | None:
    """The (type suffix, value) of the choice element `path[x]` at top level, if present."""
    for key, value in resource.items():
        if key.startswith(path) and len(key) > len(path) and key[len(path)].isupper():
            return key[len(path):], value
    return None


# --- tokens -------------------------------------------------------------------
# A coded value is stored as several strings so one array lookup answers each
# R4 token form: "S|C" (system|code, also "|C" when there is no system),
# "*|C" (code in any system) and "S|" (any code in system S).

def _token_strings(system: str | None, code: str | None) -> list[str]:
    if not code:
        return [f"{system}|"] if system else []
    out = [f"{system or ''}|{code}", f"*|{code}"]
    if system:
        out.append(f"{system}|")
    return out


def _tokens(value: object) -> list[str]:
    if isinstance(value, str):
        return _token_strings(None, value)
    if not isinstance(value, dict):
        return []
    if "coding" in value:                               # CodeableConcept
        return [t for c in value["coding"] for t in _tokens(c)]
    if "value" in value and "code" not in value:       # Identifier
        return _token_strings(value.get("system"), value.get("value"))
    return _token_strings(value.get("system"), value.get("code"))   # Coding


def tokens_of(path: str) -> Extractor:
    """None when the element is absent; an element with no code or system (a display alone)
    is present, with no token: an empty array, so `:missing` tells the two apart."""
    def extract(resource: dict) -> list[str] | None:
        found = values(resource, path)
        return sorted({t for v in found for t in _tokens(v)}) if found else None
    return extract


def mrn_of(resource: dict) -> str | None:
    """The seed's MRN: "system|value" of the first identifier typed MR (v2-0203)."""
    for ident in resource.get("identifier", ()):
        codings = ident.get("type", {}).get("coding", ())
        if any(c.get("code") == "MR" for c in codings) and "value" in ident:
            return f"{ident.get('system', '')}|{ident['value']}"
    return None


# --- scalars ------------------------------------------------------------------

def first_of(path: str) -> Extractor:
    def extract(resource: dict) -> object:
        for v in values(resource, path):
            return v
        return None
    return extract


def date_of(path: str, end: bool = False) -> Extractor:
    """First day (or, with `end`, the day after the last day) of a date's own precision."""
    def extract(resource: dict):
        for v in values(resource, path):
            span = interval(v) if isinstance(v, str) else None
            if span:
                return span[1 if end else 0].date()
        return None
    return extract


# --- references ---------------------------------------------------------------

def local_reference(ref: str) -> str:
    """A relative reference without its version: "Patient/1/_history/2" -> "Patient/1"."""
    parts = ref.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        return "/".join(parts[:2])
    return ref


def reference_of(path: str, target_type: str | None = None) -> Extractor:
    """First Reference.reference at `path` (of `target_type` when given)."""
    def extract(resource: dict) -> str | None:
        for v in values(resource, path):
            if isinstance(v, dict) and isinstance(v.get("reference"), str):
                ref = local_reference(v["reference"])
                if target_type is None or ref.startswith(target_type + "/"):
                    return ref
        return None
    return extract


# --- time ---------------------------------------------------------------------

def _span(kind: str, value: object) -> tuple[datetime | None, datetime | None] | None:
    if isinstance(value, str):
        return interval(value)
    if not isinstance(value, dict):
        return None
    if kind == "Period":
        start = interval(value["start"]) if "start" in value else None
        end = interval(value["end"]) if "end" in value else None
        return (start[0] if start else None, end[1] if end else None)
    if kind == "Timing":
        spans = [s for e in value.get("event", ()) if (s := interval(e))]
        if spans:
            return min(s[0] for s in spans), max(s[1] for s in spans)
    return None


def period_of(path: str) -> Extractor:
    """(start, end) of a date, dateTime, instant, Period or Timing; `path` may be a choice."""
    def extract(resource: dict) -> tuple[datetime | None, datetime | None] | None:
        if path.endswith("[x]"):
            found = choice(resource, path[:-3])
            return _span(found[0], found[1]) if found else None
        value = resource.get(path)
        return _span("Period", value) if isinstance(value, dict) else _span("", value)
    return extract


def start_of(path: str) -> Extractor:
    span = period_of(path)
    return lambda r: (s[0] if (s := span(r)) else None)


def end_of(path: str) -> Extractor:
    span = period_of(path)
    return lambda r: (s[1] if (s := span(r)) else None)


def last_instant(path: str) -> Extractor:
    """The last instant of a date, Period or Timing (its exclusive end less a microsecond);
    OPEN_END for a Period that has not ended; None without a value. A range-valued
    resource is filed under the month its range ends in (why: mappings/base.py)."""
    span = period_of(path)

    def extract(resource: dict) -> datetime | None:
        s = span(resource)
        if s is None or s == (None, None):
            return None
        return OPEN_END if s[1] is None else s[1] - timedelta(microseconds=1)
    return extract
