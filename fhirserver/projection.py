"""_summary and _elements: a subset of a resource, marked SUBSETTED (search.html#summary)."""

from __future__ import annotations

import orjson

from fhirserver.spec import schema, summary_elements

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS = ("resourceType", "id", "meta")


def _in(name: str, wanted: frozenset[str]) -> bool:
    """`name` is wanted directly or as a typed form of a wanted choice ("deceasedBoolean")."""
    if name in wanted:
        return True
    return any(w.endswith("[x]") and name.startswith(w[:-3]) and name[len(w) - 3:len(w) - 2].isupper()
               for w in wanted)


def project(text: str, summary: str | None, elements: tuple[str, ...]) -> object:
    """The stored JSON as it is (a Fragment) or the subset asked for, tagged SUBSETTED."""
    if not elements and summary not in ("true", "text", "data"):
        return orjson.Fragment(text)
    resource = orjson.loads(text)
    kind = resource["resourceType"]
    required = frozenset(schema()["definitions"][kind].get("required", ()))
    if summary == "data":
        kept = {k: v for k, v in resource.items() if k != "text"}
    elif summary == "true":
        wanted = summary_elements().get(kind, frozenset())
        kept = {k: v for k, v in resource.items() if k in ALWAYS or _in(k, wanted)}
    else:
        wanted = frozenset(elements) if elements else frozenset({"text"})
        kept = {k: v for k, v in resource.items() if k in ALWAYS or k in wanted or k in required}
    meta = dict(kept.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept
