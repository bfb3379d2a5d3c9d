"""SMART on FHIR resource scopes, v1 and v2 (SMART App Launch 2.0.0,
scopes-and-launch-context.html), parsed into grants.

    patient/Observation.rs?category=laboratory
    ^context ^type      ^permissions ^constraint (v2 only)

v1 `.read` means v2 `rs`, `.write` means `cud`, `.*` means `cruds`. v2 letters must come
in the order c r u d s, each once. A scope that does not parse grants nothing (it is
kept out rather than guessed: `patient/Observation.sr` is not `rs`). Non-resource
scopes (openid, fhirUser, launch, offline_access, ...) grant no data access.

What each letter allows here: c create; r read, vread and an instance's history;
u update and patch; d delete; s search (type, compartment and system level) and type
or system history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
ORDER = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(?:\?(.*))?")
ADMIN_SCOPE = "system/*.cud"   # what $import and tenant administration ask for (or v1 system/*.write)


@dataclass(frozen=True, slots=True)
class Grant:
    context: str                                 # patient | user | system
    resource_type: str                           # a type or "*"
    permissions: frozenset[str]                  # subset of c r u d s
    constraint: tuple[tuple[str, str], ...] = ()  # v2 query: every search and read must also match it

    def covers(self, resource_type: str, permission: str) -> bool:
        return permission in self.permissions and self.resource_type in ("*", resource_type)

    def __str__(self) -> str:
        letters = "".join(c for c in ORDER if c in self.permissions)
        query = "?" + "&".join(f"{k}={v}" for k, v in self.constraint) if self.constraint else ""
        return f"{self.context}/{self.resource_type}.{letters}{query}"


def _permissions(text: str) -> frozenset[str] | None:
    if text in _V1:
        return frozenset(_V1[text])
    positions = [ORDER.find(c) for c in text]
    if not text or -1 in positions or positions != sorted(set(positions)):
        return None
    return frozenset(text)


def parse_scope(scope: str) -> Grant | None:
    """The grant of one scope, or None if it is not a (well-formed) resource scope."""
    match = _SCOPE.fullmatch(scope)
    if match is None:
        return None
    context, type_, perms, query = match.groups()
    permissions = _permissions(perms)
    if permissions is None or (query is not None and perms in _V1):
        return None   # a v1 scope has no query part
    constraint = tuple(parse_qsl(query, keep_blank_values=True)) if query else ()
    if query is not None and not constraint:
        return None
    return Grant(context, type_, permissions, constraint)


def parse_scopes(text: str) -> tuple[Grant, ...]:
    """The grants of a space-separated `scope` claim, in order, unparseable ones left out."""
    return tuple(g for s in text.split() if (g := parse_scope(s)) is not None)


def is_admin(grants: tuple[Grant, ...]) -> bool:
    """system/*.cud (or v1 system/*.write): operator operations such as $import."""
    return any(g.context == "system" and g.resource_type == "*" and {"c", "u", "d"} <= g.permissions
               and not g.constraint for g in grants)
