"""Storage of resources: create, read, update, delete and history, one tenant at a time.

Every function takes a connection already inside a tenant transaction
(db/tenancy.py) and a mapping; the SQL text comes from mappings/sql.py.

Where a row lives: untimed types are found by (org_id, id). Time-partitioned
types also need the month: a server id encodes it (fhirserver/ids.py), so a read
probes exactly one partition; otherwise the id directory says which month. The
directory holds an entry exactly when the id does not name the row's month
(client-chosen ids, and resources whose clinical month changed), and claiming an
entry serialises concurrent creators of one client-chosen id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Callable

import asyncpg

from fhirserver import ids
from fhirserver.outcomes import Category, FhirError, gone, not_found
from mappings.base import ResourceMapping
from mappings.sql import (
    DIRECTORY_CLAIM,
    DIRECTORY_LOOKUP,
    DIRECTORY_REMOVE,
    DIRECTORY_SET,
    GENERIC_TYPES_HELD,
    REFS_INCOMING,
    REFS_SOURCE_TYPES,
    REFS_SOURCES,
    REFS_TARGETS,
    SHARED_HISTORY,
    Statements,
)
from mappings.sql import statements as _compile_statements

# statements(m) is cached by the mapping's value, which hashes every column of the mapping on
# each call; mappings are long-lived objects, so here they are looked up by identity.
_STATEMENTS: dict[int, tuple[ResourceMapping, Statements]] = {}


def statements(m: ResourceMapping) -> Statements:
    hit = _STATEMENTS.get(id(m))
    if hit is None or hit[0] is not m:
        hit = _STATEMENTS[id(m)] = (m, _compile_statements(m))
    return hit[1]


class Lock(Enum):
    NONE = "locate"
    UPDATE = "locate_for_update"
    KEY_SHARE = "locate_key_share"


@dataclass(frozen=True, slots=True)
class Current:
    """The current row of a resource, as located."""

    version_id: int
    last_updated: datetime
    month: int | None          # month index of its partition (time-partitioned types)
    part_ts: datetime | None = None


class Verb:
    """How a version was made (the `verb` column, PostgreSQL "char": bytes in asyncpg);
    history bundles report it."""

    CREATE = b"c"        # POST
    PUT_CREATE = b"n"    # PUT of a new id, or of a deleted one
    UPDATE = b"u"        # PUT
    PATCH = b"p"
    DELETE = b"d"        # a delete marker (history only)


@dataclass(frozen=True, slots=True)
class Stored:
    """One version as read back: the exact JSON text that is served."""

    id: str
    version_id: int
    last_updated: datetime
    resource: str | None       # None for a delete marker
    verb: bytes = Verb.CREATE

    @property
    def deleted(self) -> bool:
        return self.verb == Verb.DELETE


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated resource ready to store, minus what only the store can decide."""

    columns: list
    part_ts: datetime | None
    refs: tuple[list[str], list[str]]              # (target types, target ids) of local references
    render: Callable[[str, int, datetime], str]    # (id, version, last_updated) -> stored JSON
    side: list[list] = field(default_factory=list)  # search side tables: one array per column (mappings/sql)
    # False: the resource has no clinical time and part_ts is the write time; an update then
    # keeps the row where it is (filed by its first write), instead of moving it every time.
    clinical: bool = True


@dataclass(frozen=True, slots=True)
class Saved:
    id: str
    version_id: int
    last_updated: datetime
    resource: str
    created: bool


def now() -> datetime:
    """Milliseconds only: the stored time must equal the meta.lastUpdated we print."""
    ts = datetime.now(timezone.utc)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _bounds(month: int) -> tuple[datetime, datetime]:
    return ids.month_start(month), ids.month_start(month + 1)


async def _probe(conn: asyncpg.Connection, m: ResourceMapping, sql: str, org: int, id_: str):
    """Run a per-row statement against the row's partition; return (record, month)."""
    if not m.time_partitioned:
        return await conn.fetchrow(sql, org, id_), None
    month = ids.month_of(id_)
    if month is not None:
        row = await conn.fetchrow(sql, org, id_, *_bounds(month))
        if row is not None:
            return row, month
    at = await conn.fetchval(DIRECTORY_LOOKUP, org, m.resource_type, id_)
    if at is None:
        return None, None
    month = ids.month_index(at)
    return await conn.fetchrow(sql, org, id_, *_bounds(month)), month


async def locate(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str,
                 lock: Lock = Lock.NONE) -> Current | None:
    row, month = await _probe(conn, m, getattr(statements(m), lock.value), org, id_)
    return Current(row[0], row[1], month, row[2]) if row else None


async def latest_history(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str):
    """(version_id, deleted) of the newest superseded version, or None if there is none."""
    row = await conn.fetchrow(statements(m).history_latest, org, id_)
    return (row[0], row[1]) if row else None


async def read(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str) -> Stored:
    """The current version; 410 if deleted, 404 if never known."""
    row, _ = await _probe(conn, m, statements(m).read, org, id_)
    if row is not None:
        return Stored(id_, row[0], row[1], row[2], row[3])
    last = await latest_history(conn, m, org, id_)
    if last and last[1]:
        raise gone(m.resource_type, id_, last[0])
    raise not_found(m.resource_type, id_)


async def vread(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str, version: int) -> Stored:
    row = await conn.fetchrow(statements(m).history_version, org, id_, version)
    if row is not None:
        if row[0] == Verb.DELETE:
            raise gone(m.resource_type, id_, version)
        return Stored(id_, version, row[1], row[2], row[0])
    current, _ = await _probe(conn, m, statements(m).read, org, id_)
    if current is not None and current[0] == version:
        return Stored(id_, version, current[1], current[2], current[3])
    if current is None and await latest_history(conn, m, org, id_) is None:
        raise not_found(m.resource_type, id_)
    raise FhirError.of(Category.NOT_FOUND, "not-found", "RES-VERSION-NOT-FOUND",
                       f"{m.resource_type}/{id_} has no version {version}")


def _check_match(m: ResourceMapping, id_: str, if_match: int | None, version: int | None) -> None:
    if if_match is not None and if_match != version:
        have = f"is at version {version}" if version else "does not exist"
        raise FhirError.of(Category.PRECONDITION, "conflict", "RES-VERSION-CONFLICT",
                           f"If-Match asked for version {if_match} but {m.resource_type}/{id_} {have}")


def _fields(m: ResourceMapping, id_: str, version: int, verb: bytes, ts: datetime, draft: Draft
            ) -> tuple[list, str]:
    text = draft.render(id_, version, ts)
    head = [draft.part_ts] if m.time_partitioned else []
    return head + [version, verb, ts, text] + draft.columns + list(draft.refs) + draft.side, text


async def create(conn: asyncpg.Connection, m: ResourceMapping, org: int, draft: Draft,
                 id_: str | None = None) -> Saved:
    """POST: a new resource with a server id (which encodes its month); `id_` if the caller
    chose it already with new_id (a transaction Bundle resolving urn:uuid references)."""
    ts = now()
    id_ = id_ or ids.new_id(draft.part_ts or ts)
    values, text = _fields(m, id_, 1, Verb.CREATE, ts, draft)
    await conn.execute(statements(m).insert, org, id_, *values)
    return Saved(id_, 1, ts, text, True)


def _directory_needed(m: ResourceMapping, id_: str, part_ts: datetime | None) -> bool:
    return m.time_partitioned and ids.month_of(id_) != ids.month_index(part_ts)


async def update(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str, draft: Draft,
                 if_match: int | None = None, verb: bytes = Verb.UPDATE) -> Saved:
    """PUT (or patch, `verb`): a new version of `id_`, or the resource created under that id."""
    st = statements(m)
    current = await locate(conn, m, org, id_, Lock.UPDATE)
    claimed = False
    if current is None and m.time_partitioned:
        # Serialise creators of this id, then look again: another may have just made it.
        await conn.execute(DIRECTORY_CLAIM, org, m.resource_type, id_, _month_ts(draft.part_ts))
        claimed = True
        current = await locate(conn, m, org, id_, Lock.UPDATE)
    _check_match(m, id_, if_match, current.version_id if current else None)
    if current is None:
        last = await latest_history(conn, m, org, id_)
        version, ts = (last[0] + 1 if last else 1), now()
        values, text = _fields(m, id_, version, Verb.PUT_CREATE, ts, draft)
        await conn.execute(st.insert, org, id_, *values)
        if claimed and not _directory_needed(m, id_, draft.part_ts):
            await conn.execute(DIRECTORY_REMOVE, org, m.resource_type, id_)
        return Saved(id_, version, ts, text, True)
    if not draft.clinical and current.part_ts is not None:
        draft = replace(draft, part_ts=current.part_ts)
    version = current.version_id + 1
    ts = max(now(), current.last_updated + timedelta(milliseconds=1))
    values, text = _fields(m, id_, version, verb, ts, draft)
    where = _bounds(current.month) if m.time_partitioned else ()
    await conn.execute(st.update, org, id_, *where, *values)
    if m.time_partitioned and ids.month_index(draft.part_ts) != current.month:
        await move_directory(conn, m, org, id_, draft.part_ts)
    return Saved(id_, version, ts, text, False)


def _month_ts(part_ts: datetime) -> datetime:
    return ids.month_start(ids.month_index(part_ts))


async def move_directory(conn, m: ResourceMapping, org: int, id_: str, part_ts: datetime) -> None:
    if _directory_needed(m, id_, part_ts):
        await conn.execute(DIRECTORY_SET, org, m.resource_type, id_, _month_ts(part_ts))
    else:
        await conn.execute(DIRECTORY_REMOVE, org, m.resource_type, id_)


async def delete(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str,
                 if_match: int | None = None) -> int | None:
    """Delete `id_`; returns the delete marker's version, or None if there was nothing to delete.

    Refused with 409 while other current resources reference it (referential integrity).
    """
    current = await locate(conn, m, org, id_, Lock.UPDATE)
    _check_match(m, id_, if_match, current.version_id if current else None)
    if current is None:
        return None
    await check_unreferenced(conn, m, org, id_)
    version = current.version_id + 1
    ts = max(now(), current.last_updated + timedelta(milliseconds=1))
    where = _bounds(current.month) if m.time_partitioned else ()
    await conn.execute(statements(m).delete, org, id_, *where, version, ts)
    if m.time_partitioned:
        await conn.execute(DIRECTORY_REMOVE, org, m.resource_type, id_)
    return version


async def check_unreferenced(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str) -> None:
    """409 while other current resources refer to `id_` (referential integrity of delete)."""
    referrers = await conn.fetch(REFS_INCOMING, org, m.resource_type, id_)
    if referrers:
        names = ", ".join(f"{r[0]}/{r[1]}" for r in referrers)
        raise FhirError.of(Category.CONFLICT, "conflict", "RES-REFERENCED",
                           f"{m.resource_type}/{id_} is referenced by {names}; delete those first")


async def instance_history(conn: asyncpg.Connection, m: ResourceMapping, org: int, id_: str,
                           since: datetime, below: int | None, count: int) -> list[Stored]:
    """Versions of one resource, newest first, at most `count`, with version_id < `below`."""
    out: list[Stored] = []
    row, _ = await _probe(conn, m, statements(m).read, org, id_)
    if row is not None and (below is None or row[0] < below) and row[1] >= since:
        out.append(Stored(id_, row[0], row[1], row[2], row[3]))
    limit = count - len(out)
    if limit > 0:
        rows = await conn.fetch(statements(m).instance_history, org, id_,
                                below if below is not None else 2**31 - 1, since, limit)
        out.extend(Stored(r[0], r[1], r[2], r[4], r[3]) for r in rows)
    if not out and row is None and below is None and await latest_history(conn, m, org, id_) is None:
        raise not_found(m.resource_type, id_)
    return out


_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=timezone.utc)


async def type_history(conn: asyncpg.Connection, m: ResourceMapping, org: int, since: datetime,
                       after: tuple[datetime, str, int] | None, count: int,
                       only: list[str] | None = None) -> list[Stored]:
    """All versions of all resources of a type (or of the resources `only` names), newest
    first, keyset-paged."""
    key = after or (_FAR_FUTURE, "", 0)
    if only is not None:
        rows = await conn.fetch(statements(m).type_history_of, org, since, *key, count, only)
    else:
        rows = await conn.fetch(statements(m).type_history, org, since, *key, count)
    return [Stored(r[0], r[1], r[2], r[4], r[3]) for r in rows]


async def generic_types_held(conn: asyncpg.Connection, org: int) -> set[str]:
    """The types on the shared tables (mappings/generic.py) the tenant has current resources of."""
    return {r[0] for r in await conn.fetch(GENERIC_TYPES_HELD, org)}


async def referring(conn: asyncpg.Connection, org: int, target_type: str, target_id: str) -> list[tuple[str, str]]:
    """(type, id) of the current resources that refer to `target_type/target_id`."""
    return [(r[0], r[1]) for r in await conn.fetch(REFS_SOURCES, org, target_type, target_id)]


async def referred(conn: asyncpg.Connection, org: int, sources: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(type, id) of the resources here that `sources` (type, id) refer to."""
    rows = await conn.fetch(REFS_TARGETS, org, [t for t, _ in sources], [i for _, i in sources])
    return [(r[0], r[1]) for r in rows]


async def referring_types(conn: asyncpg.Connection, org: int, target_type: str, target_id: str) -> set[str]:
    """The types of the current resources that refer to `target_type/target_id`."""
    return {r[0] for r in await conn.fetch(REFS_SOURCE_TYPES, org, target_type, target_id)}


async def shared_history(conn: asyncpg.Connection, types: list[str], org: int, since: datetime,
                         after: tuple[datetime, str, str, int] | None, count: int) -> list[tuple[str, Stored]]:
    """(type, version) of every version of generic `types`, newest first, keyset-paged by
    (last_updated, type, id, version_id): one statement for all of them, where a statement
    per type would be 135."""
    key = after or (_FAR_FUTURE, "", "", 0)
    rows = await conn.fetch(SHARED_HISTORY, org, types, since, *key, count)
    return [(r[0], Stored(r[1], r[2], r[3], r[5], r[4])) for r in rows]
