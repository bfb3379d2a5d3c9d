"""Rebuilding search indexes in place when what is indexed changes.

The index signature hashes everything that decides a resource's hot columns and side-table
rows (the search catalog, bindings, mapping columns, and INDEX_FORMAT, bumped by hand when
searchparams/index.py changes how it reads values); the filing signature, what decides the
month a row is filed under (FILING_FORMAT, bumped by hand). `fhirserver migrate` (and the
server at start) compares both with those recorded in the database. A changed index
signature rewrites every current resource's index rows from its stored JSON; a changed
filing signature alone moves only the rows whose month changed (with their side rows and
id-directory entry) to where a search's partition bounds will look for them, after reading
every time-partitioned resource once. Versions are not touched.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import asyncpg
import orjson

from fhirserver import ids
from fhirserver.db.resources import move_directory
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.sql import statements
from searchparams import catalog
from searchparams.index import side_arrays

INDEX_FORMAT = 1
# Bumped by hand when what files a row under a month (a mapping's clinical time) changes; a
# change of this alone moves the rows whose month changed and rewrites nothing else.
# 2: ranges filed by their last instant (mappings/base.py)
FILING_FORMAT = 2
BATCH = 500
log = logging.getLogger(__name__)


def signature() -> str:
    parts = [f"format={INDEX_FORMAT}"]
    for t in sorted(MAPPINGS):
        m = MAPPINGS[t]
        parts.append(f"{t}:{m.column_names}")
        for code, p in catalog.supported(t).items():
            parts.append(f"{t}.{code}:{p.kind}:{p.code_system}:{p.targets}:{p.definition.expression}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def filing_signature() -> str:
    parts = [f"filing={FILING_FORMAT}"] + [f"{t}:{m.partition_param}" for t, m in sorted(MAPPINGS.items())
                                           if m.time_partitioned]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def state() -> str:
    """What fhir_index_state records: the index signature, then the filing signature."""
    return f"{signature()}/{filing_signature()}"


async def _reindex_table(conn: asyncpg.Connection, m: ResourceMapping, org: int, index: bool) -> int:
    """Refile every row of `m` whose month changed and, with `index`, rewrite every row's index
    rows; returns how many rows were written."""
    if not index and not m.time_partitioned:
        return 0
    st = statements(m)
    part = "part_ts" if m.time_partitioned else "NULL::timestamptz"
    done, after = 0, ""
    made: set[int] = set()   # months whose partition this pass has ensured
    while True:
        rows = await conn.fetch(f"SELECT id, {part}, resource FROM {m.table} WHERE org_id = $1 AND id > $2 "
                                f"ORDER BY id LIMIT {BATCH}", org, after)
        if not rows:
            return done
        async with conn.transaction():
            for id_, part_ts, text in rows:
                resource = orjson.loads(text)
                moved = False
                if m.time_partitioned:
                    filed = await _refile(conn, m, org, id_, part_ts, resource, made)
                    moved, part_ts = filed != part_ts, filed
                if index or moved:
                    key = (org, id_, part_ts) if m.time_partitioned else (org, id_)
                    await conn.execute(st.reindex, *key, *m.column_values(resource), *side_arrays(resource))
                    done += 1
        after = rows[-1][0]


async def _refile(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str, part_ts: datetime,
                  resource: dict, made: set[int]) -> datetime:
    """The row's partition time as the mapping computes it now; moved there if it was elsewhere
    (its side rows dropped: the caller's reindex writes them again under the new key)."""
    clinical = m.clinical_time(resource)
    target = ids.clamp(clinical) if clinical is not None else part_ts   # untimed: kept where written
    if target == part_ts:
        return part_ts
    if ids.month_index(target) not in made:
        await conn.fetchval("SELECT fhir_ensure_month_partition($1, $2, $3)", m.table, org, target)
        made.add(ids.month_index(target))
    await conn.execute(statements(m).refile, org, id_, part_ts, target)
    await move_directory(conn, m, org, id_, target)
    return target


async def reindex_all(conn: asyncpg.Connection, index: bool = True) -> int:
    """Rewrite the index rows of every current resource of every tenant and refile the rows
    whose month changed (as the table owner); `index=False`: only the latter."""
    total = 0
    for (org,) in await conn.fetch("SELECT org_id FROM tenants ORDER BY org_id"):
        for m in MAPPINGS.values():
            total += await _reindex_table(conn, m, org, index)
    return total


async def ensure_current(conn: asyncpg.Connection) -> int | None:
    """Reindex if the recorded index signature differs, else refile if the filing signature
    does; return how many resources were rewritten (None: nothing to do)."""
    await conn.execute("CREATE TABLE IF NOT EXISTS fhir_index_state (id integer PRIMARY KEY CHECK (id = 1), "
                       "signature text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())")
    current = state()
    recorded = await conn.fetchval("SELECT signature FROM fhir_index_state WHERE id = 1")
    if recorded == current:
        return None
    count = 0
    if recorded is not None:   # a new database has nothing to rewrite
        # A state recorded before filing was signed has the index signature alone.
        count = await reindex_all(conn, index=recorded.partition("/")[0] != signature())
    await conn.execute("INSERT INTO fhir_index_state (id, signature) VALUES (1, $1) ON CONFLICT (id) DO UPDATE "
                       "SET signature = EXCLUDED.signature, updated_at = now()", current)
    if count:
        log.info("search index: %d resources rewritten", count)
    return count
