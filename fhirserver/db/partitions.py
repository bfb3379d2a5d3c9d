"""Month partitions on demand, so that no write ever fails for lack of one.

Before a write transaction starts, the write path calls `ensure` for the month
its row belongs to. A process-local set remembers months known to exist, so the
common case costs nothing; a miss calls fhir_ensure_month_partition() in its own
short transaction (DDL must not sit inside the write transaction holding locks).
Months ahead of today are created for every tenant by a background task of the server
(`keep_months_ahead`) and by `fhirserver partitions`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import asyncpg

from fhirserver.ids import month_index, month_start
from mappings import MAPPINGS, SUPPORT_TABLES
from mappings.base import ResourceMapping

log = logging.getLogger(__name__)


class PartitionCache:
    def __init__(self) -> None:
        self._known: set[tuple[str, int, int]] = set()

    async def ensure(self, pool: asyncpg.Pool, mapping: ResourceMapping, org_id: int,
                     part_ts: datetime) -> None:
        key = (mapping.table, org_id, month_index(part_ts))
        if key in self._known:
            return
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT fhir_ensure_month_partition($1, $2, $3)",
                                mapping.table, org_id, month_start(key[2]))
        self._known.add(key)


async def create_tenant_partitions(conn: asyncpg.Connection, org_id: int, months_ahead: int) -> None:
    """The tenant's partitions of every table, and month partitions up to `months_ahead`."""
    await create_org_partitions(conn, org_id)
    await create_months_ahead(conn, org_id, months_ahead)


async def create_org_partitions(conn: asyncpg.Connection, org_id: int) -> None:
    """The tenant's own partition of every table (month partitions come separately)."""
    for m in MAPPINGS.values():
        await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", m.table, org_id,
                           m.time_partitioned)
        await conn.execute("SELECT fhir_create_org_partition($1, $2, false)", m.history_table, org_id)
    for table, by_month in SUPPORT_TABLES.items():
        await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", table, org_id, by_month)
    timed = {m.table for m in MAPPINGS.values() if m.time_partitioned}
    for parent, side in await conn.fetch("SELECT parent, side FROM fhir_side_tables ORDER BY side"):
        await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", side, org_id, parent in timed)


async def keep_months_ahead(pool: asyncpg.Pool, months_ahead: int, every_seconds: float = 6 * 3600) -> None:
    """Background task of the server: month partitions for every tenant stay `months_ahead`
    ahead of today, so the month turning over never waits for on-demand DDL."""
    while True:
        try:
            async with pool.acquire() as conn:
                for org_id in [r[0] for r in await conn.fetch("SELECT org_id FROM tenants")]:
                    await create_months_ahead(conn, org_id, months_ahead)
        except (asyncpg.PostgresError, OSError) as exc:   # the next round tries again
            log.warning("could not create partitions ahead: %s", exc)
        await asyncio.sleep(every_seconds)


async def create_months_ahead(conn: asyncpg.Connection, org_id: int, months_ahead: int) -> None:
    now = month_index(datetime.now(timezone.utc))
    for m in MAPPINGS.values():
        if m.time_partitioned:
            for i in range(now, now + months_ahead + 1):
                await conn.execute("SELECT fhir_ensure_month_partition($1, $2, $3)",
                                   m.table, org_id, month_start(i))
