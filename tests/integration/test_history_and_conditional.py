"""History (instance and type level, _since, _count, paging) and the conditional interactions."""

from __future__ import annotations

import asyncio

import orjson

from searchparams.cursor import encode_token
from tests import samples
from tests.integration.test_crud import create


async def _pages(fhir, url: str, params: dict) -> list[dict]:
    """Follow next links; return all entries."""
    entries = []
    r = await fhir.get(url, params=params)
    while True:
        bundle = r.json()
        assert bundle["type"] == "history"
        entries += bundle.get("entry", [])
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return entries
        r = await fhir.get(nxt[0].removeprefix("http://fhir.test/default"))


async def test_instance_history_is_newest_first_and_pages(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    for family in ("B", "C", "D", "E"):
        body = {**samples.patient(family=family), "id": pid}
        assert (await fhir.put(f"/Patient/{pid}", content=orjson.dumps(body))).status_code == 200
    entries = await _pages(fhir, f"/Patient/{pid}/_history", {"_count": "2"})
    assert [e["resource"]["meta"]["versionId"] for e in entries] == ["5", "4", "3", "2", "1"]
    assert entries[-1]["request"] == {"method": "POST", "url": "Patient"}
    assert entries[0]["response"]["etag"] == 'W/"5"'


async def test_instance_history_since(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    second = await fhir.put(f"/Patient/{pid}", content=orjson.dumps({**samples.patient(), "id": pid}))
    since = second.json()["meta"]["lastUpdated"]
    r = await fhir.get(f"/Patient/{pid}/_history", params={"_since": since})
    assert [e["resource"]["meta"]["versionId"] for e in r.json()["entry"]] == ["2"]
    assert (await fhir.get(f"/Patient/{pid}/_history", params={"_since": "yesterday"})).status_code == 400


async def test_history_of_an_unknown_resource_is_404(fhir):
    assert (await fhir.get("/Patient/nobody-here/_history")).status_code == 404


async def test_type_history_sees_every_version_once(fhir):
    start = (await create(fhir, samples.practitioner(family="HistStart")))["meta"]["lastUpdated"]
    a = (await create(fhir, samples.practitioner(family="A")))["id"]
    b = (await create(fhir, samples.practitioner(family="B")))["id"]
    await fhir.put(f"/Practitioner/{a}", content=orjson.dumps({**samples.practitioner("A2"), "id": a}))
    await fhir.delete(f"/Practitioner/{b}")
    entries = await _pages(fhir, "/Practitioner/_history", {"_since": start, "_count": "2"})
    seen = [(e["fullUrl"].rsplit("/", 1)[1], e["response"]["etag"]) for e in entries]
    assert (a, 'W/"1"') in seen and (a, 'W/"2"') in seen and (b, 'W/"1"') in seen and (b, 'W/"2"') in seen
    assert len(seen) == len(set(seen))
    stamps = [e["response"]["lastModified"] for e in entries]
    assert stamps == sorted(stamps, reverse=True)


async def test_forged_history_cursors_are_400_not_500(fhir):
    made = await create(fhir, samples.patient())
    forged = [[1, 2], "x", True, -1, ["2024-01-01", "id", 1], ["2024-01-01T00:00:00+00:00", 5, 1],
              ["not a time", "id", 1], ["2024-01-01T00:00:00+00:00", "id", "1"], {"a": 1}]
    for value in forged:
        cursor = encode_token(value)
        for path in (f"/Patient/{made['id']}/_history", "/Patient/_history"):
            r = await fhir.get(path, params={"_cursor": cursor})
            assert r.status_code == 400, (path, value, r.text)
            assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "PAGE-CURSOR"


async def test_conditional_create(fhir):
    p = samples.patient()
    ident = f"{p['identifier'][0]['system']}|{p['identifier'][0]['value']}"
    first = await fhir.post("/Patient", content=orjson.dumps(p), headers={"If-None-Exist": f"identifier={ident}"})
    assert first.status_code == 201
    second = await fhir.post("/Patient", content=orjson.dumps(p), headers={"If-None-Exist": f"identifier={ident}"})
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]


async def test_concurrent_conditional_creates_make_one_resource(fhir):
    p = samples.patient()
    ident = f"identifier={p['identifier'][0]['system']}|{p['identifier'][0]['value']}"
    p.pop("identifier")
    p["identifier"] = [{"system": "urn:other", "value": ident.rsplit("|", 1)[1]}]
    ident = f"identifier=urn:other|{p['identifier'][0]['value']}"
    results = await asyncio.gather(*[
        fhir.post("/Patient", content=orjson.dumps(p), headers={"If-None-Exist": ident}) for _ in range(6)])
    assert sorted(r.status_code for r in results).count(201) == 1
    assert len({r.json()["id"] for r in results}) == 1


async def test_conditional_create_with_several_matches_is_412(fhir):
    for _ in range(2):
        await create(fhir, samples.organization(name="Twin Clinic"))
    r = await fhir.post("/Organization", content=orjson.dumps(samples.organization()),
                        headers={"If-None-Exist": "name=Twin Clinic"})
    assert r.status_code == 412


async def test_conditional_criteria_must_be_supported(fhir):
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()),
                        headers={"If-None-Exist": "nickname=Al"})
    assert r.status_code == 400


async def test_conditional_update(fhir):
    p = samples.patient()
    crit = {"identifier": f"{p['identifier'][0]['system']}|{p['identifier'][0]['value']}"}
    created = await fhir.put("/Patient", params=crit, content=orjson.dumps(p))
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = await fhir.put("/Patient", params=crit, content=orjson.dumps({**p, "gender": "male"}))
    assert updated.status_code == 200 and updated.json()["id"] == pid and updated.json()["gender"] == "male"
    wrong_id = await fhir.put("/Patient", params=crit, content=orjson.dumps({**p, "id": "other-id"}))
    assert wrong_id.status_code == 400
    await create(fhir, samples.organization(name="Dup Org"))
    await create(fhir, samples.organization(name="Dup Org"))
    many = await fhir.put("/Organization", params={"name": "Dup Org"}, content=orjson.dumps(samples.organization()))
    assert many.status_code == 412


async def test_conditional_delete(fhir):
    org = await create(fhir, samples.organization(name="Delete Me Clinic"))
    r = await fhir.delete("/Organization", params={"name": "Delete Me Clinic"})
    assert r.status_code == 200
    assert (await fhir.get(f"/Organization/{org['id']}")).status_code == 410
    assert (await fhir.delete("/Organization", params={"name": "Delete Me Clinic"})).status_code == 204
    assert (await fhir.delete("/Organization")).status_code == 400


async def test_concurrent_if_match_updates_one_wins(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    body = orjson.dumps({**samples.patient(), "id": pid})
    results = await asyncio.gather(*[
        fhir.put(f"/Patient/{pid}", content=body, headers={"If-Match": 'W/"1"'}) for _ in range(5)])
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412, 412]


async def test_concurrent_updates_without_if_match_all_land_in_order(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    bodies = [orjson.dumps({**samples.patient(family=f"F{i}"), "id": pid}) for i in range(8)]
    results = await asyncio.gather(*[fhir.put(f"/Patient/{pid}", content=b) for b in bodies])
    assert all(r.status_code == 200 for r in results)
    assert sorted(int(r.json()["meta"]["versionId"]) for r in results) == list(range(2, 10))


async def test_duplicate_mrn_is_409(fhir):
    p = samples.patient()
    assert (await fhir.post("/Patient", content=orjson.dumps(p))).status_code == 201
    r = await fhir.post("/Patient", content=orjson.dumps(p))
    assert r.status_code == 409 and r.json()["issue"][0]["code"] == "duplicate"


async def test_conditional_criteria_values_may_hold_reserved_characters(fhir):
    p = {**samples.patient(), "identifier": [{"system": "urn:odd", "value": "a&b=c%d"}]}
    crit = {"identifier": "urn:odd|a&b=c%d"}
    assert (await fhir.put("/Patient", params=crit, content=orjson.dumps(p))).status_code == 201
    assert (await fhir.put("/Patient", params=crit, content=orjson.dumps(p))).status_code == 200
    from urllib.parse import urlencode
    r = await fhir.post("/Patient", content=orjson.dumps(p), headers={"If-None-Exist": urlencode(crit)})
    assert r.status_code == 200
