"""The server behind a real PgBouncer in transaction pooling mode, started by the suite.

The pooler multiplexes the app's connections onto fewer server connections, so no
session state may carry a tenant from one request to the next and asyncpg must not
use named prepared statements (FHIR_DB_POOLER=pgbouncer turns both off).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio

from fhirserver.app import create_app
from fhirserver.bootstrap import prepare
from fhirserver.settings import Settings
from tests.clients import tenant_client
from tests.samples import observation, patient
from tests.servers import PgBouncer, ensure_debian_package

BOUNCER_PORT = 56432


@pytest.fixture(scope="module")
def bouncer(pg_cluster, dsn, tmp_path_factory) -> PgBouncer:
    ensure_debian_package("pgbouncer", "pgbouncer")
    # 3 server connections for up to 20 client connections: clients must share them.
    server = PgBouncer(tmp_path_factory.mktemp("pgbouncer"), BOUNCER_PORT, pg_cluster.socket_dir,
                       pg_cluster.port, pool_mode="transaction", pool_size=3)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def pooled_app(bouncer):
    settings = Settings(public_base_url="http://fhir.test", pooler=True,
                        database_url=bouncer.dsn("fhirtest"))
    # Start-up (migrations, default tenant) through the pooler too.
    assert await prepare(settings) == bouncer.dsn("fhirtest")
    app = create_app(settings)
    async with app.lifespan():
        yield app


async def _workload(c: httpx.AsyncClient, family: str) -> list[str]:
    """Create, read, search, update and a transaction; returns the Patient ids made."""
    pid = (await c.post("/Patient", json=patient(family=family))).json()["id"]
    assert (await c.get(f"/Patient/{pid}")).status_code == 200
    obs = await c.post("/Observation", json=observation(pid))
    assert obs.status_code == 201, obs.text
    updated = await c.put(f"/Patient/{pid}", json=patient(family=family, id=pid, gender="male"))
    assert updated.status_code == 200
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "resource": patient(family=family),
         "request": {"method": "POST", "url": "Patient"}}]}
    tx = await c.post("", json=bundle)
    assert tx.status_code == 200, tx.text
    return [pid, tx.json()["entry"][0]["response"]["location"].split("Patient/")[1].split("/")[0]]


async def test_tenants_stay_apart_through_a_transaction_mode_pooler(pooled_app):
    async with tenant_client(pooled_app, "default") as default, tenant_client(pooled_app, "acme") as acme:
        jobs = [_workload(default if n % 2 else acme, f"Bouncer{'D' if n % 2 else 'A'}") for n in range(16)]
        made = await asyncio.gather(*jobs)
        mine = {pid for n, ids in enumerate(made) if n % 2 for pid in ids}
        theirs = {pid for n, ids in enumerate(made) if not n % 2 for pid in ids}
        found = await default.get("/Patient", params={"family": "BouncerD", "_count": "100"})
        assert {e["resource"]["id"] for e in found.json()["entry"]} == mine
        found = await acme.get("/Patient", params={"family": "BouncerA", "_count": "100"})
        assert {e["resource"]["id"] for e in found.json()["entry"]} == theirs
        assert (await default.get("/Patient", params={"family": "BouncerA"})).json().get("entry") is None
        assert (await default.get(f"/Patient/{next(iter(theirs))}")).status_code == 404
