"""Read replicas with the real thing: a streaming standby of the suite's primary.

The module starts its own primary (it is stopped and restarted here, which the rest of
the suite must not see) and a standby made by pg_basebackup -R from the same binaries
the embedded server uses; an app is configured with the standby as its replica.
Routing is checked by asking the server itself (`pg_is_in_recovery()`) on the
connections the app's paths hand out.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
import pytest_asyncio

from fhirserver.app import create_app
from fhirserver.bootstrap import ensure_database
from fhirserver.db.embedded import EmbeddedPostgres
from fhirserver.db.migrate import migrate
from fhirserver.db.pools import Route, parse_lsn
from fhirserver.db.reindex import ensure_current
from fhirserver.db.tenancy import tenant_read, tenant_transaction
from fhirserver.settings import Settings
from fhirserver.tenants import create_tenant
from tests.samples import patient

PRIMARY_PORT, REPLICA_PORT = 54331, 54330
HEADER = "X-Consistency-Token"


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory) -> EmbeddedPostgres:
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("replicated") / "primary", port=PRIMARY_PORT)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest_asyncio.fixture(scope="module")
async def dsn(pg_cluster) -> str:
    target = await ensure_database(pg_cluster.dsn(), "fhirtest")
    conn = await asyncpg.connect(target)
    await migrate(conn)
    await create_tenant(conn, "default", months_ahead=1)
    await ensure_current(conn)
    await conn.close()
    return target


@pytest.fixture(scope="module")
def replica(pg_cluster, dsn) -> EmbeddedPostgres:
    cluster = EmbeddedPostgres(pg_cluster.pgdata.parent / "replica", port=REPLICA_PORT)
    cluster.init_replica_of(pg_cluster)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest_asyncio.fixture
async def owner(dsn):
    conn = await asyncpg.connect(dsn)
    yield conn
    if not conn.is_closed():
        await conn.close()


async def _apply_delay(replica: EmbeddedPostgres, value: str) -> None:
    conn = await asyncpg.connect(replica.dsn())
    await conn.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{value}'")
    await conn.execute("SELECT pg_reload_conf()")
    await conn.close()


async def _caught_up(owner, replica: EmbeddedPostgres) -> None:
    target = parse_lsn(await owner.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    conn = await asyncpg.connect(replica.dsn())
    try:
        for _ in range(200):
            if parse_lsn(await conn.fetchval("SELECT pg_last_wal_replay_lsn()::text")) >= target:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("replica did not catch up")


@pytest_asyncio.fixture(scope="module")
async def replicated(dsn, replica):
    # Fail-open audit: these tests are about routing, and reads from the replica while the
    # primary is down would otherwise be refused for want of an audit trail (that refusal is
    # tested in tests/integration/test_security.py).
    settings = Settings(public_base_url="http://fhir.test", replica_urls=(replica.dsn("fhirtest"),),
                        replica_max_lag_s=60, token_wait_s=0.3, audit_fail_open=True)
    application = create_app(settings, dsn=dsn)
    async with application.lifespan():
        yield application


@pytest_asyncio.fixture(scope="module")
async def client(replicated):
    transport = httpx.ASGITransport(app=replicated)
    async with httpx.AsyncClient(transport=transport, base_url="http://fhir.test/default",
                                 headers={"Content-Type": "application/fhir+json"}) as c:
        yield c


def _db(app):
    return app.state.services.db


async def test_reads_go_to_the_replica_and_writes_to_the_primary(replicated, client, owner):
    db = _db(replicated)
    org_id = await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'default'")
    assert db.replicas[0].healthy
    ready = (await client.get("http://fhir.test/readyz")).json()
    assert ready["servers"]["replica-1"]["up"] is True
    async with tenant_read(db, Route.READ, org_id, server=await db.reader(Route.READ)) as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
    async with tenant_transaction(db, Route.PRIMARY, org_id) as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
    # and through HTTP: a search is served by the replica, a create by the primary
    before = (db.primary.served, db.replicas[0].served)
    assert (await client.get("/Patient", params={"_count": "1"})).status_code == 200
    assert db.replicas[0].served > before[1]
    created = await client.post("/Patient", json=patient(family="Routed"))
    assert created.status_code == 201
    assert db.primary.served > before[0]


async def test_read_your_writes_under_a_delayed_replica(replicated, client, replica, owner):
    db = _db(replicated)
    await _apply_delay(replica, "3s")
    try:
        created = await client.post("/Patient", json=patient(family="Delayed"))
        assert created.status_code == 201
        token = created.headers[HEADER]
        assert parse_lsn(token) > 0
        pid = created.json()["id"]
        # Without the token the (delayed) replica answers: the write is not there yet.
        stale = await client.get(f"/Patient/{pid}")
        assert stale.status_code == 404
        # With it, the read waits a bounded time, then falls back to the primary.
        primary_before = db.primary.served
        fresh = await client.get(f"/Patient/{pid}", headers={HEADER: token})
        assert fresh.status_code == 200 and fresh.json()["id"] == pid
        assert db.primary.served > primary_before
        # A search with the token sees it too.
        found = await client.get("/Patient", params={"_id": pid}, headers={HEADER: token})
        assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [pid]
    finally:
        await _apply_delay(replica, "0")
    # Once the replica has replayed past the token, the replica serves the token read.
    await _caught_up(owner, replica)
    replica_before, primary_before = db.replicas[0].served, db.primary.served
    again = await client.get(f"/Patient/{pid}", headers={HEADER: token})
    assert again.status_code == 200
    assert db.replicas[0].served > replica_before
    assert db.primary.served == primary_before


async def test_a_bad_token_is_refused(client):
    response = await client.get("/Patient", headers={HEADER: "not-an-lsn"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "HTTP-CONSISTENCY-TOKEN"


async def test_a_dying_replica_fails_no_request(replicated, client, replica, owner):
    db = _db(replicated)
    ids = []
    for n in range(5):
        r = await client.post("/Patient", json=patient(family=f"Failover{n}"))
        ids.append(r.json()["id"])
    await _caught_up(owner, replica)
    statuses: list[int] = []

    async def reader(worker: int) -> None:
        for n in range(40):
            r = await client.get(f"/Patient/{ids[(worker + n) % len(ids)]}")
            statuses.append(r.status_code)
            await asyncio.sleep(0.005)

    async def killer() -> None:
        await asyncio.sleep(0.1)
        replica.stop("immediate")

    await asyncio.gather(*(reader(w) for w in range(4)), killer())
    assert statuses and set(statuses) == {200}, statuses
    assert not db.replicas[0].healthy
    # Back when it is healthy again.
    replica.start()
    deadline = time.monotonic() + 30
    while not db.replicas[0].healthy and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert db.replicas[0].healthy
    before = db.replicas[0].served
    assert (await client.get(f"/Patient/{ids[0]}")).status_code == 200
    assert db.replicas[0].served > before


async def test_primary_down_gives_503_and_recovers(replicated, client, pg_cluster, replica, owner):
    db = _db(replicated)
    existing = (await client.post("/Patient", json=patient(family="BeforeOutage"))).json()["id"]
    await _caught_up(owner, replica)
    await owner.close()
    pg_cluster.stop("fast")
    try:
        down = await client.post("/Patient", json=patient(family="DuringOutage"))
        assert down.status_code == 503
        assert down.headers["Retry-After"]
        assert down.json()["issue"][0]["code"] == "transient"
        # Reads go on from the replica while the primary is away.
        assert (await client.get(f"/Patient/{existing}")).status_code == 200
        ready = await client.get("http://fhir.test/readyz")
        assert ready.status_code == 503
        servers = ready.json()["servers"]
        assert servers["primary"] == {"up": False} and servers["replica-1"]["up"] is True
    finally:
        pg_cluster.start()
    # Back by itself: the first write after the restart succeeds (dead pooled connections
    # are replaced, not handed to a request).
    back = await client.post("/Patient", json=patient(family="AfterOutage"))
    assert back.status_code == 201
    assert not db.primary.pool.is_closing()


async def test_every_write_interaction_answers_with_a_token(client):
    tokens = []
    created = await client.post("/Patient", json=patient(family="Tokens"))
    pid = created.json()["id"]
    tokens.append(created.headers[HEADER])
    updated = await client.put(f"/Patient/{pid}", json=patient(family="Tokens", id=pid, gender="male"))
    tokens.append(updated.headers[HEADER])
    patched = await client.patch(f"/Patient/{pid}", content=b'[{"op":"replace","path":"/gender","value":"other"}]',
                                 headers={"Content-Type": "application/json-patch+json"})
    tokens.append(patched.headers[HEADER])
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(family="TokensBatch"), "request": {"method": "POST", "url": "Patient"}}]}
    tokens.append((await client.post("", json=bundle)).headers[HEADER])
    bundle["type"] = "transaction"
    bundle["entry"][0]["resource"] = patient(family="TokensTransaction")
    tokens.append((await client.post("", json=bundle)).headers[HEADER])
    deleted = await client.delete(f"/Patient/{pid}")
    tokens.append(deleted.headers[HEADER])
    positions = [parse_lsn(t) for t in tokens]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # reads carry none
    assert HEADER not in (await client.get("/Patient", params={"_count": "1"})).headers
