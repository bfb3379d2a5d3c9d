"""The official R4 SearchParameter definitions, loaded once from the packaged spec data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhirserver import spec

COMMON_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True, slots=True)
class SearchParamDef:
    code: str
    type: str                     # number | date | string | token | reference | composite | quantity | uri | special
    url: str
    expression: str
    targets: tuple[str, ...]      # for reference parameters
    modifiers: tuple[str, ...]
    comparators: tuple[str, ...]
    components: tuple[dict, ...] = ()    # composite parts: {"definition": url, "expression": relative}


@cache
def _by_type() -> dict[str, dict[str, SearchParamDef]]:
    out: dict[str, dict[str, SearchParamDef]] = {}
    for p in spec.search_parameters():
        d = SearchParamDef(p["code"], p["type"], p["url"], _rooted(p.get("expression", ""), p["base"]),
                           tuple(p.get("target", ())), tuple(p.get("modifier", ())),
                           tuple(p.get("comparator", ())), tuple(p.get("component", ())))
        for base in p["base"]:
            out.setdefault(base, {})[d.code] = d
    return out


def _rooted(expression: str, bases: list[str]) -> str:
    """R4 writes one expression without its root: InsurancePlan `name` is "name | alias".
    A single-base expression whose terms start at an element gets the base prepended."""
    if len(bases) != 1 or not expression:
        return expression
    terms = [t.strip() for t in expression.split("|")]
    if not all(t[:1].islower() for t in terms):
        return expression
    return " | ".join(f"{bases[0]}.{t}" for t in terms)


def params_for(resource_type: str) -> dict[str, SearchParamDef]:
    """Every parameter R4 defines for `resource_type`, the common ones (_id, ...) included."""
    found: dict[str, SearchParamDef] = {}
    for base in (*COMMON_BASES, resource_type):
        found.update(_by_type().get(base, {}))
    return found
