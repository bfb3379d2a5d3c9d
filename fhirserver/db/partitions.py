"""Month partitions on demand within a clinical window, and a per-tenant overflow partition.

Before a write transaction starts, the write path calls `ensure` for the month its row
belongs to. A process-local set remembers months known to exist, so the common case costs
nothing; a miss calls fhir_ensure_month_partition() in its own short transaction (DDL must not
sit inside the write transaction holding locks). Months ahead of today are created for every
tenant by a background task of the server (`keep_months_ahead`) and by `fhirserver partitions`.

No request creates unbounded DDL: `ensure` creates a month only when the clinical time lies in
the window [Jan 1 of `earliest_year`, the month of now + `years_ahead` years]. A row outside it
(an integrator's record of 1850, a typo'd 4321, an ongoing range filed at the end of time,
ids.PART_TS_MAX) lands in its tenant's DEFAULT partition of the table, `{table}_o{org}_default`
(migration 0006), and so do its side rows. Such rows are accepted rather than refused with an
OperationOutcome: historical and mistyped dates are real clinical data, and refusing them
would lose what a sender cannot fix; nothing accepted is lost, and an operator can still give
them months (`fhirserver partitions`, or fhir_ensure_month_partition()).
Reads stay correct by construction: PostgreSQL reads the default partition for any range no
month partition covers (a read by id probes its id's month, a search its bounds, a month walk
its windows, which cover all of time). Creating a month moves its rows out of the default
first (in fhir_ensure_month_partition, as the window moves forward).
The cost: a statement whose part_ts bounds PostgreSQL cannot confine to existing months (no
bounds, open ends, gaps between months) also scans the tenant's default partition, through
its indexes; and creating a month locks the default (ACCESS EXCLUSIVE) and scans it, so it
should stay small: dates outside the window are outliers. A write into the default that waited
for that lock while its month was made fails with a partition-constraint error (a new
transaction would route it to the month).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import asyncpg

from fhirserver.db import idempotency
from fhirserver.ids import month_index, month_start
from mappings import MAPPINGS, SUPPORT_TABLES
from mappings.base import ResourceMapping

log = logging.getLogger(__name__)


def in_window(part_ts: datetime, earliest_year: int = 1900, years_ahead: int = 2,
              now: datetime | None = None) -> bool:
    """Whether the month of `part_ts` lies in the clinical window: from January of
    `earliest_year` to the month `years_ahead` years after the month of `now`, both included."""
    now = now or datetime.now(timezone.utc)
    first = month_index(datetime(earliest_year, 1, 1, tzinfo=timezone.utc))
    return first <= month_index(part_ts) <= month_index(now) + 12 * years_ahead


class PartitionCache:
    """`earliest_year`, `years_ahead`: the clinical window within which `ensure` creates months."""

    def __init__(self, *, earliest_year: int = 1900, years_ahead: int = 2) -> None:
        self._known: set[tuple[str, int, int]] = set()
        self.earliest_year, self.years_ahead = earliest_year, years_ahead

    async def ensure(self, pool: asyncpg.Pool, mapping: ResourceMapping, org_id: int,
                     part_ts: datetime) -> None:
        """Create the month partition of `part_ts` if it is missing and in the window; outside
        the window do nothing (the row goes to the tenant's default partition)."""
        key = (mapping.table, org_id, month_index(part_ts))
        if key in self._known or not in_window(part_ts, self.earliest_year, self.years_ahead):
            return
        async with pool.acquire() as conn:
            await ensure_month(conn, mapping.table, org_id, month_start(key[2]))
        self._known.add(key)


async def create_tenant_partitions(conn: asyncpg.Connection, org_id: int, months_ahead: int) -> None:
    """The tenant's partitions of every table, and month partitions up to `months_ahead`."""
    await create_org_partitions(conn, org_id)
    await create_months_ahead(conn, org_id, months_ahead)


async def create_org_partitions(conn: asyncpg.Connection, org_id: int) -> None:
    """The tenant's own partition of every table, with its default (overflow) partition where
    the table splits by month (month partitions come separately)."""
    for m in MAPPINGS.values():
        if m.storage:   # a view over a shared table: SUPPORT_TABLES has that
            continue
        await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", m.table, org_id,
                           m.time_partitioned)
        await conn.execute("SELECT fhir_create_org_partition($1, $2, false)", m.history_table, org_id)
    for table, by_month in SUPPORT_TABLES.items():
        # A table a later migration adds gets its existing tenants' partitions from that
        # migration; a database not yet migrated so far has no such table to partition.
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", table, org_id, by_month)
    timed = {m.table for m in MAPPINGS.values() if m.time_partitioned}
    for parent, side in await conn.fetch("SELECT parent, side FROM fhir_side_tables ORDER BY side"):
        await conn.execute("SELECT fhir_create_org_partition($1, $2, $3)", side, org_id, parent in timed)


async def keep_months_ahead(pool: asyncpg.Pool, months_ahead: int, every_seconds: float = 6 * 3600) -> None:
    """Background task of the server: month partitions for every tenant stay `months_ahead`
    ahead of today, so the month turning over never waits for on-demand DDL; and the
    Idempotency-Keys older than their window go."""
    while True:
        try:
            async with pool.acquire() as conn:
                for org_id in [r[0] for r in await conn.fetch("SELECT org_id FROM tenants")]:
                    await create_months_ahead(conn, org_id, months_ahead)
                await idempotency.expire(conn)
        except (asyncpg.PostgresError, OSError) as exc:   # the next round tries again
            log.warning("could not create partitions ahead: %s", exc)
        await asyncio.sleep(every_seconds)


async def create_months_ahead(conn: asyncpg.Connection, org_id: int, months_ahead: int) -> None:
    """Month partitions of every month-partitioned table from this month to `months_ahead` on."""
    now = month_index(datetime.now(timezone.utc))
    await create_months(conn, org_id, now, now + months_ahead)


LOCK_TIMEOUT = "200ms"
LOCK_ATTEMPTS = 50


async def ensure_month(conn: asyncpg.Connection, table: str, org_id: int, month: datetime) -> None:
    """fhir_ensure_month_partition with a short lock timeout, tried again until it gets its
    locks. Making a month locks the default partition of the table and then of each side
    table, while a search may hold a side table's and wait for the table's: a deadlock in
    which PostgreSQL could cancel the search. Waiting briefly and giving way makes the DDL
    the one that yields (searches hold their locks for one statement)."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await conn.fetchval("SELECT fhir_ensure_month_partition($1, $2, $3)", table, org_id, month)
            return
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
            if attempt == LOCK_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.02 * (attempt + 1))


async def create_months(conn: asyncpg.Connection, org_id: int, first: int, last: int) -> None:
    """Month partitions of every month-partitioned table for the month indexes `first` to
    `last` (ids.month_index), whatever the window: the operator's path. Rows of those months
    waiting in the tenant's default partitions move into them."""
    for m in MAPPINGS.values():
        if m.time_partitioned:
            for i in range(first, last + 1):
                await ensure_month(conn, m.table, org_id, month_start(i))


async def overflow_rows(conn: asyncpg.Connection, org_id: int) -> dict[str, int]:
    """Rows in the tenant's default (overflow) partition of each month-partitioned resource
    table, where there are any (counting scans them: they are meant to stay small)."""
    out = {}
    for m in MAPPINGS.values():
        name = f"{m.table}_o{org_id}_default"
        if m.time_partitioned and await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            if n := await conn.fetchval(f'SELECT count(*) FROM "{name}"'):
                out[m.table] = n
    return out
