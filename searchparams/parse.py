"""From query items to `ast.Search`, with R4's escaping, prefixes, modifiers and handling rules.

Unknown or unsupported parameters: with `strict` handling they are a 400; with
`lenient` they are dropped and left out of `applied`, so the Bundle's self link
shows exactly what was searched (search.html#errors). A value that cannot be read
(a date that is no date) is a 400 either way: ignoring it would widen the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from fhirserver import spec
from fhirserver.fhirtime import interval
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.textfold import normalize_text
from mappings import MAPPINGS
from searchparams import ast, catalog, phonetic, terminology
from searchparams.catalog import Declined, Param

MAX_COUNT = 1000
DEFAULT_COUNT = 50
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def split_unescaped(raw: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split on `sep` where it is not escaped; escapes stay for `unescape` (search.html#escaping:
    `\\,` is a comma inside a value, `\\\\` a backslash, so `a\\\\,b` is two values)."""
    if "\\" not in raw:   # nothing escaped: the common case, at str.split's speed
        return raw.split(sep, maxsplit)
    parts, current, i = [], "", 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            current += raw[i:i + 2]
            i += 2
            continue
        if ch == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "missing", "of-type", "above", "below", "in", "not-in"},
    "reference": {"identifier", "missing", "above", "below"},
    "date": {"missing"}, "number": {"missing"}, "quantity": {"missing"},
    "uri": {"below", "above", "missing"},
    "composite": set(),
}


class Refused(ValueError):
    """A parameter this server cannot apply: unknown, unsupported, or a modifier it lacks."""

    def __init__(self, msg: str, text: str) -> None:
        super().__init__(text)
        self.msg = msg


def unescape(value: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", value) if "\\" in value else value


def _prefixed(raw: str) -> tuple[str, str]:
    return (raw[:2], raw[2:]) if raw[:2] in PREFIXES and len(raw) > 2 else ("eq", raw)


def _token(raw: str) -> ast.Token:
    parts = split_unescaped(raw, "|", maxsplit=1)
    if len(parts) == 1:
        return ast.Token(None, unescape(raw))
    system, code = (unescape(p) for p in parts)
    return ast.Token(system, code or None)


def _date(raw: str) -> ast.Date:
    prefix, text = _prefixed(raw)
    span = interval(text)
    if span is None:
        raise ValueError(f"'{text}' is not a FHIR date")
    return ast.Date(prefix, *span)


def _number(raw: str, system: str | None = None, code: str | None = None) -> ast.Number:
    """A number and the range its precision implies: 100 is [99.5, 100.5), 1e2 is [50, 150)."""
    prefix, text = _prefixed(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a number") from None
    if not value.is_finite():
        raise ValueError(f"'{text}' is not a number")
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)
    return ast.Number(prefix, value, value - half, value + half, system, code)


def _quantity(raw: str) -> ast.Number:
    parts = [unescape(p) for p in split_unescaped(raw, "|")]
    if len(parts) not in (1, 3):
        raise ValueError(f"'{raw}' is not number|system|code")
    if len(parts) == 1:
        return _number(parts[0])
    return _number(parts[0], parts[1] or None, parts[2] or None)


def _reference(raw: str, p: Param, target_type: str | None, base: str = "") -> ast.Reference:
    value = unescape(raw)
    if base and value.startswith(base + "/"):   # our own absolute URL: stored relative
        value = value[len(base) + 1:]
    targets = tuple(t for t in p.targets if target_type in (None, t))
    if "://" in value or value.startswith("urn:"):
        segments = value.rstrip("/").split("/")
        if len(segments) >= 2 and segments[-2] in spec.resource_types() and segments[-2] not in targets:
            return ast.Reference(())   # a URL to another type (a Group for `patient`): matches nothing
        return ast.Reference((value,))
    parts = value.rstrip("/").split("/")
    if len(parts) == 2 and parts[0] and parts[1]:
        if parts[0] not in targets:
            raise ValueError(f"'{value}' is not a reference this parameter accepts ({', '.join(targets)})")
        return ast.Reference((value,))
    if len(parts) == 1 and value:
        return ast.Reference(tuple(f"{t}/{value}" for t in targets))
    raise ValueError(f"'{value}' is not a reference")


def _missing(raw: str) -> ast.Missing:
    if raw not in ("true", "false"):
        raise ValueError(":missing takes true or false")
    return ast.Missing(raw == "true")


def _value(p: Param, raw: str, modifier: str | None, target_type: str | None, base: str = "") -> ast.Value:
    if modifier == "missing":
        return _missing(raw)
    kind = p.type
    if kind == "token" or (kind == "reference" and modifier == "identifier"):
        if modifier == "text":
            return ast.Text(normalize_text(unescape(raw)))
        if modifier == "of-type":
            parts = [unescape(x) for x in split_unescaped(raw, "|")]
            if len(parts) != 3:
                raise ValueError(":of-type takes type-system|type-code|value")
            return ast.Token(f"{parts[0]}|{parts[1]}", parts[2])
        return _token(raw)
    if kind == "string":
        return ast.Text(unescape(raw) if modifier == "exact" else normalize_text(unescape(raw)))
    if kind == "date":
        return _date(raw)
    if kind == "number":
        return _number(raw)
    if kind == "quantity":
        return _quantity(raw)
    if kind == "uri":
        return ast.Uri(unescape(raw))
    if kind == "reference":
        return _reference(raw, p, target_type, base)
    if kind == "composite":
        pieces = split_unescaped(raw, "$")
        if len(pieces) != len(p.components):
            raise ValueError(f"'{raw}' needs {len(p.components)} parts separated by $")
        return ast.Composite(tuple(_value(c, piece, None, None) for c, piece in zip(p.components, pieces)))
    raise ValueError(f"{kind} parameters are not searchable")


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
    target_type = None
    if p.type == "reference" and modifier and modifier[0].isupper():
        target_type, modifier = modifier, ""
        if target_type not in p.targets:
            raise ValueError(f"'{target_type}' is not a target of '{code}'")
    if modifier and modifier not in MODIFIERS[p.type]:
        raise Refused("SP-MODIFIER", f"Modifier ':{modifier}' is not supported for {p.type} parameter '{code}'")
    if modifier == "of-type" and code != "identifier":
        raise Refused("SP-MODIFIER", ":of-type applies to identifier parameters only")
    if code == phonetic.CODE and modifier in ("exact", "contains"):
        raise Refused("SP-MODIFIER", f"':{modifier}' does not apply to phonetic matching")
    if p.type == "token" and modifier in ("above", "below", "in", "not-in"):
        return ast.Clause(code, "not" if modifier == "not-in" else None, _concepts(raw, modifier))
    values = tuple(_value(p, piece, modifier or None, target_type, base) for piece in split_unescaped(raw, ","))
    if modifier in ("above", "below") and p.type == "reference":
        values = tuple(_in_hierarchy(v, code) for v in values)
    return ast.Clause(code, modifier or None, values)


def _in_hierarchy(v: ast.Reference, code: str) -> ast.Reference:
    """A reference value of :above/:below: local references to types that form a hierarchy."""
    kept = tuple(t for t in v.targets if "://" not in t and catalog.hierarchy(t.split("/")[0]))
    if not kept:
        raise Refused("SP-MODIFIER", f"':above' and ':below' on '{code}' need a reference to a resource type with "
                      "a hierarchy (Location, Organization, Encounter)")
    return ast.Reference(kept)


@lru_cache(maxsize=512)   # a value set's hundreds of codes are sorted into tokens once, not per request
def _concepts(raw: str, modifier: str) -> tuple[ast.Token, ...]:
    """Token :above/:below/:in/:not-in as the plain codes they stand for (searchparams/terminology.py):
    `:not-in` is then `:not` over the value set's codes, the others a list of codes."""
    found: set[tuple[str, str]] = set()
    for piece in split_unescaped(raw, ","):
        try:
            if modifier in ("in", "not-in"):
                found |= terminology.expand(unescape(piece))
                continue
            token = _token(piece)
            if not token.system or token.code is None:
                raise ValueError(f"':{modifier}' takes system|code, not '{unescape(piece)}'")
            codes = (terminology.below if modifier == "below" else terminology.above)(token.system, token.code)
            found |= {(token.system, c) for c in codes}
        except terminology.Unknown as exc:
            raise Refused("SP-TERMINOLOGY", f"':{modifier}' cannot be answered: {exc}") from None
    return tuple(ast.Token(system, code) for system, code in sorted(found))


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
        r.includes.append(_include(raw, name == "_revinclude", modifier == "iterate"))
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
    if p.type not in ("string", "token", "date", "number", "quantity", "uri", "reference"):
        raise Refused("SP-SORT", f"Cannot sort by {p.type} parameter '{code}'")


def _include(raw: str, reverse: bool, iterate: bool) -> ast.Include:
    parts = raw.split(":")
    if raw == "*" or len(parts) not in (2, 3) or parts[0] not in MAPPINGS:
        raise Refused("SP-INCLUDE", f"'{raw}' must be SourceType:parameter[:TargetType] over stored types")
    p = _lookup(parts[0], parts[1])
    if p.type != "reference":
        raise Refused("SP-INCLUDE", f"'{parts[1]}' of {parts[0]} is not a reference parameter")
    target = parts[2] if len(parts) == 3 else None
    if target is not None and target not in p.targets:
        raise ValueError(f"'{target}' is not a target of {parts[0]}:{parts[1]}")
    return ast.Include(parts[0], parts[1], target, iterate, reverse)


def parse(resource_type: str, items: list[tuple[str, str]], strict: bool, base: str = "") -> ast.Search:
    """`base`: this tenant's absolute FHIR base; references written with it mean the relative form."""
    filters, applied, issues = [], [], []
    r = _Result()
    for key, raw in items:
        if "\x00" in key or "\x00" in raw:   # no text in PostgreSQL (or in FHIR) holds a NUL
            raise FhirError.of(Category.INCORRECT, "invalid", "SP-BAD-VALUE",
                               f"A search parameter or value contains a NUL character ({key[:40]!r})")
        try:
            if key.startswith("_") and not key.startswith(("_has:", "_id", "_lastUpdated", "_tag", "_profile",
                                                            "_security", "_source", "_content", "_text",
                                                            "_query")):
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
    return ast.Search(resource_type, tuple(filters), r.count, tuple(r.sort), tuple(r.includes), r.summary,
                      r.elements, r.total, r.cursor, tuple(applied))
