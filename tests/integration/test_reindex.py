"""Search indexes are rebuilt from the stored resources when their definition changes."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import orjson

from fhirserver import ids
from fhirserver.db.reindex import ensure_current, reindex_all, signature
from searchparams import catalog
from tests import samples
from tests.integration.test_partitions import encounter_ids


async def test_reindex_restores_side_rows_and_hot_columns(fhir, owner):
    created = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Reindexed")))).json()
    obs = (await fhir.post("/Observation", content=orjson.dumps(samples.observation(created["id"])))).json()
    await owner.execute("DELETE FROM patients_str WHERE id = $1", created["id"])
    await owner.execute("UPDATE observations SET subject = NULL WHERE id = $1", obs["id"])
    assert "entry" not in (await fhir.get("/Patient", params={"family": "reindexed"})).json()
    assert await reindex_all(owner) >= 2
    found = (await fhir.get("/Patient", params={"family": "reindexed"})).json()["entry"]
    assert [e["resource"]["id"] for e in found] == [created["id"]]
    assert await owner.fetchval("SELECT subject FROM observations WHERE id = $1", obs["id"]) == \
        f"Patient/{created['id']}"


async def test_a_changed_index_definition_triggers_a_rebuild(owner):
    assert await ensure_current(owner) is None   # the suite's database is current
    await owner.execute("UPDATE fhir_index_state SET signature = 'old'")
    assert await ensure_current(owner) >= 1
    assert await owner.fetchval("SELECT signature FROM fhir_index_state") == signature()


async def test_reindex_refiles_a_row_the_old_rule_filed_by_its_start(fhir, owner):
    """Before ranges were filed by their last instant, an encounter lived in the month it began;
    a "since" search now prunes that month. Reindexing moves the row, its side rows and its
    directory entry to where the search looks."""
    marker = uuid.uuid4().hex
    body = {**samples.encounter(start="2019-01-10T08:00:00Z"), "identifier": [{"system": "urn:test", "value": marker}]}
    body["period"]["end"] = "2020-06-02T08:00:00Z"
    enc = (await fhir.post("/Encounter", content=orjson.dumps(body))).json()
    org = await owner.fetchval("SELECT org_id FROM encounters WHERE id = $1", enc["id"])
    old = datetime(2019, 1, 10, 8, tzinfo=timezone.utc)   # the period's start
    await owner.fetchval("SELECT fhir_ensure_month_partition('encounters', $1, $2)", org, old)
    async with owner.transaction():
        for table in ["encounters"] + [f"encounters_{kind}" for kind in catalog.kinds("Encounter")]:
            await owner.execute(f"UPDATE {table} SET part_ts = $2 WHERE id = $1", enc["id"], old)
        await owner.execute("INSERT INTO id_directory (org_id, resource_type, id, part_ts) "
                            "VALUES ($1, 'Encounter', $2, $3)", org, enc["id"], ids.month_start(ids.month_index(old)))

    assert await encounter_ids(fhir, marker, "ge2020-03") == []     # the old filing, pruned away
    assert await reindex_all(owner) >= 1
    assert await encounter_ids(fhir, marker, "ge2020-03") == [enc["id"]]
    assert await owner.fetchval("SELECT tableoid::regclass::text FROM encounters WHERE id = $1", enc["id"]) == \
        f"encounters_o{org}_2020m06"
    assert await owner.fetchval("SELECT count(*) FROM id_directory WHERE id = $1", enc["id"]) == 0
    assert (await fhir.get(f"/Encounter/{enc['id']}")).status_code == 200
    assert await encounter_ids(fhir, marker, "eq2019-01-10") == []
    assert await encounter_ids(fhir, marker, "sa2018") == [enc["id"]]
