"""The FHIRPath subset of the official R4 search parameter expressions, compiled to Python.

The R4 SearchParameter definitions for our types use only: paths, union `|`,
`(path as Type)`, `.where(resolve() is Type)`, `.where(name='literal')`, and one
`exists() and ... != false` (Patient.deceased). Every write evaluates every parameter, so
they are compiled to Python closures once instead of interpreted by a general FHIRPath
engine. Evaluation is typed: every node carries its schema definition name (HumanName,
Period, Reference, ...) so the index builder knows how to read it. The search oracle
(tests/property/oracle.py) evaluates the same expressions with fhirpathpy, so a wrong
evaluation here shows up as a wrong search result there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Callable, Iterator

from fhirserver.spec.model import definitions

Node = tuple[object, str]           # (JSON value, schema definition name)
Path = Callable[[list[Node]], list[Node]]

_WHERE_RESOLVE = re.compile(r"where\(resolve\(\) is ([A-Za-z]+)\)")
_WHERE_FIELD = re.compile(r"where\(([A-Za-z]+)='([^']*)'\)")
_AS = re.compile(r"^\((.+) as ([A-Za-z]+)\)(?:\.(.+))?$")
_AS_CALL = re.compile(r"^([A-Za-z.]+)\.as\(([A-Za-z]+)\)$")   # Condition.onset.as(dateTime)


class Unsupported(ValueError):
    """An expression outside the subset: the parameter is declared unsupported."""


def _primitive_of(suffix: str) -> str:
    """Choice suffixes name types: Quantity -> Quantity, DateTime -> dateTime."""
    defs = definitions()
    if suffix in defs:
        return suffix
    lowered = suffix[0].lower() + suffix[1:]
    if lowered in defs:
        return lowered
    raise Unsupported(f"unknown type suffix {suffix}")


@cache
def _child_keys(def_name: str, name: str) -> tuple[tuple[str, str], ...]:
    """(JSON key, definition) pairs holding element `name`: the element, or every typed form of a choice."""
    d = definitions()[def_name]
    if name in d.children:
        return ((name, d.children[name]),)
    return tuple((form, _primitive_of(form[len(name):])) for form, base in d.choices.items() if base == name)


def _children(node: Node, name: str, as_type: str | None = None) -> Iterator[Node]:
    value, def_name = node
    if not isinstance(value, dict):
        return
    for key, child_def in _child_keys(def_name, name):
        child = value.get(key)
        if child is None or (as_type is not None and child_def.lower() != as_type.lower()):
            continue
        if isinstance(child, list):
            for item in child:
                if item is not None:
                    yield item, child_def
        else:
            yield child, child_def


def _is_reference_to(value: object, target: str) -> bool:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str):
        return False
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return len(parts) >= 2 and parts[-2] == target


@dataclass(frozen=True)
class _Step:
    kind: str          # "child" | "resolve" | "field" | "as"
    a: str = ""
    b: str = ""


def _steps(path: str) -> list[_Step]:
    steps = []
    for part in re.split(r"\.(?![^(]*\))", path):
        if m := _WHERE_RESOLVE.fullmatch(part):
            steps.append(_Step("resolve", m.group(1)))
        elif m := _WHERE_FIELD.fullmatch(part):
            steps.append(_Step("field", m.group(1), m.group(2)))
        elif re.fullmatch(r"[A-Za-z]+", part):
            steps.append(_Step("child", part))
        else:
            raise Unsupported(f"unsupported FHIRPath step {part!r}")
    return steps


def _run(nodes: list[Node], steps: list[_Step], as_type: str | None = None) -> list[Node]:
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if step.kind == "child":
            nodes = [c for n in nodes for c in _children(n, step.a, as_type if last else None)]
        elif step.kind == "resolve":
            nodes = [n for n in nodes if _is_reference_to(n[0], step.a)]
        elif step.kind == "field":
            nodes = [n for n in nodes if isinstance(n[0], dict) and n[0].get(step.a) == step.b]
    return nodes


def _compile_term(term: str, resource_type: str) -> Path | None:
    """One union member; None when it belongs to another resource type.
    `(path as Type).more` selects the typed form, then continues with `more`."""
    term = term.strip()
    as_type, after = None, []
    if m := _AS.fullmatch(term):
        term, as_type = m.group(1).strip(), m.group(2)
        after = _steps(m.group(3)) if m.group(3) else []
    head, _, rest = term.partition(".")
    if head not in (resource_type, "Resource", "DomainResource"):
        return None
    steps = _steps(rest) if rest else []
    if as_type is not None and (not steps or steps[-1].kind != "child"):
        raise Unsupported(f"'as' after a non-element step in {term!r}")
    return lambda nodes: _run(_run(nodes, steps, as_type), after)


def compile_expression(expression: str, resource_type: str) -> Path:
    """A function from [root node] to the nodes the expression selects for `resource_type`."""
    if " and " in expression or "exists()" in expression or "!=" in expression:
        raise Unsupported(f"boolean expression {expression!r}")
    terms = [t for t in (_compile_term(x, resource_type) for x in _split_union(expression)) if t]
    if not terms:
        raise Unsupported(f"no branch of {expression!r} applies to {resource_type}")

    def evaluate(nodes: list[Node]) -> list[Node]:
        return [n for t in terms for n in t(nodes)]
    return evaluate


def roots(expression: str, resource_type: str) -> frozenset[str] | None:
    """The JSON keys of the resource that an expression reads for `resource_type` (a choice
    element's every typed form), or None when some branch starts at the resource itself.
    Every supported step descends (none looks at a parent or a sibling), so an expression's
    value depends on these keys alone: index.py skips a parameter none of whose keys occur."""
    keys: set[str] = set()
    for term in _split_union(expression):
        if m := _AS.fullmatch(term):
            term = m.group(1).strip()
        head, _, rest = term.partition(".")
        if head not in (resource_type, "Resource", "DomainResource"):
            continue
        first = _steps(rest)[0] if rest else None
        if first is None or first.kind != "child":
            return None
        keys |= {key for key, _ in _child_keys(resource_type, first.a)}
    return frozenset(keys)


def _split_union(expression: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in expression:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [_as_operator(p.strip()) for p in parts if p.strip()]


def _as_operator(term: str) -> str:
    """`path.as(Type)`, the function form R4 uses for Condition onset-*/abatement-*, is the
    operator form `(path as Type)` with another spelling."""
    m = _AS_CALL.fullmatch(term)
    return f"({m.group(1)} as {m.group(2)})" if m else term


def terminal_types(expression: str, resource_type: str) -> frozenset[str]:
    """The definition names the expression can end on (statically, ignoring `where` filters)."""
    found: set[str] = set()
    for term in _split_union(expression):
        as_type, after = None, ""
        term = term.strip()
        if m := _AS.fullmatch(term):
            term, as_type, after = m.group(1).strip(), m.group(2), m.group(3) or ""
        head, _, rest = term.partition(".")
        if head not in (resource_type, "Resource", "DomainResource"):
            continue
        current = {resource_type}
        for step in (_steps(rest) if rest else []):
            if step.kind != "child":
                continue
            nxt = set()
            for def_name in current:
                d = definitions().get(def_name)
                if d is None:
                    continue
                if step.a in d.children:
                    nxt.add(d.children[step.a])
                nxt |= {_primitive_of(form[len(step.a):]) for form, base in d.choices.items() if base == step.a}
            current = nxt
        if as_type is not None:
            current = {t for t in current if t.lower() == as_type.lower()}
        for name in (after.split(".") if after else []):
            current = {definitions()[t].children[name] for t in current
                       if t in definitions() and name in definitions()[t].children}
        found |= current
    return frozenset(found)


def resolve_types(expression: str, resource_type: str) -> frozenset[str] | None:
    """The target types `where(resolve() is X)` allows in this type's branches; None if a branch
    has no such filter (then the parameter's declared targets apply)."""
    found: set[str] = set()
    for term in _split_union(expression):
        head = term.strip().lstrip("(").split(".", 1)[0]
        if head not in (resource_type, "Resource", "DomainResource"):
            continue
        types = _WHERE_RESOLVE.findall(term)
        if not types:
            return None
        found |= set(types)
    return frozenset(found)


def terminal_elements(expression: str, resource_type: str) -> frozenset[str]:
    """Element ids (as in StructureDefinitions: "Encounter.location.status", "Address.use") of
    the elements the expression ends on. Backbone elements extend the id; a data type restarts it."""
    found: set[str] = set()
    for term in _split_union(expression):
        term = term.strip()
        if _AS.fullmatch(term):
            continue   # typed choice forms are never bound codes
        head, _, rest = term.partition(".")
        if head not in (resource_type, "Resource", "DomainResource") or not rest:
            continue
        current = [(resource_type if head != "Resource" else "Resource", head)]
        for step in _steps(rest):
            if step.kind != "child":
                continue
            nxt = []
            for def_name, key in current:
                d = definitions().get(def_name)
                if d is None or step.a not in d.children:
                    continue
                child = d.children[step.a]
                nxt.append((child, f"{key}.{step.a}"))
            current = [(c, k if "_" in c or c == "code" or c[0].islower() else c) for c, k in nxt]
        found |= {k for _, k in current}
    return frozenset(found)
