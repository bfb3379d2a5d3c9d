"""The administrative commands of the README: migrate, tenant create, partitions."""

from __future__ import annotations

import os
import subprocess
import sys


def _cli(dsn: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "fhirserver", *args], env={**os.environ, "DATABASE_URL": dsn},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_migrate_twice_is_a_no_op(dsn):
    assert "nothing (up to date)" in _cli(dsn, "migrate")


async def test_tenant_create_gives_a_new_fhir_base(dsn, http, owner):
    assert (await http.get("/initech/metadata")).status_code == 404
    out = _cli(dsn, "tenant", "create", "initech", "--name", "Initech Health")
    assert "base /initech" in out
    assert (await http.get("/initech/metadata")).status_code == 200
    assert await owner.fetchval("SELECT name FROM tenants WHERE slug = 'initech'") == "Initech Health"
    assert await owner.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'observations_o%' "
                                "AND relname = (SELECT 'observations_o' || org_id FROM tenants "
                                "WHERE slug = 'initech')") == 1


async def test_partitions_command(dsn):
    assert "months ahead" in _cli(dsn, "partitions", "--months-ahead", "2")


async def test_bad_slug_is_refused(dsn):
    result = subprocess.run([sys.executable, "-m", "fhirserver", "tenant", "create", "Bad Slug"],
                            env={**os.environ, "DATABASE_URL": dsn}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "invalid tenant slug" in result.stderr
