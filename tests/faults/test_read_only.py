"""A database that refuses writes (read-only, or out of disk): writes get a clear 503 and
change nothing, reads go on, and writes work again once the database takes them."""

from __future__ import annotations

import asyncpg
import httpx
import orjson

from fhirserver.app import create_app
from fhirserver.bootstrap import ensure_database
from fhirserver.db.migrate import migrate
from fhirserver.settings import Settings
from fhirserver.tenants import create_tenant
from tests import samples


async def test_a_read_only_database_refuses_writes_cleanly_and_serves_reads(pg_cluster):
    admin = await asyncpg.connect(pg_cluster.dsn())
    await admin.execute("DROP DATABASE IF EXISTS fhirreadonly WITH (FORCE)")
    dsn = await ensure_database(pg_cluster.dsn(), "fhirreadonly")
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await create_tenant(conn, "default", months_ahead=0)
    await conn.close()
    app = create_app(Settings(public_base_url="http://fhir.test"), dsn=dsn)
    try:
        async with app.lifespan():
            app.state.services.audit = None   # the audit trail would refuse health data without its writes
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fhir.test/default",
                                         headers={"Content-Type": "application/fhir+json"}) as c:
                made = await c.post("/Patient", content=orjson.dumps(samples.patient(family="ReadOnly")))
                assert made.status_code == 201
                await admin.execute("ALTER DATABASE fhirreadonly SET default_transaction_read_only = on")
                await app.state.services.db.primary.pool.expire_connections()   # new sessions see it
                refused = await c.post("/Patient", content=orjson.dumps(samples.patient(family="Refused")))
                assert refused.status_code == 503, refused.text
                assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "DB-READ-ONLY"
                assert (await c.get(f"/Patient/{made.json()['id']}")).status_code == 200
                found = await c.get("/Patient", params={"family": "Refused"})
                assert found.status_code == 200 and found.json().get("total", 0) == 0 and "entry" not in found.json()
                await admin.execute("ALTER DATABASE fhirreadonly SET default_transaction_read_only = off")
                await app.state.services.db.primary.pool.expire_connections()
                again = await c.post("/Patient", content=orjson.dumps(samples.patient(family="Refused")))
                assert again.status_code == 201
    finally:
        await admin.execute("DROP DATABASE IF EXISTS fhirreadonly WITH (FORCE)")
        await admin.close()
