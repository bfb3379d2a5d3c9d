"""From query items to `ast.Search`, with R4's escaping, prefixes, modifiers and handling rules.

Unknown or unsupported parameters: with `strict` handling they are a 400; with
`lenient` they are dropped and left out of `applied`, so the Bundle's self link
shows exactly what was searched (search.html#errors). A value that cannot be read
(a date that is no date) is a 400 either way: ignoring it would widen the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhirserver.outcomes import Category, FhirError, Issue
from mappings import MAPPINGS
from searchparams import ast, catalog
from searchparams.catalog import Declined, Param
from searchparams.kinds.base import Reading, Refused

MAX_COUNT = 1000
DEFAULT_COUNT = 50
# Keys starting "_" that are filters (common parameters, _has), not result parameters.
FILTER_PREFIXES = ("_has:", "_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_content", "_text",
                   "_query")


def _lookup(resource_type: str, code: str) -> Param:
    entry = catalog.catalog(resource_type).get(code)
    if entry is None:
        raise Refused("SP-UNKNOWN", f"Unknown search parameter '{code}' for {resource_type}")
    if isinstance(entry, Declined):
        raise Refused("SP-UNSUPPORTED", f"Search parameter '{code}' of {resource_type} is not supported: "
                      f"{entry.reason}")
    return entry


def _chain_targets(p: Param, target_type: str | None) -> list[str]:
    types = [t for t in p.targets if t in MAPPINGS and target_type in (None, t)]
    if not types:
        raise Refused("SP-CHAIN-TARGET", f"'{p.code}' cannot be chained to "
                      f"{target_type or 'a resource type this server stores'}")
    return types


def parse_filter(resource_type: str, key: str, raw: str, base: str = "") -> ast.Filter:
    """One filter parameter (`code[:modifier][.chain]` or `_has:...`) with its raw value."""
    if key.startswith("_has:"):
        parts = key.split(":", 3)
        if len(parts) != 4 or parts[1] not in MAPPINGS:
            raise Refused("SP-HAS", f"'{key}' is not _has:Type:reference:parameter over a stored type")
        ref = _lookup(parts[1], parts[2])
        if ref.type != "reference" or resource_type not in ref.targets:
            raise Refused("SP-HAS", f"{parts[1]}.{parts[2]} does not refer to {resource_type}")
        return ast.Has(parts[1], parts[2], parse_filter(parts[1], parts[3], raw, base))
    head, dot, rest = key.partition(".")
    code, _, modifier = head.partition(":")
    p = _lookup(resource_type, code)
    if dot:
        if p.type != "reference":
            raise Refused("SP-CHAIN", f"Only reference parameters can be chained, not '{code}'")
        chains = [ast.Chain(code, t, parse_filter(t, rest, raw, base)) for t in _chain_targets(p, modifier or None)
                  if _can_chain(t, rest)]
        if not chains:
            raise Refused("SP-CHAIN", f"No target of '{code}' has a parameter '{rest.split('.')[0]}'")
        return chains[0] if len(chains) == 1 else ast.AnyOf(tuple(chains))
    if modifier:
        p.kind.accept(p, modifier)
        if catalog.column_only(resource_type, code) and modifier not in catalog.COLUMN_MODIFIERS:
            raise Refused("SP-MODIFIER", f"Modifier ':{modifier}' is not supported for '{code}' of {resource_type}: "
                          "it is answered from a column that keeps codes only")
    clause = p.kind.clause(p, modifier or None, raw, Reading(base, catalog.hierarchy))
    if catalog.column_only(resource_type, code) and p.type == "token" and \
            any(isinstance(v, ast.Token) and v.system == "*" for v in clause.values):
        # Its column writes "*|code" for "this code in any system" (mappings/extract.py).
        raise ValueError(f"'{code}' of {resource_type} cannot search the system '*'")
    return clause


def _can_chain(resource_type: str, rest: str) -> bool:
    code = re.split(r"[.:]", rest, maxsplit=1)[0]
    return code.startswith("_has") or code in catalog.supported(resource_type)


@dataclass
class _Result:
    count: int = DEFAULT_COUNT
    sort: list[ast.SortKey] = field(default_factory=list)
    includes: list[ast.Include] = field(default_factory=list)
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: str = "none"
    cursor: str | None = None


def _result_param(resource_type: str, key: str, raw: str, r: _Result) -> bool:
    """Apply a result parameter; False when it is not one we know."""
    name, _, modifier = key.partition(":")
    if key == "_count":
        if not raw.isdigit():
            raise ValueError("_count must be a non-negative integer")
        r.count = min(int(raw), MAX_COUNT)
    elif key == "_sort":
        for item in raw.split(","):
            code = item.lstrip("-")
            _sortable(resource_type, code)
            r.sort.append(ast.SortKey(code, item.startswith("-")))
    elif name in ("_include", "_revinclude") and modifier in ("", "iterate"):
        r.includes.extend(_include(resource_type, raw, name == "_revinclude", modifier == "iterate"))
    elif key == "_summary" and raw in ("true", "text", "data", "count", "false"):
        r.summary = None if raw == "false" else raw
    elif key == "_elements":
        r.elements = tuple(e.strip() for e in raw.split(",") if e.strip())
    elif key == "_total" and raw in ("none", "estimate", "accurate"):
        r.total = raw
    elif key == "_cursor":
        r.cursor = raw
    elif key in ("_format", "_pretty", "_explain"):
        pass
    else:
        return False
    return True


def _sortable(resource_type: str, code: str) -> None:
    p = _lookup(resource_type, code)
    if p.kind.sort_columns is None:
        raise Refused("SP-SORT", f"Cannot sort by {p.type} parameter '{code}'")


def _include(resource_type: str, raw: str, reverse: bool, iterate: bool) -> list[ast.Include]:
    """`Source:parameter[:Target]`; `*` for the parameter is every reference parameter of
    Source (to Target, if named) that can lead to a stored type, and `_include=*` alone is
    `{searched type}:*` (search.html#include)."""
    if raw == "*" and not reverse:
        raw = f"{resource_type}:*"
    parts = raw.split(":")
    if len(parts) not in (2, 3) or parts[0] not in MAPPINGS:
        raise Refused("SP-INCLUDE", f"'{raw}' must be SourceType:parameter[:TargetType] over stored types")
    target = parts[2] if len(parts) == 3 else None
    if parts[1] == "*":
        return [ast.Include(parts[0], code, target, iterate, reverse) for code, p in catalog.supported(parts[0]).items()
                if p.type == "reference" and any(t in MAPPINGS and target in (None, t) for t in p.targets)]
    p = _lookup(parts[0], parts[1])
    if p.type != "reference":
        raise Refused("SP-INCLUDE", f"'{parts[1]}' of {parts[0]} is not a reference parameter")
    if target is not None and target not in p.targets:
        raise ValueError(f"'{target}' is not a target of {parts[0]}:{parts[1]}")
    return [ast.Include(parts[0], parts[1], target, iterate, reverse)]


def parse(resource_type: str, items: list[tuple[str, str]], strict: bool, base: str = "") -> ast.Search:
    """`base`: this tenant's absolute FHIR base; references written with it mean the relative form."""
    filters, applied, issues = [], [], []
    r = _Result()
    for key, raw in items:
        if "\x00" in key or "\x00" in raw:   # no text in PostgreSQL (or in FHIR) holds a NUL
            raise FhirError.of(Category.INCORRECT, "invalid", "SP-BAD-VALUE",
                               f"A search parameter or value contains a NUL character ({key[:40]!r})")
        try:
            if key.startswith("_") and not key.startswith(FILTER_PREFIXES):
                if not _result_param(resource_type, key, raw, r):
                    raise Refused("SP-UNKNOWN", f"Unknown search parameter '{key}'")
            elif raw == "":
                continue   # an empty value is ignored (search.html#errors)
            else:
                filters.append(parse_filter(resource_type, key, raw, base))
        except Refused as exc:
            issues.append(Issue("not-supported", str(exc), exc.msg))
            continue
        except ValueError as exc:
            raise FhirError.of(Category.INCORRECT, "invalid", "SP-BAD-VALUE",
                               f"Invalid value for '{key}': {exc}") from None
        if key not in ("_cursor", "_format", "_pretty", "_explain"):
            applied.append((key, raw))
    if issues and strict:
        raise FhirError(Category.INCORRECT, issues)
    if r.count == 0:   # search.html#count: "treated the same as _summary=count"
        r.summary = "count"
    return ast.Search(resource_type, tuple(filters), r.count, tuple(r.sort), tuple(r.includes), r.summary,
                      r.elements, r.total, r.cursor, tuple(applied))
