"""history, instance, type and system level (http.html#history): newest first, _since, _count,
paging. A confined caller (a patient token) sees the history of what it may search now."""

from __future__ import annotations

from datetime import datetime, timezone

from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.fhirtime import interval
from fhirserver.interactions import guard, units
from fhirserver.outcomes import Category, FhirError, invalid
from fhirserver.responses import fhir, json_bytes
from fhirserver.validation import check_id
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast, pipeline
from searchparams.cursor import encode_token, history_after, system_history_after, version_below

DEFAULT_COUNT, MAX_COUNT = 50, 1000
MAX_CONFINED = 10_000   # a confined caller's type history covers at most this many resources
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def _options(ctx: RequestContext) -> tuple[datetime, int, list[tuple[str, str]]]:
    since, count, kept = _EPOCH, DEFAULT_COUNT, []
    for key, value in ctx.params:
        if key == "_since":
            span = interval(value) if "T" in value else None
            if span is None:
                raise invalid(f"_since must be an instant such as 2024-01-01T00:00:00Z, not {value!r}",
                              "HIST-SINCE")
            since = span[0]
        elif key == "_count":
            if not value.isdigit():
                raise invalid("_count must be a non-negative integer", "HIST-COUNT")
            count = min(int(value), MAX_COUNT)
        else:
            continue
        kept.append((key, value))
    return since, count, kept


def _reply(ctx: RequestContext, bundle: dict) -> Response:
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def instance_history(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    await guard.check_history_readable(ctx, m, id_)
    since, count, kept = _options(ctx)
    cursor = ctx.param("_cursor")
    below = version_below(cursor) if cursor else None
    versions = await units.read(ctx, lambda conn: resources.instance_history(conn, m, ctx.org_id, id_, since,
                                                                              below, count + 1))
    url = f"{ctx.base_url}/{m.resource_type}/{id_}/_history"
    links = [{"relation": "self", "url": bundles.link(url, kept + ([("_cursor", cursor)] if cursor else []))}]
    if len(versions) > count:
        versions = versions[:count]
        nxt = kept + [("_cursor", encode_token(versions[-1].version_id))]
        links.append({"relation": "next", "url": bundles.link(url, nxt)})
    versions = await guard.visible_versions(ctx, m, versions, "r", guard.reach_now(ctx, m, "r"))
    for v in versions:
        ctx.effects.saw(m.resource_type, v.id, v.resource or "")
    return _reply(ctx, bundles.history(ctx.base_url, m.resource_type, versions, links))


async def _within_reach(conn, ctx: RequestContext, m: ResourceMapping) -> list[str] | None:
    """The ids a confined caller may search now (None: every resource of the type)."""
    confinement = ctx.access.confinement(m.resource_type, "s") if ctx.access is not None else None
    if confinement is None:
        return None
    search = ast.Search(m.resource_type, (confinement,), MAX_CONFINED + 1)
    only = await pipeline.matching_ids(conn, pipeline.SearchRequest(m, ctx.org_id, search=search), MAX_CONFINED + 1)
    if len(only) > MAX_CONFINED:
        raise FhirError.of(Category.FORBIDDEN, "too-costly", "AUTH-HISTORY-CONFINED",
                           f"More than {MAX_CONFINED} {m.resource_type} resources are within this "
                           "token's reach: read their history one resource at a time")
    return only


async def type_history(ctx: RequestContext, m: ResourceMapping) -> Response:
    since, count, kept = _options(ctx)
    cursor = ctx.param("_cursor")
    after = history_after(cursor) if cursor else None

    async def run(conn):
        only = await _within_reach(conn, ctx, m)
        return await resources.type_history(conn, m, ctx.org_id, since, after, count + 1, only)
    versions = await units.read(ctx, run)
    url = f"{ctx.base_url}/{m.resource_type}/_history"
    links = [{"relation": "self", "url": bundles.link(url, kept + ([("_cursor", cursor)] if cursor else []))}]
    if len(versions) > count:
        versions = versions[:count]
        last = versions[-1]
        token = encode_token([last.last_updated.isoformat(), last.id, last.version_id])
        links.append({"relation": "next", "url": bundles.link(url, kept + [("_cursor", token)])})
    versions = await guard.visible_versions(ctx, m, versions, "s", _listed)   # (a page may hold fewer)
    for v in versions:
        ctx.effects.saw(m.resource_type, v.id, v.resource or "")
    return _reply(ctx, bundles.history(ctx.base_url, m.resource_type, versions, links))


async def _listed(_id: str) -> bool:
    """A type history lists only resources within reach now (`only` above)."""
    return True


# Above every id (ids are [A-Za-z0-9.-]): a type history key that lets through all of a moment's rows.
_ABOVE_IDS = "~"


def _type_key(after: tuple[datetime, str, str, int] | None, type_name: str) -> tuple[datetime, str, int] | None:
    """A system history page continues below (lastUpdated, type, id, version), types descending
    within a moment: a type's own key is the cursor's; an earlier type (later in the order)
    takes all of the cursor's moment, a later one none of it."""
    if after is None:
        return None
    at, cursor_type, id_, version = after
    if type_name == cursor_type:
        return at, id_, version
    return (at, _ABOVE_IDS, 0) if type_name < cursor_type else (at, "", 0)


async def system_history(ctx: RequestContext) -> Response:
    """Every type's history merged, newest first: each type's next page, then the newest
    `_count` of them all. Only the types the caller may search, and within each what its
    token reaches now."""
    since, count, kept = _options(ctx)
    cursor = ctx.param("_cursor")
    after = system_history_after(cursor) if cursor else None
    types = [m for t, m in sorted(MAPPINGS.items(), reverse=True) if ctx.access is None or ctx.access.allows(t, "s")]
    if not types:
        raise FhirError.of(Category.FORBIDDEN, "forbidden", "AUTH-SCOPE", "The token's scopes allow no search")

    async def run(conn):
        found, shared = [], []
        for m in types:
            only = await _within_reach(conn, ctx, m)
            if m.storage and only is None:   # read below, with every other such type at once
                shared.append(m.resource_type)
                continue
            key = _type_key(after, m.resource_type)
            found += [(m, v) for v in await resources.type_history(conn, m, ctx.org_id, since, key, count + 1, only)]
        if shared:
            found += [(MAPPINGS[t], v) for t, v in
                      await resources.shared_history(conn, shared, ctx.org_id, since, after, count + 1)]
        found.sort(key=lambda mv: (mv[1].last_updated, mv[0].resource_type, mv[1].id, mv[1].version_id), reverse=True)
        return found[:count + 1]
    versions = await units.read(ctx, run)
    url = f"{ctx.base_url}/_history"
    links = [{"relation": "self", "url": bundles.link(url, kept + ([("_cursor", cursor)] if cursor else []))}]
    if len(versions) > count:
        versions = versions[:count]
        m, last = versions[-1]
        token = encode_token([last.last_updated.isoformat(), m.resource_type, last.id, last.version_id])
        links.append({"relation": "next", "url": bundles.link(url, kept + [("_cursor", token)])})
    visible = set()
    for m in types:
        mine = [v for t, v in versions if t is m]
        visible |= {(m.resource_type, v.id, v.version_id) for v in await guard.visible_versions(ctx, m, mine, "s",
                                                                                                 _listed)}
    shown = [(m, v) for m, v in versions if (m.resource_type, v.id, v.version_id) in visible]   # page order kept
    for m, v in shown:
        ctx.effects.saw(m.resource_type, v.id, v.resource or "")
    return _reply(ctx, bundles.typed_history(ctx.base_url, [(m.resource_type, v) for m, v in shown], links))
