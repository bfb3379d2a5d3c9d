"""The administrative commands of the README: migrate, tenant create, partitions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit


async def _cli(dsn: str, *args: str) -> str:
    """In a thread: the app of this test session shares the event loop, and its background
    tasks (month partitions ahead) must not stall mid-transaction, holding the locks the
    command waits for."""
    return await asyncio.to_thread(_run, dsn, *args)


def _run(dsn: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "fhirserver", *args], env={**os.environ, "DATABASE_URL": dsn},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_migrate_twice_is_a_no_op(dsn):
    assert "nothing (up to date)" in await _cli(dsn, "migrate")


async def test_migrate_names_what_it_applied(dsn, owner):
    await owner.execute("DROP DATABASE IF EXISTS fresh_migrate")
    await owner.execute("CREATE DATABASE fresh_migrate")
    fresh = urlunsplit(urlsplit(dsn)._replace(path="/fresh_migrate"))
    try:
        out = await _cli(fresh, "migrate")
        assert "applied: 0001_core, 0002_" in out, out
        assert "nothing (up to date)" in await _cli(fresh, "migrate")
    finally:
        await owner.execute("DROP DATABASE fresh_migrate WITH (FORCE)")


async def test_tenant_create_gives_a_new_fhir_base(dsn, http, owner):
    assert (await http.get("/initech/metadata")).status_code == 404
    out = await _cli(dsn, "tenant", "create", "initech", "--name", "Initech Health")
    assert "base /initech" in out
    assert (await http.get("/initech/metadata")).status_code == 200
    assert await owner.fetchval("SELECT name FROM tenants WHERE slug = 'initech'") == "Initech Health"
    assert await owner.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'observations_o%' "
                                "AND relname = (SELECT 'observations_o' || org_id FROM tenants "
                                "WHERE slug = 'initech')") == 1


async def test_partitions_command(dsn):
    assert "months ahead" in await _cli(dsn, "partitions", "--months-ahead", "2")


async def test_bad_slug_is_refused(dsn):
    result = subprocess.run([sys.executable, "-m", "fhirserver", "tenant", "create", "Bad Slug"],
                            env={**os.environ, "DATABASE_URL": dsn}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "invalid tenant slug" in result.stderr
