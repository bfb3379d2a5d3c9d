"""The only async stage of search: run compiled statements on a connection the caller routed.

Nothing here builds SQL or decides what to run (searchparams/pipeline.py does, in order),
except `tenant_months`, a catalog read the planner needs."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import asyncpg
import orjson

from fhirserver.db.tenancy import generic_plans
from mappings.base import ResourceMapping
from searchparams.sqlgen.select import Compiled

MONTHS_TTL_S = 60.0
_MONTH_SUFFIX = re.compile(r"_(\d{4})m(\d{2})$")
_months: dict[tuple[str, int], tuple[float, list[datetime]]] = {}


async def tenant_months(conn: asyncpg.Connection, m: ResourceMapping, org_id: int) -> list[datetime] | None:
    """Starts of the tenant's month partitions of `m` (None if not month-partitioned), from the
    catalog at most once a minute per process. Staleness costs speed, never rows: a month
    made since is read together with its neighbour (see searchparams/plan.py)."""
    if not m.time_partitioned:
        return None
    key = (m.table, org_id)
    cached = _months.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    names = await conn.fetch("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                             "WHERE i.inhparent = to_regclass($1)", f"{m.table}_o{org_id}")
    found = sorted(datetime(int(g[1]), int(g[2]), 1, tzinfo=timezone.utc)
                   for r in names if (g := _MONTH_SUFFIX.search(r[0])))
    _months[key] = (time.monotonic() + MONTHS_TTL_S, found)
    return found


async def page_rows(conn: asyncpg.Connection, q: Compiled) -> list:
    """The rows of a page statement, on the PostgreSQL plan mode its plan chose."""
    async with generic_plans(conn, q.plan.generic):
        return await conn.fetch(q.sql, *q.params)


async def count(conn: asyncpg.Connection, q: Compiled) -> int:
    async with generic_plans(conn, q.plan.generic):
        return await conn.fetchval(q.sql, *q.params)


async def estimate(conn: asyncpg.Connection, q: Compiled) -> int:
    """PostgreSQL's row estimate of `q`: what _total=estimate asks for, at the cost of planning only."""
    plan = orjson.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + q.sql, *q.params))
    return int(plan[0]["Plan"].get("Plan Rows", 0))


async def explain(conn: asyncpg.Connection, q: Compiled) -> object:
    """PostgreSQL's plan of `q`, as JSON."""
    return orjson.loads(await conn.fetchval("EXPLAIN (FORMAT JSON, VERBOSE) " + q.sql, *q.params))


async def column(conn: asyncpg.Connection, q: Compiled) -> list:
    """The first column of every row."""
    async with generic_plans(conn, q.generic):
        return [r[0] for r in await conn.fetch(q.sql, *q.params)]


async def resources(conn: asyncpg.Connection, q: Compiled) -> list[tuple[str, str]]:
    """(id, resource JSON) of every row (or any two columns)."""
    async with generic_plans(conn, q.generic):
        return [(r[0], r[1]) for r in await conn.fetch(q.sql, *q.params)]

