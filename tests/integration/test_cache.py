"""The Redis resource cache and rate limits, against a real redis-server the suite starts."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from fhirserver.app import create_app
from fhirserver.settings import Settings
from tests.samples import patient
from tests.servers import RedisServer, ensure_debian_package

REDIS_PORT = 56379
JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> RedisServer:
    ensure_debian_package("redis-server", "redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis"), REDIS_PORT)
    server.start()
    yield server
    server.stop()


async def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fhir.test/default",
                             headers=JSON)


@pytest_asyncio.fixture(scope="module")
async def cached_app(dsn, redis_server):
    app = create_app(Settings(public_base_url="http://fhir.test", redis_url=redis_server.url), dsn=dsn)
    async with app.lifespan():
        yield app


@pytest_asyncio.fixture(scope="module")
async def client(cached_app):
    async with await _client(cached_app) as c:
        yield c


def _cache(app):
    return app.state.services.cache


async def test_second_read_is_a_hit_with_identical_bytes(cached_app, client):
    pid = (await client.post("/Patient", json=patient(family="Cached"))).json()["id"]
    first = await client.get(f"/Patient/{pid}")
    hits = _cache(cached_app).hits
    second = await client.get(f"/Patient/{pid}")
    assert _cache(cached_app).hits == hits + 1
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Last-Modified"] == first.headers["Last-Modified"]
    # vread entries are per version and never change
    await client.get(f"/Patient/{pid}/_history/1")
    hits = _cache(cached_app).hits
    assert (await client.get(f"/Patient/{pid}/_history/1")).content == first.content
    assert _cache(cached_app).hits == hits + 1


async def test_no_write_path_leaves_a_stale_entry(client):
    pid = (await client.post("/Patient", json=patient(family="Fresh0"))).json()["id"]
    for n in range(1, 4):   # update
        await client.get(f"/Patient/{pid}")   # cached
        body = patient(family=f"Fresh{n}", id=pid)
        assert (await client.put(f"/Patient/{pid}", json=body)).status_code == 200
        got = await client.get(f"/Patient/{pid}")
        assert got.json()["name"][0]["family"] == f"Fresh{n}"
        assert got.headers["ETag"] == f'W/"{n + 1}"'
    # patch
    await client.get(f"/Patient/{pid}")
    patched = await client.patch(f"/Patient/{pid}", content=b'[{"op":"replace","path":"/gender","value":"male"}]',
                                 headers={"Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "male"
    # transaction
    await client.get(f"/Patient/{pid}")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(family="ViaTransaction", id=pid), "request": {"method": "PUT", "url": f"Patient/{pid}"}}]}
    assert (await client.post("", json=bundle)).status_code == 200
    assert (await client.get(f"/Patient/{pid}")).json()["name"][0]["family"] == "ViaTransaction"
    # batch
    await client.get(f"/Patient/{pid}")
    bundle["type"] = "batch"
    bundle["entry"][0]["resource"] = patient(family="ViaBatch", id=pid)
    assert (await client.post("", json=bundle)).status_code == 200
    assert (await client.get(f"/Patient/{pid}")).json()["name"][0]["family"] == "ViaBatch"
    # conditional update
    await client.get(f"/Patient/{pid}")
    body = patient(family="ViaConditional", id=pid)
    assert (await client.put("/Patient", params={"_id": pid}, json=body)).status_code == 200
    assert (await client.get(f"/Patient/{pid}")).json()["name"][0]["family"] == "ViaConditional"
    # delete
    await client.get(f"/Patient/{pid}")
    assert (await client.delete(f"/Patient/{pid}")).status_code in (200, 204)
    assert (await client.get(f"/Patient/{pid}")).status_code == 410


async def test_a_late_fill_cannot_replace_a_newer_version(cached_app, client):
    """A reader that fetched version 1 (from a lagging replica, or just before a commit) fills
    the cache after version 2 was written: version 2 stays current."""
    cache = _cache(cached_app)
    pid = (await client.post("/Patient", json=patient(family="Old"))).json()["id"]
    org = cached_app.state.services.tenants._cache["default"][1].org_id
    old, epoch = await cache.read(org, "Patient", pid)
    assert old is None and epoch is not None     # a miss, nothing cached yet
    stored_v1 = (await client.get(f"/Patient/{pid}"))   # fills version 1
    assert stored_v1.headers["ETag"] == 'W/"1"'
    v1, _ = await cache.read(org, "Patient", pid)
    await client.put(f"/Patient/{pid}", json=patient(family="New", id=pid))
    await cache.fill(epoch, org, "Patient", v1, current=True)   # the late reader
    got = await client.get(f"/Patient/{pid}")
    assert got.headers["ETag"] == 'W/"2"' and got.json()["name"][0]["family"] == "New"


async def test_redis_unreachable_degrades_to_the_database(cached_app, client, redis_server):
    cache = _cache(cached_app)
    pid = (await client.post("/Patient", json=patient(family="BeforePause"))).json()["id"]
    await client.get(f"/Patient/{pid}")   # version 1 cached
    admin = aioredis.Redis(port=REDIS_PORT)
    epoch_before = int(await admin.get("fhir:e") or 0)
    # Redis stops answering (its data stays): the write's fence cannot be set.
    await admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    errors = cache.errors
    updated = await client.put(f"/Patient/{pid}", json=patient(family="DuringPause", id=pid))
    assert updated.status_code == 200
    during = await client.get(f"/Patient/{pid}")
    assert during.status_code == 200 and during.json()["name"][0]["family"] == "DuringPause"
    assert cache.errors > errors
    await asyncio.sleep(2.6)   # pause over, and the cache's own back-off
    after = await client.get(f"/Patient/{pid}")
    assert after.json()["name"][0]["family"] == "DuringPause"
    assert int(await admin.get("fhir:e")) > epoch_before   # old entries were retired
    await admin.aclose()


async def test_redis_killed_and_back(cached_app, client, redis_server):
    pid = (await client.post("/Patient", json=patient(family="Kill")))
    pid = pid.json()["id"]
    redis_server.kill()
    try:
        assert (await client.get(f"/Patient/{pid}")).status_code == 200
        assert (await client.put(f"/Patient/{pid}", json=patient(family="Killed", id=pid))).status_code == 200
    finally:
        redis_server.start()
    await asyncio.sleep(1.1)
    hits = _cache(cached_app).hits
    await client.get(f"/Patient/{pid}")
    got = await client.get(f"/Patient/{pid}")
    assert got.json()["name"][0]["family"] == "Killed"
    assert _cache(cached_app).hits == hits + 1   # caching again


async def test_rate_limit_per_client(dsn, redis_server):
    app = create_app(Settings(public_base_url="http://fhir.test", redis_url=redis_server.url, rate_limit=5),
                     dsn=dsn)
    await aioredis.Redis(port=REDIS_PORT).flushall()
    async with app.lifespan():
        async with await _client(app) as c:
            statuses = [(await c.get("/metadata")).status_code for _ in range(5)]
            over = await c.get("/metadata")
    assert statuses == [200] * 5
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    issue = over.json()["issue"][0]
    assert issue["code"] == "throttled" and issue["details"]["coding"][0]["code"] == "HTTP-RATE-LIMIT"
