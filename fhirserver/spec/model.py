"""A navigable model of the R4 element tree, derived from the official JSON schema.

The JSON schema says which properties an element has and what type each one is,
but not two rules every FHIR server must apply: a choice element `value[x]`
takes at most one of its typed forms, and which elements are References. Both
are derived here from the schema itself (choice forms share one description and
differ only by a type-name suffix), so nothing is retyped by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhirserver import spec

RESOURCE_LIST = "ResourceList"


@dataclass(frozen=True, slots=True)
class Definition:
    """One schema definition: a resource, a complex type, a backbone element or a primitive."""

    name: str
    children: dict[str, str]          # property -> definition name of its value (or of its items)
    arrays: frozenset[str]            # properties whose JSON form is an array
    choices: dict[str, str]           # typed form -> choice base, e.g. effectivePeriod -> effective

    @property
    def is_primitive(self) -> bool:
        return not self.children


def _target(prop: dict) -> str | None:
    """The definition a property's value has; inline enums are codes."""
    ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
    if ref:
        return ref.rsplit("/", 1)[-1]
    if "enum" in prop or "enum" in prop.get("items", {}):
        return "code"
    return None


def _choice_forms(name: str, props: dict, type_names: frozenset[str]) -> dict[str, str]:
    """Group properties `base + TypeName` that share a description: those are one choice."""
    by_description: dict[tuple[str, str], list[str]] = {}
    for prop_name, prop in props.items():
        if prop_name.startswith("_"):
            continue
        if prop.get("type") == "array":   # a choice is 0..1 (DeviceRequest reasonCode/reasonReference are not one)
            continue
        for i in range(1, len(prop_name)):
            suffix = prop_name[i:]
            if prop_name[i].isupper() and (suffix in type_names or suffix[0].lower() + suffix[1:] in type_names):
                key = (prop_name[:i], prop.get("description", ""))
                by_description.setdefault(key, []).append(prop_name)
                break
    return {form: base for (base, _), forms in by_description.items() if len(forms) > 1 for form in forms}


@cache
def definitions() -> dict[str, Definition]:
    raw = spec.schema()["definitions"]
    type_names = frozenset(raw)
    result: dict[str, Definition] = {}
    for name, body in raw.items():
        props = body.get("properties", {})
        children = {p: t for p, v in props.items() if (t := _target(v))}
        arrays = frozenset(p for p, v in props.items() if v.get("type") == "array")
        result[name] = Definition(name, children, arrays, _choice_forms(name, props, type_names))
    return result


def definition(name: str) -> Definition:
    return definitions()[name]
