"""Token `:above`/`:below` (subsumption) and `:in`/`:not-in` (value set membership).

There is no terminology service behind this server: it knows the code systems and
value sets published with R4 4.0.1 (fhirserver/spec/terminology.json.gz: every complete
CodeSystem with its is-a hierarchy, every ValueSet's compose). A search that needs more
(SNOMED CT or LOINC hierarchies, a value set filtered on them) raises `Unknown`, which
the parser refuses like any unsupported parameter: guessing would silently drop or add
rows. Nesting and the `child` property are read as is-a, the only hierarchy meaning R4's
code systems use (153 declare it; the rest leave it unset, e.g. condition-clinical's
"recurrence" under "active").
"""

from __future__ import annotations

import re
from functools import cache

from fhirserver import spec

Concepts = frozenset[tuple[str, str]]   # (system, code)


class Unknown(LookupError):
    """Terminology this server does not have: the search cannot be answered exactly."""


def _system(url: str) -> dict:
    cs = spec.terminology()["codeSystems"].get(url)
    if cs is None:
        raise Unknown(f"code system '{url}' is not one this server knows (it has R4's own code systems, "
                      "not SNOMED CT, LOINC's hierarchy or RxNorm)")
    if cs.get("hierarchyMeaning", "is-a") != "is-a":
        raise Unknown(f"the hierarchy of '{url}' is {cs['hierarchyMeaning']}, not is-a")
    return cs


@cache
def _parents(url: str) -> dict[str, tuple[str, ...]]:
    parents: dict[str, list[str]] = {}
    for parent, children in _system(url)["children"].items():
        for child in children:
            parents.setdefault(child, []).append(parent)
    return {k: tuple(v) for k, v in parents.items()}


def _closure(start: str, step) -> frozenset[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


@cache
def _codes(url: str) -> frozenset[str]:
    return frozenset(_system(url)["codes"])


def _known(url: str, code: str) -> None:
    if code not in _codes(url):
        raise ValueError(f"'{code}' is not a code of {url}")


@cache
def below(url: str, code: str) -> frozenset[str]:
    """`code` and every code it subsumes (search.html#token: `:below`)."""
    _known(url, code)
    children = _system(url)["children"]
    return _closure(code, lambda c: children.get(c, ()))


@cache
def above(url: str, code: str) -> frozenset[str]:
    """`code` and every code that subsumes it (`:above`)."""
    _known(url, code)
    parents = _parents(url)
    return _closure(code, lambda c: parents.get(c, ()))


def _filtered(url: str, f: dict) -> frozenset[str]:
    try:
        return _filter(url, f.get("property"), f.get("op"), f.get("value", ""))
    except ValueError as exc:   # the value set's own filter names no code of its system
        raise Unknown(str(exc)) from None


def _filter(url: str, prop: str | None, op: str | None, value: str) -> frozenset[str]:
    if prop == "concept" and op == "is-a":
        return below(url, value)
    if prop == "concept" and op == "descendent-of":
        return below(url, value) - {value}
    if prop == "concept" and op == "is-not-a":
        return _codes(url) - below(url, value)
    if prop == "concept" and op == "generalizes":
        return above(url, value)
    if prop == "concept" and op in ("in", "not-in"):
        listed = frozenset(v.strip() for v in value.split(","))
        return _codes(url) & listed if op == "in" else _codes(url) - listed
    if prop == "code" and op == "regex":
        pattern = re.compile(value)
        return frozenset(c for c in _codes(url) if pattern.fullmatch(c))
    raise Unknown(f"filter '{prop} {op} {value}' on {url} is not one this server can evaluate")


def _part(part: dict, trail: tuple[str, ...]) -> Concepts:
    """One include/exclude: the system's codes (all, listed or filtered) intersected with
    every value set it names (ValueSet.compose.include)."""
    sets = [expand(canonical, trail) for canonical in part.get("valueSet", ())]
    if "system" in part:
        url = part["system"]
        if "concept" in part:
            codes = frozenset(part["concept"])   # enumerated: no need to know the system
        else:
            codes = _codes(url)
            for f in part.get("filter", ()):
                codes &= _filtered(url, f)
        sets.append(frozenset((url, c) for c in codes))
    if not sets:
        return frozenset()
    out = sets[0]
    for s in sets[1:]:
        out &= s
    return out


def expand(canonical: str, trail: tuple[str, ...] = ()) -> Concepts:
    """Every (system, code) of a value set, from its compose (include minus exclude)."""
    url = canonical.split("|", 1)[0]
    if url in trail:
        raise Unknown(f"value set '{url}' includes itself")
    return _expand(url, trail + (url,))


@cache
def _expand(url: str, trail: tuple[str, ...]) -> Concepts:
    compose = spec.terminology()["valueSets"].get(url)
    if compose is None:
        raise Unknown(f"value set '{url}' is not one this server knows (it has the value sets of R4)")
    included: set[tuple[str, str]] = set()
    for part in compose.get("include", ()):
        included |= _part(part, trail)
    for part in compose.get("exclude", ()):
        included -= _part(part, trail)
    return frozenset(included)
