"""Overload sheds load instead of queueing without limit: beyond `max_inflight` requests a
worker answers 503 at once; a request that finds every connection busy for `pool_wait_s`
answers 503; no statement runs longer than `statement_timeout_s`; and once the load is
gone, requests are served again."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from fhirserver.app import create_app
from fhirserver.settings import Settings


def _code(r: httpx.Response) -> str:
    return r.json()["issue"][0]["details"]["coding"][0]["code"]


async def test_a_saturated_worker_answers_503_at_once_and_recovers(dsn):
    settings = Settings(public_base_url="http://fhir.test", pool_min=1, pool_max=1, pool_wait_s=0.5,
                        max_inflight=2, statement_timeout_s=0.2)
    app = create_app(settings, dsn=dsn)
    async with app.lifespan():
        services = app.state.services
        services.audit = None   # this test is about the database pool; the audit writer shares it
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://fhir.test/default") as c:
            deadline = time.monotonic() + 20   # start-up work (months ahead) may hold the connection a while
            while (await c.get("/Patient", params={"_count": "1"})).status_code != 200:
                assert time.monotonic() < deadline
            held = await services.db.primary.acquire()   # the only connection, busy elsewhere

            async def timed(path: str):
                started = time.monotonic()
                r = await c.get(path)
                return r, time.monotonic() - started
            answers = await asyncio.gather(*(timed("/Patient?_count=1") for _ in range(6)))
            await services.db.primary.release(held)
            codes = sorted(_code(r) for r, _ in answers)
            assert codes == ["DB-BUSY"] * 2 + ["SERVER-BUSY"] * 4, codes
            for r, seconds in answers:
                assert r.status_code == 503 and r.headers["Retry-After"] == "1"
                assert seconds < (0.4 if _code(r) == "SERVER-BUSY" else 3)   # refused at once / after the wait
            assert services.inflight == 0
            assert (await c.get("/Patient", params={"_count": "1"})).status_code == 200   # back to normal
            async with services.db.primary.connection() as conn:   # and no statement outlives the timeout
                assert await conn.fetchval("SHOW statement_timeout") == "200ms"
                with pytest.raises(asyncpg.QueryCanceledError):
                    await conn.execute("SELECT pg_sleep(2)")
