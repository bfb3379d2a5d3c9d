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
        d = SearchParamDef(p["code"], p["type"], p["url"], p.get("expression", ""),
                           tuple(p.get("target", ())), tuple(p.get("modifier", ())),
                           tuple(p.get("comparator", ())), tuple(p.get("component", ())))
        for base in p["base"]:
            out.setdefault(base, {})[d.code] = d
    return out


def params_for(resource_type: str) -> dict[str, SearchParamDef]:
    """Every parameter R4 defines for `resource_type`, the common ones (_id, ...) included."""
    found: dict[str, SearchParamDef] = {}
    for base in (*COMMON_BASES, resource_type):
        found.update(_by_type().get(base, {}))
    return found
