"""Connection hygiene (issue: faults and overload): whatever goes wrong on a pooled
connection, it goes back to the pool or is dropped, shutting down always ends, and nothing
after COMMIT turns a committed write into a failure."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from fhirserver.context import Effects
from fhirserver.db.pools import open_database


async def test_a_statement_failing_on_a_fresh_connection_gives_it_back(dsn):
    db = await open_database(dsn, min_size=1, max_size=1)
    try:
        for _ in range(3):   # with one connection, a leaked one would make the next acquire wait forever
            with pytest.raises(asyncpg.DivisionByZeroError):
                async with asyncio.timeout(5):
                    async with db.primary.connection(first="SELECT 1/0"):
                        pass
        async with asyncio.timeout(5):
            async with db.primary.connection() as conn:
                assert await conn.fetchval("SELECT 1") == 1
        assert db.primary.busy == 0
    finally:
        await db.close(timeout=5)


async def test_a_connection_that_cannot_be_reset_is_dropped_not_kept(dsn):
    db = await open_database(dsn, min_size=1, max_size=1)
    try:
        conn = await db.primary.acquire()
        conn.terminate()   # its server went away mid-request
        await db.primary.release(conn)
        async with asyncio.timeout(5):
            async with db.primary.connection() as fresh:
                assert await fresh.fetchval("SELECT 1") == 1
    finally:
        await db.close(timeout=5)


async def test_closing_ends_even_with_a_connection_never_returned(dsn):
    db = await open_database(dsn, min_size=1, max_size=2)
    await db.primary.acquire()   # held by a request that will never finish
    started = time.monotonic()
    await asyncio.wait_for(db.close(timeout=1), 20)
    assert time.monotonic() - started < 10


async def test_reading_the_commit_position_never_fails_the_request(dsn):
    conn = await asyncpg.connect(dsn)
    try:
        effects = Effects()
        await effects.committed(conn)
        assert effects.lsn is not None   # the normal case: a consistency token
        tx = conn.transaction()
        await tx.start()
        with pytest.raises(asyncpg.DivisionByZeroError):
            await conn.execute("SELECT 1/0")
        late = Effects()
        await late.committed(conn)   # any error reading it (here: an aborted transaction): no token, no failure
        assert late.lsn is None
        await tx.rollback()
    finally:
        await conn.close()
