"""The only async stage of search: run compiled SQL on a connection the caller routed."""

from __future__ import annotations

import asyncpg

from mappings.base import ResourceMapping
from searchparams import ast
from searchparams.compile import compile_count, compile_ids, compile_page


async def matching_ids(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int,
                       limit: int) -> list[str]:
    q = compile_ids(m, search, org_id, limit)
    return [r[0] for r in await conn.fetch(q.sql, *q.params)]


async def page(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search,
               org_id: int) -> tuple[list[tuple[str, str]], bool]:
    """(id, resource) rows of one page, and whether more follow."""
    q = compile_page(m, search, org_id, search.count + 1)
    rows = await conn.fetch(q.sql, *q.params)
    return [(r[0], r[1]) for r in rows[:search.count]], len(rows) > search.count


async def count(conn: asyncpg.Connection, m: ResourceMapping, search: ast.Search, org_id: int) -> int:
    q = compile_count(m, search, org_id)
    return await conn.fetchval(q.sql, *q.params)
