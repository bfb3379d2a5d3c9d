"""Search indexes are rebuilt from the stored resources when their definition changes."""

from __future__ import annotations

import orjson

from fhirserver.db.reindex import ensure_current, reindex_all, signature
from tests import samples


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
