"""The only code that knows how a tenant is bound to a database transaction.

Each tenant transaction runs as the role `fhir_app` with the tenant's org_id in
the transaction-local setting `fhir.org_id`; the RLS policies of migration 0001
check every row against it, so a query that forgot its `org_id = $1` would still
see only its own tenant. Both settings are LOCAL, which keeps them correct
behind PgBouncer in transaction mode. The three commands travel in one round trip.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import asyncpg

from fhirserver.db.pools import Database, Route

APP_ROLE = "fhir_app"


def _begin(org_id: int, readonly: bool) -> str:
    # org_id is an int from the tenants table, never request text; formatting it
    # lets BEGIN, SET ROLE and the setting share one simple-protocol round trip.
    mode = " READ ONLY" if readonly else ""
    return f"BEGIN{mode}; SET LOCAL ROLE {APP_ROLE}; SET LOCAL fhir.org_id = '{int(org_id)}'"


@asynccontextmanager
async def tenant_transaction(db: Database, route: Route, org_id: int, *,
                             readonly: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction scoped to one tenant; commits on success."""
    async with db.pool(route).acquire() as conn:
        await conn.execute(_begin(org_id, readonly))
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
