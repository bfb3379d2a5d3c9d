"""The only code that knows how a tenant is bound to a database connection.

Every tenant statement runs as the role `fhir_app` with the tenant's org_id in the
setting `fhir.org_id`; the RLS policies of migration 0001 check every row against it,
so a query that forgot its `org_id = $1` would still see only its own tenant.

Writes: `tenant_transaction` sets both LOCAL to a transaction (BEGIN and the settings
in one round trip), which stays correct behind PgBouncer in transaction mode.
Reads: `tenant_read` runs in autocommit with the settings at session level, remembered
per connection, so a read costs one round trip instead of three (BEGIN, query, COMMIT)
once a pooled connection has served that tenant. Behind a transaction-mode pooler
(`Database.session_settings = False`) reads fall back to a read-only transaction.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

import asyncpg

from fhirserver.db.connection import TenantConnection
from fhirserver.db.pools import Database, Route, Server

APP_ROLE = "fhir_app"


def _begin(org_id: int, readonly: bool) -> str:
    # org_id is an int from the tenants table, never request text; formatting it
    # lets BEGIN, SET ROLE and the setting share one simple-protocol round trip.
    mode = " READ ONLY" if readonly else ""
    return f"BEGIN{mode}; SET LOCAL ROLE {APP_ROLE}; SET LOCAL fhir.org_id = '{int(org_id)}'"


@asynccontextmanager
async def generic_plans(conn: asyncpg.Connection, generic: bool) -> AsyncIterator[None]:
    """Run the statements inside on a cached generic plan instead of planning afresh (why and
    when: searchparams/plan.py), and restore the pools' custom plans after them, so no other
    statement on the pooled connection is affected. Inside a transaction (bundles, or behind a
    transaction pooler) nothing changes: a rolled-back SET would go unseen."""
    if not generic or not isinstance(conn, TenantConnection) or conn.is_in_transaction():
        yield
        return
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        yield
    finally:
        try:
            await conn.execute("SET plan_cache_mode = force_custom_plan")
        except BaseException:
            conn.terminate()   # never hand on a connection left in the other mode
            raise


class tenant_read:  # noqa: N801 - used as `async with tenant_read(...)`, like the context managers here
    """A connection for reading one tenant's rows (no explicit transaction), on `server`
    or wherever the route sends reads that need no particular WAL position.

    A class rather than an @asynccontextmanager: every read by id and every search passes
    here, and a plain __aenter__/__aexit__ pair costs a fraction of a generator's."""

    __slots__ = ("_db", "_route", "_org_id", "_server", "_conn", "_tx")

    def __init__(self, db: Database, route: Route, org_id: int, *, server: Server | None = None) -> None:
        self._db, self._route, self._org_id, self._server = db, route, org_id, server
        self._conn = self._tx = None

    async def __aenter__(self) -> asyncpg.Connection:
        db, org_id = self._db, self._org_id
        server = self._server = self._server or db.choose(self._route)
        if not db.session_settings:
            self._tx = tenant_transaction(db, self._route, org_id, readonly=True, server=server)
            return await self._tx.__aenter__()
        conn = await server.acquire()
        try:
            if conn.bound_tenant() != org_id:
                conn.bind_tenant(None)
                await conn.execute(f"SET ROLE {APP_ROLE}; SET fhir.org_id = '{int(org_id)}'")
                conn.bind_tenant(org_id)
        except BaseException:
            await server.release(conn)
            raise
        self._conn = conn
        return conn

    async def __aexit__(self, exc_type, exc, tb) -> bool | None:
        if self._tx is not None:
            return await self._tx.__aexit__(exc_type, exc, tb)
        await self._server.release(self._conn)
        return None


@asynccontextmanager
async def tenant_transaction(db: Database, route: Route, org_id: int, *, readonly: bool = False,
                             server: Server | None = None,
                             on_commit: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
                             ) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction scoped to one tenant; commits on success, then
    runs `on_commit` on the same connection (it reads the commit's WAL position)."""
    async with (server or db.choose(route)).connection(first=_begin(org_id, readonly)) as conn:
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        if on_commit is not None:
            await on_commit(conn)
