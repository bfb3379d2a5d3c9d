"""The only async stage of search: run compiled SQL on a connection the caller routed."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone
from decimal import Decimal

import asyncpg
import orjson

from fhirserver.db.tenancy import generic_plans
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast
from searchparams.confine import Policy
from searchparams.parse import parse_filter
from searchparams.plan import PageSpec, plan_filter, plan_page
from searchparams.sqlgen import include
from searchparams.sqlgen.select import Compiled, compile_count, compile_ids, compile_page

MAX_INCLUDED = 1000
MAX_ITERATIONS = 4


async def matching_ids(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int,
                       limit: int) -> list[str]:
    return await _column(conn, compile_ids(m, search, plan_filter(m, search, org_id, limit)))


async def _column(conn: asyncpg.Connection, q: Compiled) -> list:
    return [r[0] for r in await conn.fetch(q.sql, *q.params)]


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


async def _compiled_page(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int,
                         cursor: list | None, backward: bool) -> Compiled:
    """The page statement of `page` and `explain`: the search count plus one look-ahead row."""
    decoded = tuple(decode_key(k) for k in cursor) if cursor else None
    spec = PageSpec(org_id, search.count + 1, decoded, backward, await tenant_months(conn, m, org_id))
    return compile_page(m, search, plan_page(m, search, spec))


async def page(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int,
               cursor: list | None, backward: bool = False
               ) -> tuple[list[tuple[str, str]], list | None, list | None]:
    """(id, resource) rows of one page in sort order, the cursor of the next page and that of
    the previous page (None where there is none). Backward: the page that ends just before
    `cursor`."""
    q = await _compiled_page(conn, m, search, org_id, cursor, backward)
    async with generic_plans(conn, q.plan.generic):
        rows = await conn.fetch(q.sql, *q.params)
    more = len(rows) > search.count
    rows = rows[:search.count]

    def key(row) -> list:
        return [encode_key(row[2 + i]) for i in range(q.sort_width)] + [row[0]]
    if backward:
        rows.reverse()
        after = key(rows[-1]) if rows else None
        before = key(rows[0]) if more and rows else None
    else:
        after = key(rows[-1]) if more and rows else None
        before = (key(rows[0]) if rows else cursor) if cursor else None
    return [(r[0], r[1]) for r in rows], after, before


def encode_key(value: object) -> object:
    """A sort key value as JSON that decode_key turns back into the same SQL type."""
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def decode_key(value: object) -> object:
    if isinstance(value, dict) and len(value) == 1:
        (kind, text), = value.items()
        try:
            return {"ts": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal}[kind](text)
        except (KeyError, ValueError, ArithmeticError):
            raise ValueError("not a cursor of this server") from None
    return value


async def count(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int) -> int:
    q = compile_count(m, search, plan_filter(m, search, org_id))
    async with generic_plans(conn, q.plan.generic):
        return await conn.fetchval(q.sql, *q.params)


async def estimate(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int) -> int:
    """The planner's row estimate: what _total=estimate asks for, at the cost of planning only."""
    q = compile_ids(m, search, plan_filter(m, search, org_id, 2**31 - 1))
    plan = orjson.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + q.sql, *q.params))
    return int(plan[0]["Plan"].get("Plan Rows", 0))


async def explain(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int,
                  cursor: list | None, backward: bool = False) -> tuple[str, str, tuple, object]:
    """The compiler's plan (printed), the SQL, its parameters and PostgreSQL's plan of one page."""
    q = await _compiled_page(conn, m, search, org_id, cursor, backward)
    plan = await conn.fetchval("EXPLAIN (FORMAT JSON, VERBOSE) " + q.sql, *q.params)
    return str(q.plan), q.sql, q.params, orjson.loads(plan)


async def _rows(conn: asyncpg.Connection, q: Compiled) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in await conn.fetch(q.sql, *q.params)]


async def includes(conn: asyncpg.Connection, search: ast.Search, matches: list[tuple[str, str]],
                   org_id: int, policy: Policy | None = None) -> list[tuple[str, str, str]]:
    """(type, id, resource) of _include and _revinclude targets of the page (and, with
    :iterate, of what they bring in), each once, matches excluded, at most MAX_INCLUDED.
    Under a `policy` only what it lets the caller see is included (or iterated from)."""
    seen = {(search.resource_type, id_) for id_, _ in matches}
    frontier = {search.resource_type: [id_ for id_, _ in matches]}
    out: list[tuple[str, str, str]] = []
    for round_ in range(MAX_ITERATIONS):
        found: dict[str, list[str]] = {}
        for inc in search.includes:
            if round_ > 0 and not inc.iterate:
                continue
            for type_name, id_, text in await _visible(conn, await _one_include(conn, inc, frontier, org_id),
                                                       org_id, policy):
                if (type_name, id_) not in seen and len(out) < MAX_INCLUDED:
                    seen.add((type_name, id_))
                    out.append((type_name, id_, text))
                    found.setdefault(type_name, []).append(id_)
        if not found:
            break
        frontier = found
    return out


async def visible_ids(conn: asyncpg.Connection, m: ResourceMapping, ids: list[str], confinement: ast.Filter,
                      org_id: int) -> list[str]:
    """Those of `ids` that match `confinement`: what a confined caller may see of them."""
    search = ast.Search(m.resource_type, (parse_filter(m.resource_type, "_id", ",".join(ids)), confinement),
                        len(ids))
    return await matching_ids(conn, m, search, org_id, len(ids))


async def _visible(conn, rows: list[tuple[str, str, str]], org_id: int, policy: Policy | None):
    """The rows whose resources `policy` lets the caller see, found by the compiler itself."""
    if policy is None or not rows:
        return rows
    kept: set[tuple[str, str]] = set()
    for type_name in {t for t, _, _ in rows}:
        confinement = policy(type_name)
        ids = sorted({i for t, i, _ in rows if t == type_name})
        if confinement is None:
            kept.update((type_name, i) for i in ids)
            continue
        kept.update((type_name, i) for i in await visible_ids(conn, MAPPINGS[type_name], ids, confinement, org_id))
    return [r for r in rows if (r[0], r[1]) in kept]


async def _one_include(conn, inc: ast.Include, frontier: dict[str, list[str]], org_id: int):
    if not inc.reverse:
        ids = frontier.get(inc.source_type)
        if not ids:
            return []
        by_type: dict[str, list[str]] = {}
        for ref in await _column(conn, include.references_from(inc, ids, org_id)):
            type_name, _, target = ref.partition("/")
            if type_name in MAPPINGS and "/" not in target and inc.target_type in (None, type_name):
                by_type.setdefault(type_name, []).append(target)
        return [(t, i, text) for t, targets in by_type.items()
                for i, text in await _rows(conn, include.by_id(MAPPINGS[t], targets, org_id))]
    targets = [f"{t}/{i}" for t, ids in frontier.items() for i in ids]
    rows = await _rows(conn, include.referring(inc, targets, org_id, MAX_INCLUDED))
    return [(inc.source_type, i, text) for i, text in rows]
