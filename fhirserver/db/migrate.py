"""Versioned, idempotent schema migrations.

Migrations are the SQL files in `mappings/ddl/NNNN_name.sql`, applied in order,
each in its own transaction, and recorded with a checksum in schema_migrations.
A second run applies nothing. An applied file that has since changed is an
error: released migrations are immutable; fix forward with a new file.
Transaction-level advisory locks serialise concurrent migrators (several servers starting).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

DDL_DIR = Path(__file__).parents[2] / "mappings" / "ddl"
_LOCK_KEY = 0x46484952  # "FHIR"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for path in sorted(DDL_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(int(version), name, path.read_text()))
    return found


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date).

    Each migration is one transaction holding a transaction-level advisory lock, and checks
    again under it whether another process applied it: concurrent starts are safe, and so
    is a transaction-mode pooler in between (a session lock could be taken on one server
    connection and released on another, and then never be released)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())""")
    applied = []
    for m in available():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            done = await conn.fetchval("SELECT checksum FROM schema_migrations WHERE version = $1", m.version)
            if done is not None:
                if done != m.checksum:
                    raise RuntimeError(f"migration {m.version}_{m.name} changed after it was applied")
                continue
            await conn.execute(m.sql)
            await conn.execute("INSERT INTO schema_migrations (version, name, checksum) "
                               "VALUES ($1, $2, $3)", m.version, m.name, m.checksum)
        log.info("applied migration %04d_%s", m.version, m.name)
        applied.append(f"{m.version:04d}_{m.name}")
    return applied
