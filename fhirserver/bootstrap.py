"""Getting a database ready: embedded PostgreSQL (or DATABASE_URL), migrations, default tenant."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from fhirserver.db.embedded import EmbeddedPostgres
from fhirserver.db.migrate import migrate
from fhirserver.db.reindex import ensure_current
from fhirserver.settings import Settings
from fhirserver.tenants import create_tenant

log = logging.getLogger(__name__)
EMBEDDED_DATABASE = "fhir"


def embedded_cluster(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.data_dir.resolve() / "pg")


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(server_dsn: str, database: str) -> str:
    """Create `database` on the server if missing; return its DSN."""
    conn = await asyncpg.connect(server_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return _with_database(server_dsn, database)


async def prepare(settings: Settings, cluster: EmbeddedPostgres | None = None) -> str:
    """Return the DSN to serve from, migrated and with the default tenant in place."""
    dsn = await database(settings, cluster)
    await make_ready(settings, dsn)
    return dsn


async def database(settings: Settings, cluster: EmbeddedPostgres | None = None) -> str:
    """The DSN of DATABASE_URL (once it answers), or of the embedded cluster (started, its
    database made)."""
    if settings.database_url:
        await wait_for(settings.database_url, settings.db_wait_s)
        return settings.database_url
    cluster = cluster or embedded_cluster(settings)
    return await ensure_database(cluster.start(), EMBEDDED_DATABASE)


async def wait_for(dsn: str, limit_s: float) -> None:
    """Wait (backing off, up to `limit_s` seconds) until the server at `dsn` accepts a
    connection: a server started beside its database (compose, a pod) often comes up first.
    Raises the last connection error when the time runs out."""
    deadline, delay = time.monotonic() + limit_s, 0.1
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=max(1.0, min(10.0, limit_s)))
        except (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable yet (%s: %s); trying again in %.1f s", type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        await conn.close()
        return


async def make_ready(settings: Settings, dsn: str) -> list[str]:
    """Migrate, make the default tenant, bring the search index up to date; return the
    migrations applied."""
    # Behind a transaction-mode pooler: no named prepared statements (they would meet
    # other clients' server connections); migrations take transaction-level locks only.
    conn = await asyncpg.connect(dsn, statement_cache_size=0 if settings.pooler else 1024)
    try:
        applied = await migrate(conn)
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        await create_tenant(conn, settings.default_tenant, "Default organisation",
                            months_ahead=settings.months_ahead)
        await ensure_current(conn, settings.public_base_url)
        if not await conn.fetchval("SELECT proleakproof FROM pg_proc WHERE proname = 'arraycontains'"):
            log.warning("array operators are not LEAKPROOF (no superuser at migration): row-level security "
                        "will keep identifier and code searches from using their GIN indexes")
    finally:
        await conn.close()
    return applied
