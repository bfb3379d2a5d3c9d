"""What a server claims in its CapabilityStatement, asked the way checks need it.

Each `requires_*` helper returns a claim predicate: given the Claims it answers None when
the server claims the feature, or the reason it does not (reported as "not claimed").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

ClaimTest = Callable[["Claims"], str | None]


@dataclass(frozen=True)
class Claims:
    statement: dict

    def _rest(self) -> dict:
        rest = self.statement.get("rest") or [{}]
        return next((r for r in rest if r.get("mode") == "server"), rest[0])

    def resource(self, resource_type: str) -> dict | None:
        return next((r for r in self._rest().get("resource", []) if r.get("type") == resource_type), None)

    def interactions(self, resource_type: str) -> set[str]:
        entry = self.resource(resource_type) or {}
        return {i.get("code") for i in entry.get("interaction", [])}

    def system_interactions(self) -> set[str]:
        return {i.get("code") for i in self._rest().get("interaction", [])}

    def search_param(self, resource_type: str, name: str) -> dict | None:
        entry = self.resource(resource_type) or {}
        return next((p for p in entry.get("searchParam", []) if p.get("name") == name), None)

    def documents_modifier(self, resource_type: str, name: str, modifier: str) -> bool:
        """Modifiers have no place of their own in an R4 CapabilityStatement: a modifier counts
        as claimed only where the parameter's documentation names it (`:exact`)."""
        doc = (self.search_param(resource_type, name) or {}).get("documentation") or ""
        return re.search(re.escape(modifier) + r"(?![\w-])", doc) is not None

    def documents_chaining(self, resource_type: str, name: str) -> bool:
        entry = self.resource(resource_type) or {}
        doc = (self.search_param(resource_type, name) or {}).get("documentation") or ""
        return bool(entry.get("searchInclude")) or re.search(r"\bchain", doc, re.IGNORECASE) is not None


def all_of(*tests: ClaimTest) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        return next((reason for t in tests if (reason := t(claims))), None)
    return test


def requires_interactions(resource_type: str, *codes: str) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        missing = [c for c in codes if c not in claims.interactions(resource_type)]
        return f"{resource_type} interaction {', '.join(missing)} not claimed" if missing else None
    return test


def requires_system(*codes: str) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        missing = [c for c in codes if c not in claims.system_interactions()]
        return f"system interaction {', '.join(missing)} not claimed" if missing else None
    return test


def requires_flag(resource_type: str, flag: str, accepted: tuple = (True,)) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        value = (claims.resource(resource_type) or {}).get(flag)
        return None if value in accepted else f"{resource_type}.{flag} is {value!r}"
    return test


def requires_param(resource_type: str, name: str, kind: str, modifier: str | None = None) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        param = claims.search_param(resource_type, name)
        if param is None:
            return f"{resource_type}?{name} not claimed"
        if param.get("type") != kind:
            return f"{resource_type}?{name} is claimed as {param.get('type')}, not {kind}"
        if modifier and not claims.documents_modifier(resource_type, name, modifier):
            return f"{resource_type}?{name}{modifier} not named in the parameter's documentation"
        return None
    return test


def requires_chain(resource_type: str, name: str) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        if claims.documents_chaining(resource_type, name):
            return None
        return f"{resource_type} claims no searchInclude and {name}'s documentation does not mention chaining"
    return test


def requires_format(fmt: str) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        formats = claims.statement.get("format") or []
        return None if any(fmt in f for f in formats) else f"format {fmt} not claimed"
    return test


def requires_include(resource_type: str, value: str, rev: bool = False) -> ClaimTest:
    """`_include=Observation:subject` is claimed when the type's searchInclude lists it or
    `Observation:*`; `_revinclude` (rev) likewise in the target type's searchRevInclude."""
    field_name = "searchRevInclude" if rev else "searchInclude"

    def test(claims: Claims) -> str | None:
        listed = (claims.resource(resource_type) or {}).get(field_name) or []
        source = value.split(":", 1)[0]
        if value in listed or f"{source}:*" in listed:
            return None
        return f"{resource_type}.{field_name} does not list {value}"
    return test


def requires_has(source_type: str, name: str) -> ClaimTest:
    """`_has:[source]:[name]:...` has no place in a statement either: claimed where the
    reference parameter's documentation mentions `_has`."""
    def test(claims: Claims) -> str | None:
        doc = (claims.search_param(source_type, name) or {}).get("documentation") or ""
        return None if "_has" in doc else f"{source_type}?{name}'s documentation does not mention _has"
    return test


def requires_patch_format(mime: str) -> ClaimTest:
    def test(claims: Claims) -> str | None:
        formats = claims.statement.get("patchFormat") or []
        return None if mime in formats else f"patchFormat {mime} not claimed"
    return test
