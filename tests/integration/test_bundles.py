"""batch and transaction Bundles (http.html#transaction)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson

from tests import samples

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea"


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def tx(*entries, kind: str = "transaction") -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": list(entries)})


def post(resource: dict, full_url: str | None = None, **request) -> dict:
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


async def counts(owner) -> tuple[int, int]:
    return (await owner.fetchval("SELECT count(*) FROM patients"),
            await owner.fetchval("SELECT count(*) FROM observations"))


async def test_transaction_resolves_urn_uuid_references_in_any_order(fhir):
    p_urn = urn()
    r = await fhir.post("", content=tx(post(samples.observation(), urn(), ) | {
        "resource": {**samples.observation(), "subject": {"reference": p_urn}}},
        post(samples.patient(family="Urn"), p_urn)))
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "transaction-response"
    obs, pat = (e["resource"] for e in bundle["entry"])
    assert obs["subject"]["reference"] == f"Patient/{pat['id']}"
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "201 Created"]
    assert bundle["entry"][1]["response"]["location"].endswith(f"/Patient/{pat['id']}/_history/1")
    assert bundle["entry"][1]["response"]["lastModified"] == pat["meta"]["lastUpdated"]
    assert (await fhir.get(f"/Observation/{obs['id']}")).json()["subject"]["reference"] == f"Patient/{pat['id']}"


async def test_a_failing_entry_rolls_back_the_whole_transaction(fhir, owner):
    before = await counts(owner)
    r = await fhir.post("", content=tx(post(samples.patient()),
                                       post({"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}})))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.status"]
    assert await counts(owner) == before


async def test_a_dangling_reference_fails_the_transaction(fhir, owner):
    before = await counts(owner)
    r = await fhir.post("", content=tx(post(samples.patient()), post(samples.observation("no-such-patient"))))
    assert r.status_code == 422
    assert await counts(owner) == before


async def test_processing_order_and_conditional_create(fhir):
    existing = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Existing")))).json()
    ident = existing["identifier"][0]
    crit = f"identifier={ident['system']}|{ident['value']}"
    p_urn = urn()
    r = await fhir.post("", content=tx(
        {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
        post({**samples.observation(), "subject": {"reference": p_urn}}),
        post(existing | {"id": None} if False else samples.patient(family="Ignored"), p_urn, ifNoneExist=crit),
    ))
    assert r.status_code == 200, r.text
    get, obs, pat = r.json()["entry"]
    assert pat["response"]["status"] == "200 OK" and pat["resource"]["id"] == existing["id"]
    assert obs["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert get["response"]["status"] == "200 OK"


async def test_conditional_references(fhir):
    pat = (await fhir.post("/Patient", content=orjson.dumps(samples.patient()))).json()
    ident = pat["identifier"][0]
    ref = f"Patient?identifier={ident['system']}|{ident['value']}"
    r = await fhir.post("", content=tx(post({**samples.observation(), "subject": {"reference": ref}})))
    assert r.status_code == 200
    assert r.json()["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pat['id']}"
    none = await fhir.post("", content=tx(post({**samples.observation(), "subject": {
        "reference": "Patient?identifier=urn:none|x"}})))
    assert none.status_code == 400
    for _ in range(2):
        await fhir.post("/Organization", content=orjson.dumps(samples.organization(name="Twin Labs")))
    many = await fhir.post("", content=tx(post({"resourceType": "Location", "name": "L",
                                                "managingOrganization": {"reference": "Organization?name=Twin Labs"}})))
    assert many.status_code == 412


async def test_update_delete_and_patch_in_one_transaction(fhir):
    a = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="A")))).json()
    b = (await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="B")))).json()
    import base64
    patch = base64.b64encode(b'[{"op": "replace", "path": "/gender", "value": "other"}]').decode()
    r = await fhir.post("", content=tx(
        {"resource": {**a, "name": [{"family": "A2"}]}, "request": {"method": "PUT", "url": f"Patient/{a['id']}",
                                                                     "ifMatch": 'W/"1"'}},
        {"request": {"method": "DELETE", "url": f"Patient/{b['id']}"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
         "request": {"method": "PATCH", "url": f"Patient/{a['id']}"}},
    ))
    assert r.status_code == 200, r.text
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["200 OK", "200 OK", "200 OK"]
    final = (await fhir.get(f"/Patient/{a['id']}")).json()
    assert final["name"][0]["family"] == "A2" and final["gender"] == "other" and final["meta"]["versionId"] == "3"
    assert (await fhir.get(f"/Patient/{b['id']}")).status_code == 410


async def test_batch_entries_fail_alone(fhir):
    r = await fhir.post("", content=tx(post(samples.patient()), post({"resourceType": "Patient", "gender": "x"}),
                                       {"request": {"method": "GET", "url": "Patient/nope"}}, kind="batch"))
    assert r.status_code == 200
    entries = r.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "400 Bad Request", "404 Not Found"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


async def test_concurrent_transactions_with_if_match_one_wins(fhir):
    p = (await fhir.post("/Patient", content=orjson.dumps(samples.patient()))).json()

    def body(n: int) -> bytes:
        return tx({"resource": {**p, "name": [{"family": f"T{n}"}]},
                   "request": {"method": "PUT", "url": f"Patient/{p['id']}", "ifMatch": 'W/"1"'}},
                  post(samples.patient(family=f"Side{n}")))
    results = await asyncio.gather(*[fhir.post("", content=body(n)) for n in range(4)])
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412]
    winner = next(r for r in results if r.status_code == 200)
    side = winner.json()["entry"][1]["resource"]["name"][0]["family"]
    found = (await fhir.get("/Patient", params={"family": "side"})).json().get("entry", [])
    assert [e["resource"]["name"][0]["family"] for e in found] == [side]   # losers left nothing behind
