"""Partitioning: reads by id probe one partition, date searches prune, partitions appear on demand."""

from __future__ import annotations

import uuid

import orjson
import pytest

from fhirserver import ids
from fhirserver.db import resources
from mappings import MAPPINGS
from mappings.sql import statements
from searchparams import pipeline
from searchparams.cursor import encode_token
from searchparams.parse import parse
from searchparams.plan import PageSpec, plan_page
from searchparams.sqlgen.select import compile_page
from tests import samples
from tests.integration.test_crud import create

OBS = MAPPINGS["Observation"]
SPREAD_CODE = f"spread-{uuid.uuid4().hex[:8]}"   # the default tenant is shared with other modules


def _scanned(plan_json: str) -> set[str]:
    """Names of the relations a plan reads."""
    found = set()

    def walk(node):
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(orjson.loads(plan_json)[0]["Plan"])
    return found


async def _explain(owner, org_id: int, sql: str, *params) -> set[str]:
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{org_id}'")
        return _scanned(await owner.fetchval("EXPLAIN (FORMAT JSON) " + sql, *params))


@pytest.fixture(scope="module")
async def spread(fhir) -> list[dict]:
    """Observations in many different months, so pruning has something to prune."""
    out = []
    for year in range(2019, 2025):
        for month in (1, 4, 7, 10):
            out.append(await create(fhir, samples.observation(when=f"{year}-{month:02d}-15T12:00:00Z",
                                                              code=SPREAD_CODE)))
    return out


async def default_org(owner) -> int:
    return await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'default'")


async def test_read_by_server_id_probes_exactly_one_partition(owner, spread):
    org = await default_org(owner)
    target = spread[5]
    month = ids.month_of(target["id"])
    lo, hi = ids.month_start(month), ids.month_start(month + 1)
    scanned = await _explain(owner, org, statements(OBS).read, org, target["id"], lo, hi)
    assert scanned == {f"observations_o{org}_{lo:%Y}m{lo:%m}"}
    partitions = await owner.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass",
                                      f"observations_o{org}")
    assert partitions >= len(spread)


async def test_read_by_client_id_goes_through_the_directory_to_one_partition(fhir, owner, spread):
    org = await default_org(owner)
    obs = {**samples.observation(when="2021-07-04T00:00:00Z"), "id": "client-obs-42"}
    assert (await fhir.put("/Observation/client-obs-42", content=orjson.dumps(obs))).status_code == 201
    at = await owner.fetchval("SELECT part_ts FROM id_directory WHERE id = 'client-obs-42'")
    month = ids.month_index(at)
    scanned = await _explain(owner, org, statements(OBS).read, org, "client-obs-42",
                             ids.month_start(month), ids.month_start(month + 1))
    assert scanned == {f"observations_o{org}_2021m07"}


async def test_date_bounded_search_prunes_time_partitions(owner, spread):
    org = await default_org(owner)
    # a code without system is answered by the side table, whose months must be pruned too
    search = parse("Observation", [("date", "2021-04"), ("code", "29463-7")], strict=True)
    q = compile_page(OBS, search, plan_page(OBS, search, PageSpec(org, 10)))
    assert q.params[1:3] == (ids.month_start(ids.month_index(search.clauses[0].values[0].start)),
                             ids.month_start(ids.month_index(search.clauses[0].values[0].start) + 1))
    scanned = await _explain(owner, org, q.sql, *q.params)
    assert scanned == {f"observations_o{org}_2021m04", f"observations_tok_o{org}_2021m04"}
    year = parse("Observation", [("date", "2023")], strict=True)
    q = compile_page(OBS, year, plan_page(OBS, year, PageSpec(org, 10)))
    scanned = await _explain(owner, org, q.sql, *q.params)
    # months of 2023 with no partition (gaps) are read from the overflow partition
    assert scanned and all("_2023m" in name or name.endswith("_default") for name in scanned)


async def test_searches_that_cannot_bound_the_month_stay_correct(fhir, spread):
    r = await fhir.get("/Observation", params={"date": "lt2019-02-01", "_count": "1000"})
    found = {e["resource"]["id"] for e in r.json().get("entry", [])}
    assert spread[0]["id"] in found and spread[1]["id"] not in found


async def test_partitions_are_created_on_demand_and_extreme_dates_are_clamped(fhir, owner):
    """Within the clinical window months appear on demand; outside it (before 1900 here) rows
    go to the tenant's overflow partition (tests/integration/test_clinical_window.py)."""
    org = await default_org(owner)
    recent = await create(fhir, samples.observation(when="1951-03-02"))
    assert await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", f"observations_o{org}_1951m03")
    old = await create(fhir, samples.observation(when="1851-03-02"))
    assert not await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", f"observations_o{org}_1851m03")
    ancient = await create(fhir, samples.observation(when="1700-01-01"))
    where = await owner.fetchval("SELECT tableoid::regclass::text FROM observations WHERE id = $1", ancient["id"])
    assert where == f"observations_o{org}_default"
    assert (await fhir.get(f"/Observation/{recent['id']}")).status_code == 200
    assert (await fhir.get(f"/Observation/{old['id']}")).status_code == 200
    r = await fhir.get("/Observation", params={"date": "1700"})
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [ancient["id"]]


async def encounter_ids(fhir, marker: str, date: str) -> list[str]:
    """Ids of the Encounters with identifier urn:test|marker that match `date`."""
    r = await fhir.get("/Encounter", params={"identifier": f"urn:test|{marker}", "date": date})
    assert r.status_code == 200, r.text
    return [e["resource"]["id"] for e in r.json().get("entry", [])]


async def test_an_ongoing_encounter_is_filed_at_the_end_of_time_and_moves_when_it_ends(fhir, owner):
    """A range is filed by its last instant (mappings/base.py): an open one at the last instant a
    server id can name (outside the clinical window: in the overflow partition), so that date=ge
    searches, which prune the months before their date, still find it; when it ends, its row
    moves to the month it ended in."""
    org = await default_org(owner)
    marker = uuid.uuid4().hex
    body = {**samples.encounter(start="2019-03-01T08:00:00Z"), "status": "in-progress",
            "identifier": [{"system": "urn:test", "value": marker}]}
    del body["period"]["end"]
    enc = await create(fhir, body)
    where = "SELECT tableoid::regclass::text FROM encounters WHERE id = $1"
    assert await owner.fetchval(where, enc["id"]) == f"encounters_o{org}_default"   # outside the window
    assert await encounter_ids(fhir, marker, "ge2026-01-01") == [enc["id"]]
    assert await encounter_ids(fhir, marker, "gt2999") == [enc["id"]]
    assert await encounter_ids(fhir, marker, "eb2019-03-01") == []
    # It ends: a new version whose row lives in the month of its end, found through the directory.
    ended = {**enc, "status": "finished", "period": {"start": "2019-03-01T08:00:00Z", "end": "2024-05-20T10:00:00Z"}}
    r = await fhir.put(f"/Encounter/{enc['id']}", content=orjson.dumps(ended))
    assert r.status_code == 200, r.text
    assert await owner.fetchval(where, enc["id"]) == f"encounters_o{org}_2024m05"
    read = await fhir.get(f"/Encounter/{enc['id']}")
    assert read.status_code == 200 and read.json()["meta"]["versionId"] == "2"
    assert (await fhir.get(f"/Encounter/{enc['id']}/_history/1")).json()["status"] == "in-progress"
    assert await encounter_ids(fhir, marker, "ge2026-01-01") == []
    assert await encounter_ids(fhir, marker, "ge2024-05-19") == [enc["id"]]
    assert await encounter_ids(fhir, marker, "gt2020") == [enc["id"]]
    assert await encounter_ids(fhir, marker, "eb2024-06") == [enc["id"]]
    assert await encounter_ids(fhir, marker, "lt2019-04") == [enc["id"]]   # no bounds: still found


async def test_a_resource_without_clinical_time_stays_where_its_first_write_filed_it(fhir, owner):
    """No clinical time: filed by the write time of its creation, and kept there by updates and
    patches (moving the row on every write would rewrite it and grow the id directory)."""
    body = samples.observation()
    del body["effectiveDateTime"]
    obs = await create(fhir, body)
    where = "SELECT part_ts FROM observations WHERE id = $1"
    filed = await owner.fetchval(where, obs["id"])
    r = await fhir.put(f"/Observation/{obs['id']}", content=orjson.dumps({**obs, "status": "amended"}))
    assert r.status_code == 200, r.text
    patch = b'[{"op": "replace", "path": "/status", "value": "corrected"}]'
    r = await fhir.patch(f"/Observation/{obs['id']}", content=patch,
                         headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert await owner.fetchval(where, obs["id"]) == filed
    assert await owner.fetchval("SELECT count(*) FROM id_directory WHERE id = $1", obs["id"]) == 0
    dated = {**r.json(), "effectiveDateTime": "2021-07-04T10:00:00Z"}   # a clinical time at last: filed by it
    assert (await fhir.put(f"/Observation/{obs['id']}", content=orjson.dumps(dated))).status_code == 200
    assert (await owner.fetchval(where, obs["id"])).year == 2021


async def test_months_ahead_exist_for_a_new_tenant(owner):
    org = await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'globex'")
    now = resources.now()
    name = f"appointments_o{org}_{now:%Y}m{now:%m}"
    assert await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", name)


async def test_concurrent_writes_into_a_new_month_all_land(fhir):
    import asyncio
    results = await asyncio.gather(*[
        fhir.post("/Observation", content=orjson.dumps(samples.observation(when="1999-09-09T09:09:09Z")))
        for _ in range(12)])
    assert [r.status_code for r in results] == [201] * 12


async def test_the_server_keeps_months_ahead_for_every_tenant(owner, dsn):
    """A tenant whose month partitions were never made gets them from the background task."""
    import asyncio
    from datetime import timedelta

    import asyncpg

    from fhirserver.db.partitions import create_org_partitions, keep_months_ahead
    org = await owner.fetchval("INSERT INTO tenants (slug, name) VALUES ('bare', 'Bare') RETURNING org_id")
    await create_org_partitions(owner, org)
    soon = resources.now().replace(day=1) + timedelta(days=40)
    name = f"claims_o{org}_{soon:%Y}m{soon:%m}"
    assert not await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    task = asyncio.create_task(keep_months_ahead(pool, months_ahead=2))
    try:
        for _ in range(100):
            if await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
                break
            await asyncio.sleep(0.1)
        assert await owner.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
    finally:
        task.cancel()
        await pool.close()


def _executed(plan_json: str) -> set[str]:
    """Relations an EXPLAIN ANALYZE plan actually read (run-time pruning skips the rest)."""
    found = set()

    def walk(node):
        if "Relation Name" in node and node.get("Actual Loops", 0) > 0:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(orjson.loads(plan_json)[0]["Plan"])
    return found


async def _pages(fhir, params: dict, on_first_page=None) -> list[dict]:
    seen, url = [], "/Observation"
    while url:
        bundle = (await fhir.get(url, params=params)).json()
        seen += [e["resource"] for e in bundle.get("entry", [])]
        if on_first_page is not None:
            await on_first_page()
            on_first_page = None
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix("http://fhir.test/default"), None) if nxt else (None, None)
    return seen


async def test_default_paging_walks_months_in_time_order_and_misses_no_new_month(fhir, owner, spread):
    mine = f"walk-{uuid.uuid4().hex[:8]}"   # the default tenant is shared with other modules
    code = f"http://loinc.org|{mine}"
    early = await create(fhir, samples.observation(when="2019-02-01T00:00:00Z", code=mine))
    later = []

    async def add_rows():
        # after the first page: one in a month made only now (the server's month list is
        # cached), one in a month the walk has not reached, one before the cursor
        for when in ("2091-06-01T00:00:00Z", "2022-08-08T00:00:00Z", "2019-01-05T00:00:00Z"):
            later.append(await create(fhir, samples.observation(when=when, code=mine)))
    for when in ("2020-05-05T00:00:00Z", "2020-05-06T00:00:00Z", "2021-11-11T00:00:00Z", "2023-03-03T00:00:00Z"):
        await create(fhir, samples.observation(when=when, code=mine))
    # warm the month cache before the new month exists
    assert (await fhir.get("/Observation", params={"code": code})).status_code == 200
    seen = await _pages(fhir, {"code": code, "_count": "2"}, add_rows)
    ids_seen = [r["id"] for r in seen]
    assert len(ids_seen) == len(set(ids_seen)) == 7
    assert early["id"] == ids_seen[0] and later[0]["id"] == ids_seen[-1] and later[1]["id"] in ids_seen
    assert later[2]["id"] not in ids_seen   # sorts before the cursor: the pages do not shift
    times = [r["effectiveDateTime"] for r in seen]
    assert times == sorted(times)


async def test_a_walk_driven_by_a_side_table_reference_pages_in_time_order(fhir, owner, spread):
    """Observation.performer lives in the reference side table: its rows drive each month window
    (searchparams/plan.py, `side_driver`); pages must still be complete, in order, and a
    performer listed twice must not repeat a row."""
    who = (await create(fhir, {"resourceType": "Practitioner", "name": [{"family": "Walker"}]}))["id"]
    ref = {"reference": f"Practitioner/{who}"}
    times = ["2019-02-01T00:00:00Z", "2020-05-05T00:00:00Z", "2020-05-06T00:00:00Z", "2021-11-11T00:00:00Z",
             "2023-03-03T00:00:00Z"]
    made = [await create(fhir, samples.observation(when=t, performer=[ref, ref] if i == 2 else [ref]))
            for i, t in enumerate(times)]
    await create(fhir, samples.observation(when="2020-05-07T00:00:00Z"))   # no performer
    bundle = (await fhir.get("/Observation", params={"performer": f"Practitioner/{who}", "_explain": "true"})).json()
    assert "driven by filter" in orjson.dumps(bundle).decode()
    seen = await _pages(fhir, {"performer": f"Practitioner/{who}", "_count": "2"})
    assert [r["id"] for r in seen] == [r["id"] for r in made]


async def test_a_page_in_the_middle_reads_only_its_own_months(fhir, owner, spread):
    org = await default_org(owner)
    middle = encode_token([{"ts": "2021-03-01T00:00:00+00:00"}, ""])
    items = (("code", f"http://loinc.org|{SPREAD_CODE}"), ("_count", "2"), ("_cursor", middle))
    query = pipeline.prepare(pipeline.SearchRequest(OBS, org, items))
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{org}'")
        q = await pipeline.page_statement(owner, query)
        read = _executed(await owner.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + q.sql, *q.params))
    # run-time pruning: no month before the cursor is read (the sort above the loop reads
    # ahead at least 32 rows, so with 24 rows in all the later months are all read)
    assert read and all(name.rsplit("_", 1)[-1] >= "2021m03" for name in read), read
    assert f"observations_o{org}_2021m04" in read


async def test_a_cursor_of_another_search_shape_is_refused(fhir, spread):
    for cursor in (["an-id"], [{"ts": "2021-01-01T00:00:00+00:00"}], ["2021-01-01", "an-id"]):
        r = await fhir.get("/Observation", params={"_cursor": encode_token(cursor)})
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", cursor
    # the right number of keys, a forged type: still a 400, never a value of the wrong type in SQL
    for cursor in (["1970-01-01", "p9"], [{"a": 1, "b": 2}, "p9"], [[1], "p9"], [True, "p9"], [7, "p9"]):
        r = await fhir.get("/Patient", params={"_sort": "-birthdate", "_cursor": encode_token(cursor)})
        assert r.status_code == 400 and r.json()["issue"][0]["details"]["coding"][0]["code"] == "PAGE-CURSOR", cursor
    for cursor in ([{"d": "1970-01-01"}, "p9"], [None, "p9"]):   # what the server itself issues
        r = await fhir.get("/Patient", params={"_sort": "-birthdate", "_cursor": encode_token(cursor)})
        assert r.status_code == 200, (cursor, r.text)


async def test_a_chart_lookup_runs_on_a_generic_plan_and_leaves_the_connection_custom(app, owner, spread):
    from fhirserver.db.pools import Route
    from fhirserver.db.tenancy import tenant_read
    org = await default_org(owner)
    db = app.state.services.db
    query = pipeline.prepare(pipeline.SearchRequest(OBS, org, (("patient", "Patient/nobody"), ("_count", "5"))))
    async with tenant_read(db, Route.READ, org) as conn:
        for _ in range(2):
            await pipeline.fetch_page(conn, query)
        q = await pipeline.page_statement(conn, query)
        counts = await conn.fetchrow("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                     "WHERE statement = $1", q.sql)
        assert counts["generic_plans"] >= 2 and counts["custom_plans"] == 0
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
