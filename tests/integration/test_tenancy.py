"""No request can read or change another organisation's rows: every way we could think of.

Each tenant has its own URL base; the application filters on org_id, and
PostgreSQL row-level security checks it again beneath (migration 0001).
"""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from mappings import MAPPINGS
from tests import samples

ACME, GLOBEX = "/acme", "/globex"


@pytest.fixture(scope="module")
async def acme_patient(http) -> dict:
    p = samples.patient(family="Acmeson")
    r = await http.post(f"{ACME}/Patient", content=orjson.dumps(p))
    assert r.status_code == 201
    return r.json()


async def test_read_vread_history_patch_across_tenants_find_nothing(http, acme_patient):
    pid = acme_patient["id"]
    assert (await http.get(f"{ACME}/Patient/{pid}")).status_code == 200
    assert (await http.get(f"{GLOBEX}/Patient/{pid}")).status_code == 404
    assert (await http.get(f"{GLOBEX}/Patient/{pid}/_history/1")).status_code == 404
    assert (await http.get(f"{GLOBEX}/Patient/{pid}/_history")).status_code == 404
    r = await http.patch(f"{GLOBEX}/Patient/{pid}", content=b'[{"op":"remove","path":"/name"}]',
                         headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 404


async def test_type_history_and_search_across_tenants_find_nothing(http, acme_patient):
    history = (await http.get(f"{GLOBEX}/Patient/_history", params={"_count": "1000"})).json()
    assert acme_patient["id"] not in {e["fullUrl"].rsplit("/", 1)[1] for e in history.get("entry", [])}
    ident = acme_patient["identifier"][0]
    crit = {"identifier": f"{ident['system']}|{ident['value']}"}
    assert (await http.get(f"{ACME}/Patient", params=crit)).json()["entry"][0]["resource"]["id"] == acme_patient["id"]
    assert "entry" not in (await http.get(f"{GLOBEX}/Patient", params=crit)).json()
    assert (await http.get(f"{GLOBEX}/Patient", params={"_id": acme_patient["id"]})).status_code == 200


async def test_writes_aimed_at_another_tenant_never_touch_it(http, acme_patient):
    pid = acme_patient["id"]
    ident = acme_patient["identifier"][0]
    crit = {"identifier": f"{ident['system']}|{ident['value']}"}
    # PUT with the same id makes a resource of globex's own; acme's is untouched.
    body = {**samples.patient(family="Intruder"), "id": pid}
    assert (await http.put(f"{GLOBEX}/Patient/{pid}", content=orjson.dumps(body))).status_code == 201
    assert (await http.delete(f"{GLOBEX}/Patient/{pid}")).status_code == 200
    assert (await http.delete(f"{GLOBEX}/Patient", params=crit)).status_code == 204
    r = await http.put(f"{GLOBEX}/Patient", params=crit, content=orjson.dumps(samples.patient(family="Cond")))
    assert r.status_code == 201 and r.json()["id"] != pid
    r = await http.post(f"{GLOBEX}/Patient", content=orjson.dumps(samples.patient()),
                        headers={"If-None-Exist": f"identifier={crit['identifier']}"})
    assert r.status_code == 201
    mine = await http.get(f"{ACME}/Patient/{pid}")
    assert mine.status_code == 200 and mine.json() == acme_patient


async def test_references_cannot_reach_into_another_tenant(http, acme_patient):
    r = await http.post(f"{GLOBEX}/Observation", content=orjson.dumps(samples.observation(acme_patient["id"])))
    assert r.status_code == 422


async def test_rls_beneath_the_application(owner, acme_patient):
    """As the application role, with the wrong tenant or none, SQL without org filters sees nothing."""
    acme = await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'acme'")
    globex = await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'globex'")
    async with owner.transaction():
        await owner.execute("SET LOCAL ROLE fhir_app")
        await owner.execute(f"SET LOCAL fhir.org_id = '{globex}'")
        for m in MAPPINGS.values():
            assert await owner.fetchval(f"SELECT count(*) FROM {m.table} WHERE org_id = $1", acme) == 0
            assert await owner.fetchval(f"SELECT count(*) FROM {m.history_table} WHERE org_id = $1", acme) == 0
        assert await owner.fetchval("SELECT count(*) FROM patients WHERE id = $1", acme_patient["id"]) == 0
        assert await owner.fetchval("SELECT count(*) FROM resource_refs WHERE org_id = $1", acme) == 0
        assert await owner.fetchval("SELECT count(*) FROM id_directory WHERE org_id = $1", acme) == 0
    async with owner.transaction():
        await owner.execute("SET LOCAL ROLE fhir_app")
        assert await owner.fetchval("SELECT count(*) FROM patients") == 0   # no tenant set: no rows
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with owner.transaction():
            await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{globex}'")
            await owner.execute("INSERT INTO patients (org_id, id, version_id, last_updated, resource) "
                                "VALUES ($1, 'x', 1, now(), '{}')", acme)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with owner.transaction():
            await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{acme}'")
            await owner.fetchval(f"SELECT count(*) FROM patients_o{acme}")   # partitions are not granted
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{globex}'")
        changed = await owner.execute("UPDATE patients SET version_id = 99 WHERE id = $1", acme_patient["id"])
        assert changed == "UPDATE 0"


async def test_the_policy_costs_nothing_per_row(owner, acme_patient):
    """With the query's own org_id = $1 the planner turns the policy into a one-time filter."""
    acme = await owner.fetchval("SELECT org_id FROM tenants WHERE slug = 'acme'")
    async with owner.transaction():
        # enable_seqscan off: the question is whether RLS leaves the index usable at all
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{acme}'; "
                            "SET LOCAL enable_seqscan = off")
        plan = await owner.fetchval("EXPLAIN (FORMAT JSON) SELECT resource FROM patients "
                                    "WHERE org_id = $1 AND id = $2", acme, acme_patient["id"])
    text = orjson.dumps(orjson.loads(plan)).decode()
    assert "One-Time Filter" in text
    assert "Index Scan" in text


async def test_pooled_read_connections_switch_tenants_correctly(http, acme_patient):
    """Reads keep tenant settings per pooled connection; alternating tenants never cross over."""
    import asyncio
    pid = acme_patient["id"]
    results = await asyncio.gather(*[http.get(f"{ACME if i % 2 else GLOBEX}/Patient/{pid}") for i in range(40)])
    for i, r in enumerate(results):
        if i % 2:
            assert r.status_code == 200 and r.json() == acme_patient
        else:   # globex made and deleted a patient of that id earlier in this module: 410, never acme's
            assert r.status_code in (404, 410)


async def test_system_search_and_history_of_every_type_stay_in_the_tenant(http, acme_patient):
    """A type on the shared tables (a Condition) is as invisible to another tenant as a seed
    type: by id, by type search, by system search and by system history."""
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{acme_patient['id']}"},
                 "code": {"text": "acme only"}}
    made = await http.post(f"{ACME}/Condition", content=orjson.dumps(condition))
    assert made.status_code == 201
    cid = made.json()["id"]
    assert (await http.get(f"{GLOBEX}/Condition/{cid}")).status_code == 404

    def ids(bundle: dict) -> set[str]:   # of Conditions (globex has a Patient of acme's id: see above)
        return {e["resource"]["id"] for e in bundle.get("entry", [])
                if e.get("resource", {}).get("resourceType") == "Condition"}
    for path, params in ((f"{GLOBEX}/Condition", {"_id": cid}), (GLOBEX, {"_type": "Condition,Patient"}),
                         (GLOBEX, {"_id": cid}), (f"{GLOBEX}/_history", {"_count": "1000"}),
                         (f"{GLOBEX}/_search", None)):
        r = await (http.post(path, data={"_type": "Condition"}) if params is None else http.get(path, params=params))
        assert r.status_code == 200, r.text
        assert cid not in ids(r.json()), path
    assert cid in ids((await http.get(ACME, params={"_type": "Condition", "_id": cid})).json())
    assert cid in ids((await http.get(f"{ACME}/_history", params={"_count": "1000"})).json())
