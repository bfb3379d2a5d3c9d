"""THE route table: (method, path shape) -> interaction, and the dispatcher that applies it.

Paths are relative to a tenant base `/{slug}`; how a path finds its route, and who may
run it: fhirserver/routing.py. Every error leaves here as an OperationOutcome.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qsl

import asyncpg
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response

from fhirserver import metrics
from fhirserver.auditing import Trail
from fhirserver.auth.access import Access
from fhirserver.context import RequestContext, Services
from fhirserver.db.pools import CONNECTION_ERRORS, PoolExhausted, format_lsn, parse_lsn
from fhirserver.headers import DEFAULT_PREFER, RequestHeaders, parse_prefer, response_type
from fhirserver.interactions import (
    bulk_import,
    bundle,
    capabilities,
    create,
    delete,
    everything,
    history,
    patch,
    read,
    search,
    system_search,
    update,
    validate,
)
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.responses import error_response
from fhirserver.routing import ADMIN, PUBLIC, RouteDef, RouteTable, authorize

log = logging.getLogger(__name__)
CONSISTENCY_HEADER = "X-Consistency-Token"


ROUTES: tuple[RouteDef, ...] = (
    RouteDef("GET", ("metadata",), "capabilities", capabilities.capabilities, "system", None),
    RouteDef("GET", (".well-known", "smart-configuration"), None, capabilities.smart_configuration, "system", None),
    RouteDef("POST", (), "transaction", bundle.process, "system", ""),   # and batch; entries are checked each
    RouteDef("GET", (), "search-system", system_search.search_system, "system", ""),   # types checked each
    RouteDef("POST", ("_search",), "search-system", system_search.search_system_post, "system", ""),
    RouteDef("POST", ("$import",), None, bulk_import.bulk_import, "system", ADMIN),
    RouteDef("GET", ("_history",), "history-system", history.system_history, "system", ""),   # types checked each
    RouteDef("GET", ("{type}", "_history"), "history-type", history.type_history, "type", "s"),
    RouteDef("POST", ("{type}", "_search"), "search-type", search.search_post, "type", "s"),
    RouteDef("GET", ("{type}", "{id}", "_history", "{vid}"), "vread", read.vread, "instance", "r"),
    RouteDef("GET", ("{type}", "{id}", "_history"), "history-instance", history.instance_history, "instance", "r"),
    RouteDef("GET", ("{type}", "{id}", "$everything"), None, everything.everything, "instance", "r"),
    RouteDef("POST", ("{type}", "{id}", "$validate"), None, validate.validate_instance, "instance", "u"),
    RouteDef("POST", ("{type}", "$validate"), None, validate.validate_type, "type", "c"),
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
TABLE = RouteTable(ROUTES)


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


def _busy(code: str, text: str) -> Response:
    return error_response(FhirError(Category.UNAVAILABLE, [Issue("transient", text, code)], {"Retry-After": "1"}))


async def dispatch(request: Request) -> Response:
    """Admission first: a worker that already works on `max_inflight` requests answers 503 at
    once, so that overload sheds load instead of queueing without limit (and latency)."""
    services: Services = request.app.state.services
    if services.inflight >= services.settings.max_inflight:
        metrics.observe("none", "", 503, 0.0)
        return _busy("SERVER-BUSY", "The server is at capacity; retry shortly")
    services.inflight += 1
    try:
        return await _dispatch(request, services)
    finally:
        services.inflight -= 1


async def _dispatch(request: Request, services: Services) -> Response:
    started = time.perf_counter()
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
        route, args = TABLE.resolve(method, segments[1:])
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
        await services.db.lost(services.db.primary, exc)   # reconnect afresh once it is back
        response = _busy("DB-UNAVAILABLE", "The database is not reachable; retry shortly")
    except PoolExhausted as exc:
        log.warning("overloaded: %s", exc)
        response = _busy("DB-BUSY", "Every database connection is in use; retry shortly")
    except (asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientResourcesError) as exc:
        # a read-only database (a standby promoted late, an operator's switch) or one out of
        # disk or memory: the write did not happen (its transaction rolled back); reads go on
        log.error("database refuses writes: %s: %s", type(exc).__name__, exc)
        response = _busy("DB-READ-ONLY" if isinstance(exc, asyncpg.ReadOnlySQLTransactionError) else "DB-FULL",
                         "The database cannot take writes now; nothing was changed; retry later")
    except asyncpg.QueryCanceledError:
        response = error_response(FhirError(Category.UNAVAILABLE, [Issue(
            "timeout", f"The request ran longer than {services.settings.statement_timeout_s:g} s and was "
            "stopped; narrow the search (fewer matches, a date range) or retry later", "DB-TIMEOUT")]))
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
