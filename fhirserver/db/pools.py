"""The one place that picks a database connection.

Every caller names its `Route`: writes and reads that must see the newest data
take PRIMARY; plain reads and searches take READ, which the replica issue will
send to read replicas. Nothing chooses a server implicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import asyncpg


class Route(Enum):
    PRIMARY = "primary"
    READ = "read"


@dataclass
class Database:
    primary: asyncpg.Pool
    # Tenant settings may live at session level for reads (db/tenancy.py); False behind a
    # transaction-mode pooler, where session state would leak between clients.
    session_settings: bool = True

    def pool(self, route: Route) -> asyncpg.Pool:
        # Replicas arrive with the scale-out issue; until then every route is the primary.
        return self.primary

    async def close(self) -> None:
        await self.primary.close()


async def _release(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (RESET ALL, UNLISTEN, ...: a round trip per request).
    Our transactions keep no session state: SET LOCAL only, transaction-level advisory locks."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def open_database(dsn: str, *, min_size: int = 2, max_size: int = 20) -> Database:
    from fhirserver.db.tenancy import TenantConnection  # the connection class lives with tenancy
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_release,
                                     connection_class=TenantConnection,
                                     server_settings={"application_name": "fhirserver", "jit": "off"})
    return Database(primary=pool)
