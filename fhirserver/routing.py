"""How a path below a tenant base finds its interaction, and who may run it.

A `RouteTable` is built from RouteDefs (fhirserver/routes.py holds THE table and the
dispatcher). Handlers that route again (Bundle entries) or describe the routes (the
CapabilityStatement) get the table from `ctx.services.routes`, so that no module
below the table imports it. A path that matches a shape under another method is 405
with an Allow header; an unknown shape or resource type is 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from starlette.responses import Response

from fhirserver.auth.access import Access, Principal
from fhirserver.outcomes import Category, FhirError
from mappings import MAPPINGS
from mappings.generic import NOT_STORED

Handler = Callable[..., Awaitable[Response]]
ADMIN = "admin"
PUBLIC = Access(Principal(anonymous=True), ())   # for the public routes: no grants at all
# Types whose resources are a record of what happened: no API client may change them.
APPEND_ONLY = frozenset({"AuditEvent"})


@dataclass(frozen=True, slots=True)
class RouteDef:
    method: str
    shape: tuple[str, ...]      # literal segments, "{type}", "{id}", "{vid}"
    interaction: str | None     # CapabilityStatement code; None where a flag says it (conditional-*)
    handler: Handler
    level: str                  # "type", "instance" or "system"
    permission: str | None      # SMART letter the type needs, ADMIN, "" (checked inside) or None (public)


def authorize(access: Access, route: RouteDef, args: list) -> None:
    """403 unless the caller's scopes allow the route on its resource type (SMART letters;
    what each letter covers: fhirserver/auth/scopes.py). Bundle entries come here each."""
    if not route.permission:
        return
    if route.permission == ADMIN:
        access.require_admin()
        return
    type_name = args[2] if route.level == "compartment" else args[0].resource_type
    if type_name in APPEND_ONLY and route.permission in ("u", "d"):
        raise FhirError.of(Category.NOT_ALLOWED, "not-supported", "AUDIT-APPEND-ONLY",
                           f"{type_name} resources cannot be changed or deleted")
    access.require(type_name, route.permission)


def _match(shape: tuple[str, ...], rest: list[str]) -> list[str] | None:
    if len(shape) != len(rest):
        return None
    args = []
    for want, got in zip(shape, rest):
        if want.startswith("{"):
            if got.startswith("_") or got.startswith("$"):
                return None
            args.append(got)
        elif want != got:
            return None
    return args


def _literals(r: RouteDef) -> int:
    return sum(not part.startswith("{") for part in r.shape)


class RouteTable:
    """Routes by path length, most literal segments first ("metadata" outranks "{type}").

    Every segment of a path is one of three kinds to _match: a literal of some route (equal
    only to itself), reserved (starts with _ or $, never an argument) or an argument. So the
    route a (method, kinds) pair resolves to is always the same: resolutions are remembered
    by it. Only successes are kept, and those have a route's length, so the memo is bounded."""

    def __init__(self, routes: tuple[RouteDef, ...]) -> None:
        self.routes = routes
        self._by_length: dict[int, list[RouteDef]] = {}
        for r in sorted(routes, key=_literals, reverse=True):
            self._by_length.setdefault(len(r.shape), []).append(r)
        self._literals = frozenset(p for r in routes for p in r.shape if not p.startswith("{"))
        self._resolved: dict[tuple[str, ...], tuple[RouteDef, tuple[int, ...]]] = {}

    def resolve(self, method: str, rest: list[str]) -> tuple[RouteDef, list]:
        """The route and its arguments (resource types as mappings) for a path below a tenant base."""
        route, args = self._resolve(method, rest)
        if route.shape and route.shape[0] == "{type}":
            args[0] = _mapping(args[0])
        return route, args

    def interactions(self, level: str) -> list[str]:
        """The CapabilityStatement codes served at `level` ("type", "instance", "system");
        the one Bundle route serves both transaction and batch."""
        found = {r.interaction for r in self.routes
                 if r.level == level and r.interaction and (level != "system" or r.permission is not None)}
        return sorted(found | ({"batch"} if "transaction" in found else set()))

    def _kind(self, segment: str) -> str:
        if segment in self._literals:
            return segment
        return "_" if segment.startswith(("_", "$")) else ""

    def _resolve(self, method: str, rest: list[str]) -> tuple[RouteDef, list[str]]:
        key = (method, *map(self._kind, rest))
        hit = self._resolved.get(key)
        if hit is not None:
            return hit[0], [rest[i] for i in hit[1]]
        candidates = [(r, args) for r in self._by_length.get(len(rest), ())
                      if (args := _match(r.shape, rest)) is not None]
        if not candidates:
            raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-NO-ROUTE",
                               f"No FHIR interaction at /{'/'.join(rest)}")
        literal = _literals(candidates[0][0])
        candidates = [(r, a) for r, a in candidates if _literals(r) == literal]
        for r, args in candidates:
            if r.method == method:
                self._resolved[key] = (r, tuple(i for i, part in enumerate(r.shape) if part.startswith("{")))
                return r, args
        allowed = sorted({r.method for r, _ in candidates})
        err = FhirError.of(Category.NOT_ALLOWED, "not-supported", "HTTP-METHOD",
                           f"{method} is not allowed here; allowed: {', '.join(allowed)}")
        err.headers["Allow"] = ", ".join(allowed)
        raise err


def _mapping(type_name: str):
    m = MAPPINGS.get(type_name)
    if m is not None:
        return m
    if type_name in NOT_STORED:
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-TYPE-UNSUPPORTED",
                           f"This server does not store {type_name} resources: {NOT_STORED[type_name]}")
    raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-TYPE-UNKNOWN",
                       f"'{type_name}' is not an R4 resource type")
