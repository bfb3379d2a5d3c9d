"""From query items to `ast.Search`, with R4's escaping, prefixes and handling rules.

Unknown or unsupported parameters: with `strict` handling they are a 400; with
`lenient` they are dropped and left out of `applied`, so the Bundle's self link
shows exactly what was searched (search.html#errors).
"""

from __future__ import annotations

import re

from fhirserver.outcomes import Category, FhirError, Issue
from mappings.bindings import DateRange, Ref, RefArray, binding
from mappings.extract import normalize_text
from mappings.fhirtime import interval
from searchparams import ast
from searchparams.registry import lookup

CONTROL = {"_count", "_summary", "_total", "_format", "_pretty", "_cursor"}
MAX_COUNT = 1000
DEFAULT_COUNT = 50
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_SPLIT_COMMA = re.compile(r"(?<!\\),")
_SPLIT_BAR = re.compile(r"(?<!\\)\|")


def _unescape(value: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", value)


def _problem(msg: str, text: str, code: str = "not-supported") -> Issue:
    return Issue(code, text, msg)


def _token(raw: str) -> ast.Token:
    parts = _SPLIT_BAR.split(raw, maxsplit=1)
    if len(parts) == 1:
        return ast.Token(None, _unescape(raw))
    system, code = (_unescape(p) for p in parts)
    return ast.Token(system, code or None)


def _date(raw: str) -> ast.Date:
    prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
    text = raw[2:] if raw[:2] in _PREFIXES else raw
    span = interval(text)
    if span is None:
        raise ValueError(f"'{text}' is not a FHIR date")
    return ast.Date(prefix, *span)


def _reference(raw: str, code: str, resource_type: str) -> ast.Reference:
    targets = lookup(resource_type, code).targets
    parts = raw.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] in targets:
        return ast.Reference((parts[-2],), parts[-1])
    if len(parts) == 1:
        return ast.Reference(targets, raw)
    raise ValueError(f"'{raw}' is not a reference this parameter accepts ({', '.join(targets)})")


def _values(resource_type: str, code: str, raw: str) -> tuple[ast.Value, ...]:
    kind = binding(resource_type, code)
    out = []
    for piece in _SPLIT_COMMA.split(raw):
        if isinstance(kind, DateRange):
            out.append(_date(piece))
        elif isinstance(kind, (Ref, RefArray)):
            out.append(_reference(_unescape(piece), code, resource_type))
        elif lookup(resource_type, code).type == "token":
            out.append(_token(piece))
        else:
            out.append(ast.Text(normalize_text(_unescape(piece))))
    return tuple(out)


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("_count must be a non-negative integer")
    return min(int(raw), MAX_COUNT)


def parse(resource_type: str, items: list[tuple[str, str]], strict: bool) -> ast.Search:
    clauses, applied, issues = [], [], []
    count, summary_count, total, after = DEFAULT_COUNT, False, "none", None
    for key, raw in items:
        code, _, modifier = key.partition(":")
        try:
            if key == "_count":
                count = _count(raw)
            elif key == "_summary" and raw in ("count", "false"):
                summary_count = raw == "count"
            elif key == "_total" and raw in ("none", "estimate", "accurate"):
                total = "none" if raw == "none" else "accurate"
            elif key == "_cursor":
                after = raw
                continue
            elif key in ("_format", "_pretty"):
                continue
            elif key in CONTROL or lookup(resource_type, code) is None:
                issues.append(_problem("SP-UNKNOWN", f"Unknown search parameter '{key}' for {resource_type}"))
                continue
            elif modifier or binding(resource_type, code) is None:
                issues.append(_problem("SP-UNSUPPORTED", f"Search parameter '{key}' is not supported yet"))
                continue
            elif raw == "":
                continue   # an empty value is ignored (search.html#errors)
            else:
                clauses.append(ast.Clause(code, None, _values(resource_type, code, raw)))
        except ValueError as exc:
            raise FhirError.of(Category.INCORRECT, "invalid", "SP-BAD-VALUE",
                               f"Invalid value for '{key}': {exc}") from None
        applied.append((key, raw))
    if issues and strict:
        raise FhirError(Category.INCORRECT, issues)
    return ast.Search(resource_type, tuple(clauses), count, summary_count, total, after, tuple(applied))
