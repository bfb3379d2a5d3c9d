"""Search indexes are rebuilt from the stored resources when their definition changes."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import orjson

from fhirserver import ids
from fhirserver.db.reindex import (
    _legacy_signature,
    ensure_current,
    filing_signature,
    reindex_all,
    signature,
    state,
    type_signature,
)
from mappings import MAPPINGS
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
    assert await owner.fetchval("SELECT signature FROM fhir_index_state") == state()


async def test_a_changed_type_rewrites_that_type_alone(fhir, owner):
    patient = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Retyped")))).json()
    obs = (await fhir.post("/Observation", content=orjson.dumps(samples.observation(patient["id"])))).json()
    xmin = "SELECT xmin::text FROM {} WHERE id = $1"
    before = {t: await owner.fetchval(xmin.format(t), i) for t, i in (("patients", patient["id"]),
                                                                     ("observations", obs["id"]))}
    recorded = state().replace(f"Patient={type_signature('Patient')}", "Patient=changed")
    await owner.execute("UPDATE fhir_index_state SET signature = $1", recorded)
    assert await ensure_current(owner) == await owner.fetchval("SELECT count(*) FROM patients")
    assert await owner.fetchval(xmin.format("patients"), patient["id"]) != before["patients"]
    assert await owner.fetchval(xmin.format("observations"), obs["id"]) == before["observations"]
    assert await owner.fetchval("SELECT signature FROM fhir_index_state") == state()


async def test_a_legacy_signature_that_still_holds_rewrites_nothing(owner):
    await owner.execute("UPDATE fhir_index_state SET signature = $1", f"{_legacy_signature()}/{filing_signature()}")
    assert await ensure_current(owner) == 0
    assert await owner.fetchval("SELECT signature FROM fhir_index_state") == state()
    assert signature().count("=") == len(MAPPINGS)


async def _filed_by_start(fhir, owner) -> tuple[str, str, int]:
    """An encounter of 2019-01 to 2020-06 whose row, side rows and directory entry are put back
    where the rule before ranges were filed by their end left them (its start's month):
    (marker, id, org)."""
    marker = uuid.uuid4().hex
    body = {**samples.encounter(start="2019-01-10T08:00:00Z"), "identifier": [{"system": "urn:test", "value": marker}]}
    body["period"]["end"] = "2020-06-02T08:00:00Z"
    enc = (await fhir.post("/Encounter", content=orjson.dumps(body))).json()
    org = await owner.fetchval("SELECT org_id FROM encounters WHERE id = $1", enc["id"])
    old = datetime(2019, 1, 10, 8, tzinfo=timezone.utc)   # the period's start
    await owner.fetchval("SELECT fhir_ensure_month_partition('encounters', $1, $2)", org, old)
    async with owner.transaction():
        for table in ["encounters"] + [f"encounters_{kind}" for kind in catalog.tables("Encounter")]:
            await owner.execute(f"UPDATE {table} SET part_ts = $2 WHERE id = $1", enc["id"], old)
        await owner.execute("INSERT INTO id_directory (org_id, resource_type, id, part_ts) "
                            "VALUES ($1, 'Encounter', $2, $3)", org, enc["id"], ids.month_start(ids.month_index(old)))
    assert await encounter_ids(fhir, marker, "ge2020-03") == []     # the old filing, pruned away
    return marker, enc["id"], org


async def test_a_changed_filing_alone_moves_only_the_rows_it_concerns(fhir, owner):
    marker, enc_id, org = await _filed_by_start(fhir, owner)
    patient = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Unmoved")))).json()
    xmin = "SELECT xmin::text FROM patients WHERE id = $1"
    before = await owner.fetchval(xmin, patient["id"])
    await owner.execute("UPDATE fhir_index_state SET signature = $1", f"{signature()}/old")
    assert await ensure_current(owner) >= 1
    assert await encounter_ids(fhir, marker, "ge2020-03") == [enc_id]
    assert await owner.fetchval(xmin, patient["id"]) == before     # not rewritten
    assert await owner.fetchval("SELECT signature FROM fhir_index_state") == state()
    assert await ensure_current(owner) is None


async def test_reindex_refiles_a_row_the_old_rule_filed_by_its_start(fhir, owner):
    """Before ranges were filed by their last instant, an encounter lived in the month it began;
    a "since" search now prunes that month. Reindexing moves the row, its side rows and its
    directory entry to where the search looks."""
    marker, enc_id, org = await _filed_by_start(fhir, owner)
    assert await reindex_all(owner) >= 1
    assert await encounter_ids(fhir, marker, "ge2020-03") == [enc_id]
    assert await owner.fetchval("SELECT tableoid::regclass::text FROM encounters WHERE id = $1", enc_id) == \
        f"encounters_o{org}_2020m06"
    assert await owner.fetchval("SELECT count(*) FROM id_directory WHERE id = $1", enc_id) == 0
    assert (await fhir.get(f"/Encounter/{enc_id}")).status_code == 200
    assert await encounter_ids(fhir, marker, "eq2019-01-10") == []
    assert await encounter_ids(fhir, marker, "sa2018") == [enc_id]


async def test_reindex_keeps_references_to_this_server_relative(fhir, owner, settings):
    """A reference written as this tenant's absolute URL is indexed as `Type/id` on create;
    a rebuild must index it the same way, in bound columns and side tables alike."""
    patient = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Absolute")))).json()
    url = f"{settings.public_base_url}/default/Patient/{patient['id']}"
    obs = samples.observation(None, subject={"reference": url}, performer=[{"reference": url}])
    made = (await fhir.post("/Observation", content=orjson.dumps(obs))).json()

    async def found() -> dict[str, list[str]]:
        out = {}
        for code in ("subject", "performer"):
            bundle = (await fhir.get("/Observation", params={code: f"Patient/{patient['id']}"})).json()
            out[code] = [e["resource"]["id"] for e in bundle.get("entry", ())]
        return out

    assert await found() == {"subject": [made["id"]], "performer": [made["id"]]}
    assert await reindex_all(owner, public_base_url=settings.public_base_url) >= 1
    assert await found() == {"subject": [made["id"]], "performer": [made["id"]]}
