"""Where an interaction's statements run: its own transaction, or the Bundle's.

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

from fhirserver.db.pools import Route
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
    async with tenant_transaction(ctx.services.db, Route.PRIMARY, ctx.org_id) as conn:
        yield conn


@asynccontextmanager
async def reading(ctx) -> AsyncIterator[asyncpg.Connection]:
    """Inside a Bundle transaction, reads see its own writes; otherwise the read route."""
    if ctx.unit is not None:
        yield ctx.unit.conn
        return
    async with tenant_read(ctx.services.db, Route.READ, ctx.org_id) as conn:
        yield conn


async def run(ctx, attempt: Callable[[], Awaitable[T]]) -> T:
    return await attempt() if ctx.unit is not None else await retrying(attempt)
