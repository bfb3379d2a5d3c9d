"""Rebuilding search indexes in place when what is indexed changes.

Each stored type has an index signature: a hash of everything that decides its resources'
hot columns and side-table rows (its search parameters, bindings, mapping columns, and
INDEX_FORMAT, bumped by hand when searchparams/index.py changes how it reads values). The
filing signature hashes what decides the month a row is filed under (FILING_FORMAT, bumped
by hand). `fhirserver migrate` (and the server at start) compares them with those recorded
in the database. A type whose index signature changed has every current resource's index
rows rewritten from its stored JSON; the other types are left alone, so a new parameter of
Patient rewrites patients, not a nation's observations. A changed filing signature moves
only the rows whose month changed (with their side rows and id-directory entry) to where a
search's partition bounds will look for them, after reading every time-partitioned
resource once. Versions are not touched.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone

import asyncpg
import orjson

from fhirserver import ids
from fhirserver.db.partitions import in_window
from fhirserver.db.resources import move_directory
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.rows import build_row
from mappings.sql import statements
from searchparams import catalog, phonetic

INDEX_FORMAT = 1
# Bumped by hand when what files a row under a month (a mapping's clinical time) changes; a
# change of this alone moves the rows whose month changed and rewrites nothing else.
# 2: ranges filed by their last instant (mappings/base.py)
FILING_FORMAT = 2
BATCH = 500
log = logging.getLogger(__name__)


def _type_parts(t: str) -> list[str]:
    m = MAPPINGS[t]
    parts = [f"{t}:{m.column_names}"]
    for code, p in catalog.supported(t).items():
        parts.append(f"{t}.{code}:{p.kind.side.suffix}:{p.code_system}:{p.targets}:{p.definition.expression}"
                     + (f":{phonetic.ALGORITHM}" if code == phonetic.CODE else ""))
    return parts


def type_signature(t: str) -> str:
    """The index signature of one stored type."""
    return hashlib.sha256("\n".join([f"format={INDEX_FORMAT}", *_type_parts(t)]).encode()).hexdigest()


def signature() -> str:
    """Every type's index signature, as recorded: `Type=hash;...`."""
    return ";".join(f"{t}={type_signature(t)}" for t in sorted(MAPPINGS))


def _legacy_signature() -> str:
    """The one hash over all types that databases recorded before signatures were per type."""
    parts = [f"format={INDEX_FORMAT}"] + [part for t in sorted(MAPPINGS) for part in _type_parts(t)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def stale_types(recorded: str) -> set[str]:
    """The types whose index signature differs from the recorded index signature (all of them
    if it is a legacy one-hash signature that differs)."""
    if "=" not in recorded:
        return set() if recorded == _legacy_signature() else set(MAPPINGS)
    was = dict(part.split("=", 1) for part in recorded.split(";") if "=" in part)
    return {t for t in MAPPINGS if was.get(t) != type_signature(t)}


def filing_signature() -> str:
    parts = [f"filing={FILING_FORMAT}"] + [f"{t}:{m.partition_param}" for t, m in sorted(MAPPINGS.items())
                                           if m.time_partitioned]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def state() -> str:
    """What fhir_index_state records: the index signature, then the filing signature."""
    return f"{signature()}/{filing_signature()}"


async def _reindex_table(conn: asyncpg.Connection, m: ResourceMapping, org: int, base: str, index: bool,
                         refile: bool) -> int:
    """With `refile`, move every row of `m` whose month changed; with `index`, rewrite every
    row's index rows; returns how many rows were written."""
    refile = refile and m.time_partitioned
    if not index and not refile:
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
                if refile:
                    filed = await _refile(conn, m, org, id_, part_ts, resource, made)
                    moved, part_ts = filed != part_ts, filed
                if index or moved:
                    key = (org, id_, part_ts) if m.time_partitioned else (org, id_)
                    row = build_row(m, resource, base, part_ts or datetime.now(timezone.utc))
                    await conn.execute(st.reindex, *key, *row.columns, *row.side_arrays(m.resource_type))
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
    if ids.month_index(target) not in made and in_window(target):   # outside: the overflow partition
        await conn.fetchval("SELECT fhir_ensure_month_partition($1, $2, $3)", m.table, org, target)
        made.add(ids.month_index(target))
    await conn.execute(statements(m).refile, org, id_, part_ts, target)
    await move_directory(conn, m, org, id_, target)
    return target


async def reindex_all(conn: asyncpg.Connection, index: bool | set[str] = True, refile: bool = True,
                      public_base_url: str | None = None) -> int:
    """Rewrite the index rows of every current resource of every tenant and refile the rows
    whose month changed (as the table owner). `index`: the types whose index rows are
    rewritten (True: all, False: none); `refile`: whether rows are moved to the month their
    mapping files them under now. `public_base_url` (FHIR_BASE_URL) gives each tenant's
    base, so that references written with it are indexed relative, as on create; without
    it (bases taken from each request's Host) such references stay as written."""
    total = 0
    for org, slug in await conn.fetch("SELECT org_id, slug FROM tenants ORDER BY org_id"):
        base = f"{public_base_url.rstrip('/')}/{slug}" if public_base_url else ""
        for t, m in MAPPINGS.items():
            rewrite = index is True or (index is not False and t in index)
            total += await _reindex_table(conn, m, org, base, rewrite, refile)
    return total


async def ensure_current(conn: asyncpg.Connection, public_base_url: str | None = None) -> int | None:
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
        index_part, _, filing_part = recorded.partition("/")
        stale, refile = stale_types(index_part), filing_part != filing_signature()
        if stale or refile:
            count = await reindex_all(conn, index=stale, refile=refile, public_base_url=public_base_url)
    await conn.execute("INSERT INTO fhir_index_state (id, signature) VALUES (1, $1) ON CONFLICT (id) DO UPDATE "
                       "SET signature = EXCLUDED.signature, updated_at = now()", current)
    if count:
        log.info("search index: %d resources rewritten", count)
    return count
