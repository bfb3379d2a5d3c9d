"""Scope confinement for the interactions that name one resource (read, vread, history,
update, patch, delete) and for writes: a resource is within the caller's reach when a
search for its id under the caller's confinement finds it. The search compiler decides,
so a read can never show what the same caller's search would hide. Past versions are
not indexed: each is also tested on its own content (`version_filter`).

Unrestricted callers (a plain user/ or system/ grant for the type) pay nothing: the
confinement is None and no query runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Awaitable, Callable

import asyncpg
import orjson

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.interactions import units
from fhirserver.outcomes import Category, FhirError, not_found
from mappings.base import ResourceMapping
from searchparams import pipeline
from searchparams.confine import Policy
from searchparams.inmemory import decide


def policy(ctx: RequestContext, main_type: str, permissions: str) -> Policy | None:
    """The search policy of the caller: `permissions` on the searched type, read or search
    on every type a chain, _has or include reaches. None when the caller is unrestricted."""
    access = ctx.access
    if access is None or (access.confinement(main_type, permissions) is None and access.reads_everything):
        return None
    return lambda t: access.confinement(t, permissions if t == main_type else "rs")


async def within_reach(conn: asyncpg.Connection, ctx: RequestContext, m: ResourceMapping, id_: str,
                       permissions: str) -> bool:
    confinement = ctx.access.confinement(m.resource_type, permissions) if ctx.access is not None else None
    if confinement is None:
        return True
    confined = pipeline.SearchRequest(m, ctx.org_id, extra=(confinement,))
    return bool(await pipeline.visible_ids(conn, confined, [id_]))


async def visible_versions(ctx: RequestContext, m: ResourceMapping, versions: list, permission: str,
                           in_reach_now: Callable[[str], Awaitable[bool]]) -> list:
    """The stored versions (history, vread) a confined caller may see, each judged by its own
    content: a past version is not in the index, and may have been about another patient
    than the resource is now (an Observation moved from one to another), or about this one
    while the resource is now deleted or moved away. Where the content cannot tell (a delete
    marker; a constraint the in-memory test does not evaluate), the resource as it is now
    decides (`in_reach_now(id)`, the search compiler's answer)."""
    confinement = ctx.access.confinement(m.resource_type, permission) if ctx.access is not None else None
    if confinement is None:
        return versions
    now: dict[str, bool] = {}
    out = []
    for v in versions:
        verdict = decide(orjson.loads(v.resource), confinement, ctx.base_url) if v.resource else None
        if verdict is None:
            if v.id not in now:
                now[v.id] = await in_reach_now(v.id)
            verdict = now[v.id]
        if verdict:
            out.append(v)
    return out


PAST_REACH_VERSIONS = 1000   # how many versions of a resource out of reach now are looked through


async def check_history_readable(ctx: RequestContext, m: ResourceMapping, id_: str) -> None:
    """404 unless the resource is within the caller's reach now, or was in one of its latest
    versions (a patient's own Observation since deleted, or moved to another patient): the
    history then shows just those versions. A 403 would confirm that it exists."""
    if ctx.access is None or ctx.access.confinement(m.resource_type, "r") is None:
        return
    if await reach_now(ctx, m, "r")(id_):
        return
    past = await units.read(ctx, lambda conn: resources.instance_history(
        conn, m, ctx.org_id, id_, datetime.min.replace(tzinfo=timezone.utc), None, PAST_REACH_VERSIONS))
    if not await visible_versions(ctx, m, past, "r", _never):
        raise not_found(m.resource_type, id_)


async def _never(_id: str) -> bool:
    return False


def reach_now(ctx: RequestContext, m: ResourceMapping, permission: str) -> Callable[[str], Awaitable[bool]]:
    """Whether a resource as it is now is within the caller's reach (a read connection)."""
    return lambda id_: units.read(ctx, lambda conn: within_reach(conn, ctx, m, id_, permission))


async def check_readable(ctx: RequestContext, m: ResourceMapping, id_: str) -> None:
    """404 for a resource outside the caller's reach (403 would confirm that it exists)."""
    if ctx.access is None or ctx.access.confinement(m.resource_type, "r") is None:
        return
    if not await reach_now(ctx, m, "r")(id_):
        raise not_found(m.resource_type, id_)


async def check_writable(conn: asyncpg.Connection, ctx: RequestContext, m: ResourceMapping, id_: str,
                         permission: str, *, before: bool) -> None:
    """Inside the write's transaction: a resource that exists must be in reach before it is
    changed (else 404), and what was written must be in reach after (else 403, and the
    transaction rolls back): a patient token cannot write into another patient's record."""
    if ctx.access is None or ctx.access.confinement(m.resource_type, permission) is None:
        return
    if await within_reach(conn, ctx, m, id_, permission):
        return
    if before:
        if await resources.locate(conn, m, ctx.org_id, id_) is not None:
            raise not_found(m.resource_type, id_)
        return   # nothing there yet (update-as-create): the check after the write decides
    raise FhirError.of(Category.FORBIDDEN, "forbidden", "AUTH-COMPARTMENT",
                       f"The token's scopes do not allow writing this {m.resource_type} "
                       "(it would lie outside the patient compartment or the scope's constraint)")
