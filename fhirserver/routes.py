"""THE route table: (method, path shape) -> interaction, and the dispatcher that applies it.

Paths are relative to a tenant base `/{slug}`. A path that matches a shape under
another method is 405 with an Allow header; an unknown shape or resource type is
404. Every error leaves here as an OperationOutcome.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response

from fhirserver import metrics, spec
from fhirserver.auditing import Trail
from fhirserver.auth.access import Access, Principal
from fhirserver.context import RequestContext, Services
from fhirserver.db.pools import CONNECTION_ERRORS, format_lsn, parse_lsn
from fhirserver.headers import DEFAULT_PREFER, RequestHeaders, parse_prefer, response_type
from fhirserver.interactions import (
    bulk_import,
    bundle,
    capabilities,
    create,
    delete,
    history,
    patch,
    read,
    search,
    update,
)
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.responses import fhir, outcome_bytes
from mappings import MAPPINGS

log = logging.getLogger(__name__)
CONSISTENCY_HEADER = "X-Consistency-Token"
Handler = Callable[..., Awaitable[Response]]
ADMIN = "admin"
PUBLIC = Access(Principal(anonymous=True), ())   # for the public routes: no grants at all


@dataclass(frozen=True, slots=True)
class RouteDef:
    method: str
    shape: tuple[str, ...]      # literal segments, "{type}", "{id}", "{vid}"
    interaction: str | None     # CapabilityStatement code; None where a flag says it (conditional-*)
    handler: Handler
    level: str                  # "type", "instance" or "system"
    permission: str | None      # SMART letter the type needs, ADMIN, "" (checked inside) or None (public)


ROUTES: tuple[RouteDef, ...] = (
    RouteDef("GET", ("metadata",), "capabilities", capabilities.capabilities, "system", None),
    RouteDef("GET", (".well-known", "smart-configuration"), None, capabilities.smart_configuration, "system", None),
    RouteDef("POST", (), "transaction", bundle.process, "system", ""),   # and batch; entries are checked each
    RouteDef("POST", ("$import",), None, bulk_import.bulk_import, "system", ADMIN),
    RouteDef("GET", ("{type}", "_history"), "history-type", history.type_history, "type", "s"),
    RouteDef("POST", ("{type}", "_search"), "search-type", search.search_post, "type", "s"),
    RouteDef("GET", ("{type}", "{id}", "_history", "{vid}"), "vread", read.vread, "instance", "r"),
    RouteDef("GET", ("{type}", "{id}", "_history"), "history-instance", history.instance_history, "instance", "r"),
    RouteDef("GET", ("{type}", "{id}", "{compartment-type}"), None, search.search_compartment, "compartment", "s"),
    RouteDef("GET", ("{type}", "{id}"), "read", read.read, "instance", "r"),
    RouteDef("PUT", ("{type}", "{id}"), "update", update.update, "instance", "u"),
    RouteDef("PATCH", ("{type}", "{id}"), "patch", patch.patch, "instance", "u"),
    RouteDef("DELETE", ("{type}", "{id}"), "delete", delete.delete, "instance", "d"),
    RouteDef("GET", ("{type}",), "search-type", search.search_type, "type", "s"),
    RouteDef("POST", ("{type}",), "create", create.create, "type", "c"),
    RouteDef("PUT", ("{type}",), None, update.conditional_update, "type", "u"),
    RouteDef("DELETE", ("{type}",), None, delete.conditional_delete, "type", "d"),
)
# Types whose resources are a record of what happened: no API client may change them.
APPEND_ONLY = frozenset({"AuditEvent"})


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


def implemented_interactions() -> tuple[list[str], list[str]]:
    """(type-level, instance-level) interaction codes, in CapabilityStatement vocabulary."""
    def codes(level: str) -> list[str]:
        return sorted({r.interaction for r in ROUTES if r.level == level and r.interaction})
    return codes("type"), codes("instance")


def system_interactions() -> list[str]:
    """System-level codes; the one Bundle route serves both transaction and batch."""
    found = {r.interaction for r in ROUTES if r.level == "system" and r.permission is not None and r.interaction}
    return sorted(found | ({"batch"} if "transaction" in found else set()))


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


# Routes by path length, most literal segments first: "metadata" outranks "{type}".
_BY_LENGTH: dict[int, list[RouteDef]] = {}
for _r in sorted(ROUTES, key=_literals, reverse=True):
    _BY_LENGTH.setdefault(len(_r.shape), []).append(_r)


def resolve(method: str, rest: list[str]) -> tuple[RouteDef, list]:
    """The route and its arguments (resource types as mappings) for a path below a tenant base."""
    route, args = _resolve(method, rest)
    if route.shape and route.shape[0] == "{type}":
        args[0] = _mapping(args[0])
    return route, args


# Every segment of a path is one of three kinds to _match: a literal of some route (equal only
# to itself), reserved (starts with _ or $, never an argument) or an argument. So the route a
# (method, kinds) pair resolves to is always the same: resolutions are remembered by it. Only
# successes are kept, and those have a route's length, so the memo is bounded.
_ROUTE_LITERALS = frozenset(p for r in ROUTES for p in r.shape if not p.startswith("{"))
_RESOLVED: dict[tuple[str, ...], tuple[RouteDef, tuple[int, ...]]] = {}


def _kind(segment: str) -> str:
    if segment in _ROUTE_LITERALS:
        return segment
    return "_" if segment.startswith(("_", "$")) else ""


def _resolve(method: str, rest: list[str]) -> tuple[RouteDef, list[str]]:
    key = (method, *map(_kind, rest))
    hit = _RESOLVED.get(key)
    if hit is not None:
        return hit[0], [rest[i] for i in hit[1]]
    candidates = [(r, args) for r in _BY_LENGTH.get(len(rest), ()) if (args := _match(r.shape, rest)) is not None]
    if not candidates:
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-NO-ROUTE",
                           f"No FHIR interaction at /{'/'.join(rest)}")
    literal = _literals(candidates[0][0])
    candidates = [(r, a) for r, a in candidates if _literals(r) == literal]
    for r, args in candidates:
        if r.method == method:
            _RESOLVED[key] = (r, tuple(i for i, part in enumerate(r.shape) if part.startswith("{")))
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
    if type_name in spec.resource_types():
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-TYPE-UNSUPPORTED",
                           f"This server does not store {type_name} resources yet; it stores "
                           + ", ".join(sorted(MAPPINGS)))
    raise FhirError.of(Category.NOT_FOUND, "not-supported", "HTTP-TYPE-UNKNOWN",
                       f"'{type_name}' is not an R4 resource type")


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    too_big = FhirError.of(Category.TOO_LARGE, "too-long", "HTTP-TOO-LARGE",
                           f"The request body exceeds the limit of {limit} bytes")
    if length and length.isdigit() and int(length) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


# Characters that Starlette's URL (request.url) escapes or that URL splitting drops; a path
# holding one, or starting with //, takes the slow way so that the path we route is the same.
_URL_REWRITES = re.compile(r"[?#\\\t\r\n]|^//")


def _path(request: Request) -> str:
    """request.url.path, without building and splitting the URL on every request."""
    path = request.scope["path"]
    return request.url.path if _URL_REWRITES.search(path) else path


# The scheme://host of a request depends on the scheme, Host header and server address alone:
# computed once by Starlette's rules (which validate the Host header) and remembered. Host is
# client text, so the memo is bounded.
_ROOTS: dict[tuple, str] = {}


def _root(request: Request) -> str:
    scope = request.scope
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")
    key = (scope.get("scheme", "http"), host, tuple(server) if server is not None else None)
    root = _ROOTS.get(key)
    if root is None:
        url = URL(scope=scope)
        root = f"{url.scheme}://{url.netloc}"
        if len(_ROOTS) >= 1024:
            _ROOTS.clear()
        _ROOTS[key] = root
    return root


def _base_url(services: Services, request: Request, slug: str) -> str:
    root = services.settings.public_base_url or _root(request)
    return f"{root.rstrip('/')}/{slug}"


async def _context(services: Services, request: Request, slug: str, method: str, access: Access) -> RequestContext:
    query = request.scope.get("query_string")   # parsed as Starlette's QueryParams parses it
    params = tuple(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else ()
    fmt = next((v for k, v in params if k == "_format"), None)
    headers = RequestHeaders(scope=request.scope)
    media = response_type(fmt, headers.get("accept"))
    tenant = await services.tenants.get(slug)
    if tenant is None:
        raise FhirError.of(Category.NOT_FOUND, "not-found", "TENANT-UNKNOWN", f"No organisation '{slug}' here")
    if not tenant.active:
        raise FhirError.of(Category.FORBIDDEN, "forbidden", "TENANT-INACTIVE",
                           f"Organisation '{slug}' is {tenant.status}")
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        body = await _read_body(request, services.settings.max_body_bytes)
    prefer = headers.get("prefer")
    return RequestContext(
        services=services, tenant=tenant, base_url=_base_url(services, request, slug), method=method,
        params=params, headers=headers, prefer=parse_prefer(prefer) if prefer else DEFAULT_PREFER,
        media_type=media, pretty=any(k == "_pretty" and v == "true" for k, v in params), body=body,
        consistency=_consistency(headers.get(CONSISTENCY_HEADER)), access=access)


def _consistency(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        return parse_lsn(token)
    except ValueError:
        raise FhirError.of(Category.INCORRECT, "value", "HTTP-CONSISTENCY-TOKEN",
                           f"{CONSISTENCY_HEADER} {token[:40]!r} is not a token this server issued "
                           "(send back the value of a write response's header unchanged)") from None


async def _after(ctx: RequestContext, response: Response | None) -> None:
    """Once the handler's transactions are committed: the consistency token, and the cache
    told about every version written (before the client can read again)."""
    effects = ctx.effects
    if effects.lsn is not None and response is not None:
        response.headers[CONSISTENCY_HEADER] = format_lsn(effects.lsn)
    if effects.written:
        await ctx.services.cache.written(ctx.org_id, effects.written)


def error_response(err: FhirError, media_type: str = "application/fhir+json") -> Response:
    return fhir(outcome_bytes(err.issues), err.status, media_type=media_type, headers=err.headers or None)


async def dispatch(request: Request) -> Response:
    started = time.perf_counter()
    services: Services = request.app.state.services
    method = "GET" if request.method == "HEAD" else request.method
    segments = [s for s in _path(request).split("/") if s]
    route, args, trail = None, [], None
    try:
        if not segments:
            raise FhirError.of(Category.NOT_FOUND, "not-found", "HTTP-NO-TENANT",
                               f"FHIR bases are per organisation: /{services.settings.default_tenant}/metadata")
        if services.limiter.client is not None:
            client = request.scope.get("client")
            await services.limiter.check(client[0] if client else "unknown")
        route, args = resolve(method, segments[1:])
        base_url = _base_url(services, request, segments[0])
        if route.permission is None:   # public: the CapabilityStatement and SMART discovery
            access = PUBLIC
        else:
            trail = Trail(services, request, segments[0], base_url, route, args)
            access = trail.access = await services.gate.access(request.scope, base_url, segments[0])
            trail.check_ready()
        ctx = await _context(services, request, segments[0], method, access)
        if trail is not None:
            trail.ctx = ctx
        authorize(access, route, args)
        try:
            response = await route.handler(ctx, *args)
        except BaseException:
            await _after(ctx, None)   # what committed before the failure is still announced to the cache
            raise
        await _after(ctx, response)
    except FhirError as err:
        response = error_response(err)
    except CONNECTION_ERRORS as exc:
        log.warning("database unavailable: %s", exc)
        await services.db.lost(services.db.primary)   # reconnect afresh once it is back
        response = error_response(FhirError(Category.UNAVAILABLE, [Issue(
            "transient", "The database is not reachable; retry shortly", "DB-UNAVAILABLE")],
            {"Retry-After": "1"}))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        response = error_response(FhirError.of(Category.FAULT, "exception", "SERVER-FAULT",
                                               "Internal server error; the request was not completed"))
    if trail is not None:
        response = await trail.record(response)
    interaction = (route.interaction or route.handler.__name__) if route else "none"
    resource_type = args[0].resource_type if route and route.shape[:1] == ("{type}",) else ""
    metrics.observe(interaction, resource_type, response.status_code, time.perf_counter() - started)
    return response
