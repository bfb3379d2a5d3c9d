"""Where an interaction's statements run: its own transaction, or the Bundle's.

Reads go to the read route (a replica when there are any) through `read`, which
honours the request's consistency token and moves to another server when a replica
fails mid-request; writes go to the primary through `writing`, which records the
commit's WAL position for the response's consistency token.

A transaction Bundle runs every entry on one connection inside one PostgreSQL
transaction (`RequestContext.unit`). Single interactions open their own (and retry a
lost race); inside a Bundle nothing is retried, since one failure must abort the whole.
Reference checks inside a Bundle wait until every entry is written (`defer`), because
an entry may refer to one that the processing order puts after it.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, TypeVar

import asyncpg

from fhirserver.db.pools import CONNECTION_ERRORS, RECOVERY_CONFLICTS, Route
from fhirserver.db.retry import retrying
from fhirserver.db.tenancy import tenant_read, tenant_transaction

T = TypeVar("T")


@dataclass
class Unit:
    """The open transaction of a transaction Bundle, and the references it must still check."""

    conn: asyncpg.Connection
    deferred: list = field(default_factory=list)
    full_urls: dict[str, str] = field(default_factory=dict)   # Bundle fullUrl -> Type/id


@asynccontextmanager
async def writing(ctx) -> AsyncIterator[asyncpg.Connection]:
    if ctx.unit is not None:
        yield ctx.unit.conn
        return
    async with tenant_transaction(ctx.services.db, Route.PRIMARY, ctx.org_id,
                                  on_commit=ctx.effects.committed) as conn:
        yield conn


async def read(ctx, work: Callable[[asyncpg.Connection], Awaitable[T]], route: Route = Route.READ) -> T:
    """`work` on a connection that sees the tenant's data at least as new as the request's
    consistency token and this request's own writes. Inside a Bundle transaction: its own
    connection. A replica failing mid-read is taken out of rotation and the read runs again
    elsewhere, so one dead replica fails no request."""
    if ctx.unit is not None:
        return await work(ctx.unit.conn)
    db = ctx.services.db
    wanted = max(ctx.consistency or 0, ctx.effects.lsn or 0) or None
    primary_failures = 0
    while True:
        server = db.choose(route) if wanted is None else await db.reader(route, wanted)
        try:
            async with tenant_read(db, route, ctx.org_id, server=server) as conn:
                return await work(conn)
        except CONNECTION_ERRORS:
            await db.lost(server)
            if server is db.primary:
                primary_failures += 1
                if primary_failures == 2:   # once for a pooled connection the restart killed
                    raise
        except RECOVERY_CONFLICTS:
            if server is db.primary:
                raise
            route = Route.PRIMARY


async def run(ctx, attempt: Callable[[], Awaitable[T]]) -> T:
    return await attempt() if ctx.unit is not None else await retrying(attempt)
