"""What a search must find, worked out on the stored resources themselves: each parameter's
values are read along the JSON's `paths` and normalised by its FHIR `type`; a query's value is
one of the probe record's values, and a record matches when one of its own values meets it as
search.html says for that kind (reference: the same target; token: the same system and code, or
code alone for a `code`; string: starts with, ignoring case; date: by the prefix, at day
precision). The group's data puts every date value inside one day, so day precision is exact
for every prefix, whichever reading of ge/le a server takes."""

from __future__ import annotations

import re

from conformance.groups.uscore.spec import Param

# Address and HumanName parts a string search reads (search.html#string), in the order a probe's
# value is taken from: the first one is what the query sends.
_STRING_PARTS = ("family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode",
                 "country", "text")


def _step(node, key: str) -> list:
    if isinstance(node, list):
        return [v for n in node for v in _step(n, key)]
    if not isinstance(node, dict):
        return []
    if key in node:
        value = node[key]
    else:   # a choice element: `effective` names effectiveDateTime, effectivePeriod...
        value = next((v for k, v in node.items() if re.fullmatch(re.escape(key) + r"[A-Z]\w*", k)), None)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _read(resource: dict, path: str) -> list:
    nodes = [resource]
    for key in path.split("."):
        nodes = _step(nodes, key)
    return nodes


def values(resource: dict, param: Param) -> list:
    """The record's values for the parameter, normalised: reference "Type/id", token (system, code),
    string, date (first day, last day)."""
    out: list = []
    for node in (n for path in param.paths for n in _read(resource, path)):
        if param.kind == "reference":
            if isinstance(node, dict) and node.get("reference"):
                out.append(node["reference"])
        elif param.kind == "token":
            if param.bare:
                out.append((None, node))
            elif isinstance(node, dict) and "coding" in node:
                out += [(c.get("system"), c.get("code")) for c in node["coding"]]
            elif isinstance(node, dict):
                out.append((node.get("system"), node.get("code", node.get("value"))))
        elif param.kind == "string":
            if isinstance(node, str):
                out.append(node)
            else:
                for part in _STRING_PARTS:
                    value = node.get(part)
                    out += value if isinstance(value, list) else [value] if value else []
        elif param.kind == "date":
            if isinstance(node, dict):   # a Period
                out.append((node["start"][:10], node.get("end", node["start"])[:10]))
            else:
                out.append((node[:10], node[:10]))
    return out


def query_value(param: Param, value, prefix: str = "") -> str:
    """How a normalised value is sent: a patient by its id (as Inferno sends it), other references
    as Type/id, tokens as system|code (a `code` or `_id` alone), dates as [prefix]YYYY-MM-DD."""
    if param.kind == "reference":
        return value.split("/")[-1] if param.name == "patient" else value
    if param.kind == "token":
        system, code = value
        return code if param.bare else f"{system or ''}|{code}"
    if param.kind == "date":
        first, last = value
        if first != last:
            raise ValueError(f"{param.name}: the group's dates lie within one day, not {first}..{last}")
        return prefix + first
    return value


def matches(param: Param, candidates: list, probe, prefix: str = "") -> bool:
    """Does a record with these values match the query made of the probe's value?"""
    for value in candidates:
        if param.kind == "string" and value.casefold().startswith(probe.casefold()):
            return True
        if param.kind == "date":
            (first, last), (day, _) = value, probe
            if first != last:
                raise ValueError(f"{param.name}: the group's dates lie within one day, not {first}..{last}")
            if {"": first == day, "eq": first == day, "gt": first > day, "ge": first >= day, "lt": first < day,
                    "le": first <= day, "ne": first != day}[prefix]:
                return True
        if param.kind in ("reference", "token") and value == probe:
            return True
    return False
