"""The clinical window: no request creates DDL for a time outside it, and what lies outside is
kept in the tenant's overflow (DEFAULT) partition, found by every read (fhirserver/db/partitions.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import httpx
import orjson
import pytest
import pytest_asyncio

from fhirserver import ids
from fhirserver.db.partitions import in_window
from fhirserver.tenants import create_tenant
from tests import samples

SLUG = "window"
# The tenant's relations (tables and their indexes, named after them) and partitions: the
# server's background task makes months ahead for other tenants meanwhile.
COUNT = ("SELECT (SELECT count(*) FROM pg_class WHERE relname ~ ('_o' || $1 || '(_|$)')), "
         "(SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
         "WHERE c.relname ~ ('_o' || $1 || '(_|$)'))")
WHERE = "SELECT tableoid::regclass::text FROM {} WHERE id = $1"


@pytest_asyncio.fixture(scope="module")
async def org(owner, settings) -> int:
    """A tenant of this module alone, so that counts and partitions are its own, with the
    months the server's background task would make (so that it makes none while we count)."""
    return (await create_tenant(owner, SLUG, "Window", months_ahead=settings.months_ahead)).org_id


@pytest_asyncio.fixture(scope="module")
async def client(app, org, fhir) -> httpx.AsyncClient:
    """Like `fhir` (its headers too), on this module's tenant."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://fhir.test/{SLUG}",
                                 headers=fhir.headers) as c:
        yield c


async def post(client, resource: dict) -> dict:
    r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
    assert r.status_code == 201, r.text
    return r.json()


async def found(client, path: str, **params) -> list[str]:
    """Ids of every page of a search, in order."""
    out, url, query = [], path, params or None
    while url:
        r = await client.get(url, params=query)
        assert r.status_code == 200, r.text
        bundle = r.json()
        out += [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, query = (nxt[0].removeprefix(f"http://fhir.test/{SLUG}") if nxt else None), None
    return out


def test_the_window_runs_from_january_of_the_earliest_year_to_years_ahead_of_now():
    now = datetime(2026, 5, 17, tzinfo=timezone.utc)
    assert not in_window(datetime(1899, 12, 31, 23, tzinfo=timezone.utc), now=now)
    assert in_window(datetime(1900, 1, 1, tzinfo=timezone.utc), now=now)
    assert in_window(datetime(2028, 5, 31, 23, tzinfo=timezone.utc), now=now)
    assert not in_window(datetime(2028, 6, 1, tzinfo=timezone.utc), now=now)
    assert not in_window(ids.PART_TS_MAX, now=now)
    assert in_window(datetime(1950, 1, 1, tzinfo=timezone.utc), 1950, 0, now) and \
        not in_window(datetime(2026, 6, 1, tzinfo=timezone.utc), 1950, 0, now)


@pytest.fixture(scope="module")
def marker() -> str:
    return f"window-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture(scope="module")
async def outliers(client, owner, org, marker) -> dict[str, dict]:
    """A patient's Observations of 1850, of 2021 (in the window) and of 4321; the outliers
    are made while counting relations."""
    patient = await post(client, samples.patient(family="Outlier"))
    made = {"inside": await post(client, samples.observation(patient["id"], "2021-06-15T10:00:00Z", marker))}
    before = await owner.fetchrow(COUNT, str(org))
    for name, when in (("future", "4321-01-01"), ("past", "1850-03-02T08:30:00Z")):
        made[name] = await post(client, samples.observation(patient["id"], when, marker))
    assert tuple(await owner.fetchrow(COUNT, str(org))) == tuple(before)
    made["patient"] = patient
    return made


async def test_a_create_outside_the_window_makes_no_table_and_lands_in_the_overflow(owner, org, outliers):
    for name in ("future", "past"):
        id_ = outliers[name]["id"]
        assert await owner.fetchval(WHERE.format("observations"), id_) == f"observations_o{org}_default"
        sides = await owner.fetch("SELECT DISTINCT tableoid::regclass::text FROM observations_tok WHERE id = $1", id_)
        assert [r[0] for r in sides] == [f"observations_tok_o{org}_default"]
    assert await owner.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE '%4321m01%' "
                                "OR relname LIKE '%1850m03%'") == 0


async def test_a_create_inside_the_window_still_gets_its_month(owner, org, outliers):
    assert await owner.fetchval(WHERE.format("observations"), outliers["inside"]["id"]) == \
        f"observations_o{org}_2021m06"


async def test_overflow_rows_are_read_by_id_and_found_by_date(client, outliers):
    for name in ("future", "past"):
        r = await client.get(f"/Observation/{outliers[name]['id']}")
        assert r.status_code == 200 and r.json() == outliers[name]
    assert await found(client, "/Observation", date="4321-01-01") == [outliers["future"]["id"]]
    assert await found(client, "/Observation", date="1850") == [outliers["past"]["id"]]
    assert await found(client, "/Observation", date="ge4000") == [outliers["future"]["id"]]
    assert await found(client, "/Observation", date="lt1900") == [outliers["past"]["id"]]


async def test_overflow_rows_are_found_by_sorted_and_month_walking_searches(client, outliers, marker):
    """A patient's sorted chart, and the default (part_ts, id) walk, whose windows come from the
    tenant's month partitions: the first and the last windows reach the overflow rows."""
    order = [outliers[n]["id"] for n in ("past", "inside", "future")]
    patient = f"Patient/{outliers['patient']['id']}"
    assert await found(client, "/Observation", patient=patient, _sort="-date") == order[::-1]
    assert await found(client, "/Observation", patient=patient, _sort="date", _count="1") == order
    assert await found(client, "/Observation", patient=patient, _count="1") == order
    assert await found(client, "/Observation", code=f"http://loinc.org|{marker}", _count="2") == order
    assert await found(client, "/Observation", patient=patient, date="gt1800", _count="1") == order


async def test_overflow_rows_are_updated_listed_in_history_and_deleted(client, owner, org, outliers):
    before = await owner.fetchrow(COUNT, str(org))
    obs = {**outliers["future"], "valueQuantity": {**outliers["future"]["valueQuantity"], "value": 80}}
    r = await client.put(f"/Observation/{obs['id']}", content=orjson.dumps(obs))
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"
    assert (await client.get(f"/Observation/{obs['id']}")).json()["valueQuantity"]["value"] == 80
    # moved to 1850: the row follows, still in the overflow, and no table is made
    moved = {**obs, "effectiveDateTime": "1850-07-07"}
    assert (await client.put(f"/Observation/{obs['id']}", content=orjson.dumps(moved))).status_code == 200
    assert await found(client, "/Observation", date="1850-07-07") == [obs["id"]]
    assert tuple(await owner.fetchrow(COUNT, str(org))) == tuple(before)
    history = (await client.get(f"/Observation/{obs['id']}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
    assert (await client.get(f"/Observation/{obs['id']}/_history/1")).json()["effectiveDateTime"] == "4321-01-01"
    past = outliers["past"]["id"]
    assert (await client.delete(f"/Observation/{past}")).status_code in (200, 204)
    assert (await client.get(f"/Observation/{past}")).status_code == 410
    assert await found(client, "/Observation", date="1850-03") == []
    assert await owner.fetchval("SELECT count(*) FROM observations_tok WHERE id = $1", past) == 0
    history = (await client.get("/Observation/_history", params={"_count": "50"})).json()
    assert {(e["request"]["method"], e["request"]["url"].split("/")[-1]) for e in history["entry"]} >= \
        {("DELETE", past), ("PUT", obs["id"])}


async def test_an_ongoing_encounter_waits_in_the_overflow_and_is_found_by_date(client, owner, org):
    """An open range is filed at the end of time (ids.PART_TS_MAX), now outside the window."""
    mark = uuid.uuid4().hex
    body = {**samples.encounter(start="2019-03-01T08:00:00Z"), "status": "in-progress",
            "identifier": [{"system": "urn:test", "value": mark}]}
    del body["period"]["end"]
    enc = await post(client, body)
    assert await owner.fetchval(WHERE.format("encounters"), enc["id"]) == f"encounters_o{org}_default"
    for date, hit in (("ge2026-01-01", True), ("gt2999", True), ("eb2019-03-01", False), ("lt2019-04", True)):
        assert await found(client, "/Encounter", identifier=f"urn:test|{mark}", date=date) == \
            ([enc["id"]] if hit else []), date


async def test_making_a_month_moves_its_rows_out_of_the_overflow(client, owner, org, marker):
    obs = await post(client, samples.observation(when="1860-02-10T00:00:00Z", code=marker))
    other = await post(client, samples.observation(when="1860-03-10T00:00:00Z", code=marker))
    tok = "SELECT DISTINCT tableoid::regclass::text FROM observations_tok WHERE id = $1"
    assert await owner.fetchval(WHERE.format("observations"), obs["id"]) == f"observations_o{org}_default"
    await owner.fetchval("SELECT fhir_ensure_month_partition('observations', $1, '1860-02-01')", org)
    assert await owner.fetchval(WHERE.format("observations"), obs["id"]) == f"observations_o{org}_1860m02"
    assert [r[0] for r in await owner.fetch(tok, obs["id"])] == [f"observations_tok_o{org}_1860m02"]
    assert await owner.fetchval(WHERE.format("observations"), other["id"]) == f"observations_o{org}_default"
    assert (await client.get(f"/Observation/{obs['id']}")).json() == obs
    assert await found(client, "/Observation", date="1860-02", code=f"http://loinc.org|{marker}") == [obs["id"]]
    assert await found(client, "/Observation", date="1860", code=f"http://loinc.org|{marker}") == \
        [obs["id"], other["id"]]


async def test_the_partitions_command_makes_months_outside_the_window_and_reports_the_overflow(
        client, owner, org, dsn):
    obs = await post(client, samples.observation(when="1870-05-05T00:00:00Z"))
    env = {**os.environ, "DATABASE_URL": dsn}
    run = subprocess.run([sys.executable, "-m", "fhirserver", "partitions", "--months-ahead", "1",
                          "--from", "1870-05"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "from 1870-05 to 1870-05" in run.stdout and f"tenant {SLUG}: rows outside" in run.stdout
    assert await owner.fetchval(WHERE.format("observations"), obs["id"]) == f"observations_o{org}_1870m05"
    assert (await client.get(f"/Observation/{obs['id']}")).status_code == 200


async def test_a_new_tenant_has_overflow_partitions_of_every_month_partitioned_table(owner, org):
    missing = await owner.fetch(
        "SELECT t FROM (SELECT unnest(ARRAY['observations', 'encounters', 'appointments', 'claims', "
        "'medication_requests', 'audit_events']) AS t UNION ALL SELECT side FROM fhir_side_tables "
        "WHERE parent IN ('observations', 'encounters', 'appointments', 'claims', 'medication_requests', "
        "'audit_events')) x WHERE to_regclass(format('%s_o%s_default', t, $1::int)) IS NULL", org)
    assert missing == []
    untimed = await owner.fetchval("SELECT to_regclass($1) IS NULL", f"patients_o{org}_default")
    assert untimed


async def test_migration_0006_gives_existing_tenants_their_overflow_partitions(pg_cluster):
    """A database made before 0006, with a tenant and its months: the upgrade adds the
    overflow partitions, and then a row of 4321 is kept, and moves into its month if made."""
    import asyncpg

    from fhirserver.bootstrap import ensure_database
    from fhirserver.db.migrate import available, migrate
    from fhirserver.db.partitions import create_tenant_partitions
    admin = await asyncpg.connect(pg_cluster.dsn())
    await admin.execute("DROP DATABASE IF EXISTS fhirupgrade WITH (FORCE)")
    conn = await asyncpg.connect(await ensure_database(pg_cluster.dsn(), "fhirupgrade"))
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                           "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for m in available():   # applied as `migrate` would have, before 0006 existed
            if m.version < 6:
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   m.version, m.name, m.checksum)
        org = await conn.fetchval("INSERT INTO tenants (slug, name) VALUES ('old', 'Old') RETURNING org_id")
        await create_tenant_partitions(conn, org, 1)
        overflow = f"observations_tok_o{org}_default"
        assert not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", overflow)
        assert [name for name in await migrate(conn) if name.startswith("0006")]
        assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", overflow)
        await conn.execute("INSERT INTO observations (org_id, id, part_ts, version_id, verb, last_updated, resource) "
                           "VALUES ($1, 'x', '4321-01-01', 1, 'c', now(), '{}')", org)
        assert await conn.fetchval(WHERE.format("observations"), "x") == f"observations_o{org}_default"
        await conn.fetchval("SELECT fhir_ensure_month_partition('observations', $1, '4321-01-15')", org)
        assert await conn.fetchval(WHERE.format("observations"), "x") == f"observations_o{org}_4321m01"
    finally:
        await conn.close()
        await admin.execute("DROP DATABASE IF EXISTS fhirupgrade WITH (FORCE)")
        await admin.close()
