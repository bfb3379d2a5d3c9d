"""read and vread (http.html#read, #vread), with conditional read (If-None-Match, If-Modified-Since)."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.headers import parse_etag, parse_http_date
from fhirserver.interactions import guard, units
from fhirserver.interactions.replies import resource_reply
from fhirserver.outcomes import invalid, not_found
from fhirserver.projection import project
from fhirserver.responses import json_bytes, version_headers
from fhirserver.validation import check_id
from mappings.base import ResourceMapping


def _not_modified(ctx: RequestContext, version: int, last_updated) -> bool:
    if_none_match = ctx.headers.get("if-none-match")
    if if_none_match:
        return parse_etag(if_none_match, "If-None-Match") == version
    since = parse_http_date(ctx.headers.get("if-modified-since"))
    return since is not None and last_updated.replace(microsecond=0) <= since


async def _cached(ctx: RequestContext, m: ResourceMapping, id_: str, version: int | None):
    """The cache first, then the database (filling the cache). Not inside a transaction
    Bundle: its reads see uncommitted versions, which must never reach the cache."""
    cache = ctx.services.cache
    use_cache = ctx.unit is None and cache is not None and cache.enabled
    epoch = None
    if use_cache:
        stored, epoch = await cache.read(ctx.org_id, m.resource_type, id_, version)
        if stored is not None:
            return stored
    if version is None:
        stored = await units.read(ctx, lambda conn: resources.read(conn, m, ctx.org_id, id_))
    else:
        stored = await units.read(ctx, lambda conn: resources.vread(conn, m, ctx.org_id, id_, version))
    if use_cache:
        await cache.fill(epoch, ctx.org_id, m.resource_type, stored, current=version is None)
    return stored


async def read(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    await guard.check_readable(ctx, m, id_)
    stored = await _cached(ctx, m, id_, None)
    ctx.effects.saw(m.resource_type, id_, stored.resource)
    if _not_modified(ctx, stored.version_id, stored.last_updated):
        return Response(status_code=304, headers=version_headers(stored.version_id, stored.last_updated))
    summary, elements = ctx.param("_summary"), ctx.param("_elements")
    if summary in ("true", "text", "data") or elements:
        subset = project(stored.resource, summary, tuple(e.strip() for e in (elements or "").split(",") if e))
        stored = replace(stored, resource=json_bytes(subset).decode())
    return resource_reply(ctx, m.resource_type, stored)


async def vread(ctx: RequestContext, m: ResourceMapping, id_: str, vid: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    if not vid.isdigit() or len(vid) > 9:
        raise invalid(f"'{vid}' is not a version of this server (versions are 1, 2, 3, ...)", "RES-BAD-VERSION")
    stored = await _cached(ctx, m, id_, int(vid))
    if not await guard.visible_versions(ctx, m, [stored], "r", guard.reach_now(ctx, m, "r")):
        raise not_found(m.resource_type, id_)   # a version outside the caller's reach is not confirmed
    ctx.effects.saw(m.resource_type, id_, stored.resource)
    return resource_reply(ctx, m.resource_type, stored)
