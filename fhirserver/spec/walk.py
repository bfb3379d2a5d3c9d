"""One schema-driven pass over a resource for the rules the JSON schema cannot state.

It reports, with FHIRPath-style locations:
- a choice element given in more than one typed form (`valueString` and `valueQuantity`);
- empty objects and arrays, which FHIR JSON forbids (json.html: "no empty elements");
- every Reference.reference, so the write path can check and index them.
Contained resources are walked with their own type; their locations say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhirserver.outcomes import Issue
from fhirserver.spec.model import RESOURCE_LIST, definitions


@dataclass(slots=True)
class Inspection:
    references: list[tuple[str, str]] = field(default_factory=list)   # (location, reference)
    issues: list[Issue] = field(default_factory=list)
    contained: list[tuple[str, dict]] = field(default_factory=list)   # (location, resource)


def inspect(resource: dict) -> Inspection:
    """Walk `resource` (already known to be an object with a valid resourceType)."""
    out = Inspection()
    _visit_object(resource, resource["resourceType"], resource["resourceType"], out, definitions())
    return out


def _visit_object(obj: dict, def_name: str, path: str, out: Inspection, defs: dict) -> None:
    d = defs[def_name]
    if def_name == "Reference":
        ref = obj.get("reference")
        if isinstance(ref, str):
            out.references.append((path + ".reference", ref))
    seen_choices: dict[str, str] = {}
    for key, value in obj.items():
        base = d.choices.get(key)
        if base is not None:
            if base in seen_choices:
                out.issues.append(Issue("structure", f"{path}.{base}[x] is given as both "
                                        f"{seen_choices[base]} and {key}; a choice takes one form",
                                        "RES-CHOICE", (f"{path}.{key}",)))
            seen_choices[base] = key
        child = d.children.get(key)
        if child is None:
            continue  # unknown keys are the schema's to report; primitives have no children
        if isinstance(value, list):
            if not value:
                out.issues.append(Issue("structure", f"{path}.{key} is an empty array",
                                        "RES-EMPTY", (f"{path}.{key}",)))
            for i, item in enumerate(value):
                _visit_value(item, child, f"{path}.{key}[{i}]", out, defs)
        else:
            _visit_value(value, child, f"{path}.{key}", out, defs)


# datatypes.html#string: no character below U+0020 but tab, line feed and carriage return
# (and no text in PostgreSQL can hold a NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _visit_value(value: object, def_name: str, path: str, out: Inspection, defs: dict) -> None:
    if isinstance(value, str):
        if _CONTROL.search(value):
            out.issues.append(Issue("value", f"{path} contains a control character, which FHIR strings "
                                    "must not hold", "RES-VALUE", (path,)))
        return
    if not isinstance(value, dict):
        return
    if not value:
        out.issues.append(Issue("structure", f"{path} is an empty object", "RES-EMPTY", (path,)))
        return
    if def_name == RESOURCE_LIST:
        out.contained.append((path, value))
        kind = value.get("resourceType")
        if isinstance(kind, str) and kind in defs:
            _visit_object(value, kind, path, out, defs)
        return
    if not defs[def_name].is_primitive:
        _visit_object(value, def_name, path, out, defs)
