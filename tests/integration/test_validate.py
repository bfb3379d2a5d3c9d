"""$validate (operation-resource-validate.html): the write path's checks, nothing written."""

from __future__ import annotations

import orjson

from tests import samples


def _codes(r) -> list[str]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    return [i["details"]["coding"][0]["code"] for i in body["issue"]]


async def _count(fhir, type_name: str) -> int:
    return (await fhir.get(f"/{type_name}", params={"_summary": "count"})).json()["total"]


async def test_valid_content_gets_all_ok_and_nothing_is_stored(fhir):
    before = await _count(fhir, "Goal")
    goal = {"resourceType": "Goal", "lifecycleStatus": "proposed", "description": {"text": "sleep"},
            "subject": {"reference": "Patient/whoever"}}
    r = await fhir.post("/Goal/$validate", content=orjson.dumps(goal))
    assert _codes(r) == ["OP-VALIDATE-OK"] and r.json()["issue"][0]["severity"] == "information"
    assert await _count(fhir, "Goal") == before


async def test_invalid_content_gets_200_with_the_errors_a_create_would_give(fhir):
    bad = {"resourceType": "Goal", "lifecycleStatus": "someday", "description": {"text": "x"},
           "subject": {"reference": "Patient/x"}}
    r = await fhir.post("/Goal/$validate", content=orjson.dumps(bad))
    created = await fhir.post("/Goal", content=orjson.dumps(bad))
    assert created.status_code in (400, 422)
    assert _codes(r) == [i["details"]["coding"][0]["code"] for i in created.json()["issue"]]
    assert r.json()["issue"][0]["severity"] == "error"


async def test_mode_create_checks_references_in_a_parameters_body(fhir):
    goal = {"resourceType": "Goal", "lifecycleStatus": "proposed", "description": {"text": "run"},
            "subject": {"reference": "Patient/not-here"}}
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": goal},
                                                          {"name": "mode", "valueCode": "create"}]}
    assert _codes(await fhir.post("/Goal/$validate", content=orjson.dumps(params))) == ["RES-REF-NOT-FOUND"]
    pid = (await fhir.post("/Patient", content=orjson.dumps(samples.patient()))).json()["id"]
    goal["subject"]["reference"] = f"Patient/{pid}"
    assert _codes(await fhir.post("/Goal/$validate", content=orjson.dumps(params))) == ["OP-VALIDATE-OK"]


async def test_mode_update_needs_the_urls_id_and_mode_delete_its_referrers_gone(fhir):
    pid = (await fhir.post("/Patient", content=orjson.dumps(samples.patient()))).json()["id"]
    flag = (await fhir.post("/Flag", content=orjson.dumps({
        "resourceType": "Flag", "status": "active", "code": {"text": "x"},
        "subject": {"reference": f"Patient/{pid}"}}))).json()
    moved = {**flag, "id": "other"}
    r = await fhir.post(f"/Flag/{flag['id']}/$validate", params={"mode": "update"}, content=orjson.dumps(moved))
    assert _codes(r) == ["RES-ID-MISMATCH"]
    r = await fhir.post(f"/Flag/{flag['id']}/$validate", params={"mode": "update"}, content=orjson.dumps(flag))
    assert _codes(r) == ["OP-VALIDATE-OK"]
    assert _codes(await fhir.post(f"/Patient/{pid}/$validate?mode=delete")) == ["RES-REFERENCED"]
    assert _codes(await fhir.post(f"/Flag/{flag['id']}/$validate?mode=delete")) == ["OP-VALIDATE-OK"]
    assert (await fhir.get(f"/Flag/{flag['id']}")).status_code == 200   # still there
    assert _codes(await fhir.post("/Flag/nope/$validate?mode=delete")) == ["RES-NOT-FOUND"]


async def test_what_cannot_be_validated_is_a_4xx(fhir):
    r = await fhir.post("/Goal/$validate?mode=delete")
    assert r.status_code == 400   # delete needs an instance
    r = await fhir.post("/Goal/$validate?mode=sideways", content=b'{"resourceType":"Goal"}')
    assert r.status_code == 400
    r = await fhir.post("/Goal/$validate", params={"profile": "http://example.org/StructureDefinition/mine"},
                        content=b'{"resourceType":"Goal"}')
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "not-supported"
    r = await fhir.post("/Goal/$validate", content=b'{"resourceType": "Goal",')
    assert r.status_code == 400
