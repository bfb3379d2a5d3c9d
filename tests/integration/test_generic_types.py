"""Every R4 type beyond the seed's ten is stored, versioned and searched like them, on the
shared tables (mappings/generic.py), against the real database."""

from __future__ import annotations

import orjson

from tests import samples


async def _create(fhir, resource: dict) -> dict:
    r = await fhir.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
    assert r.status_code == 201, r.text
    return r.json()


async def _ids(fhir, path: str, **params) -> set[str]:
    r = await fhir.get(path, params=params)
    assert r.status_code == 200, r.text
    return {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}


def _condition(pid: str, code: str, onset: str, **extra) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}], "text": f"finding {code}"},
            "onsetDateTime": onset, **extra}


async def test_a_condition_is_created_read_updated_and_deleted_with_its_versions(fhir):
    pid = (await _create(fhir, samples.patient()))["id"]
    made = await _create(fhir, _condition(pid, "44054006", "2019-03-01"))
    read = await fhir.get(f"/Condition/{made['id']}")
    assert read.status_code == 200 and read.json() == made and read.headers["ETag"] == 'W/"1"'
    changed = {**made, "note": [{"text": "reviewed"}]}
    r = await fhir.put(f"/Condition/{made['id']}", content=orjson.dumps(changed))
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"
    assert (await fhir.get(f"/Condition/{made['id']}/_history/1")).json()["meta"]["versionId"] == "1"
    history = (await fhir.get(f"/Condition/{made['id']}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert (await fhir.delete(f"/Condition/{made['id']}")).status_code in (200, 204)
    assert (await fhir.get(f"/Condition/{made['id']}")).status_code == 410


async def test_a_client_chosen_id_is_stored_by_put_and_kept_apart_per_type(fhir):
    body = {"resourceType": "Goal", "id": "shared-id", "lifecycleStatus": "active",
            "description": {"text": "walk daily"}, "subject": {"reference": "Patient/nobody"}}
    r = await fhir.put("/Goal/shared-id", content=orjson.dumps(body))
    assert r.status_code == 422   # Patient/nobody does not exist: referential integrity holds
    pid = (await _create(fhir, samples.patient()))["id"]
    body["subject"]["reference"] = f"Patient/{pid}"
    assert (await fhir.put("/Goal/shared-id", content=orjson.dumps(body))).status_code == 201
    flag = {"resourceType": "Flag", "id": "shared-id", "status": "active", "code": {"text": "fall risk"},
            "subject": {"reference": f"Patient/{pid}"}}
    assert (await fhir.put("/Flag/shared-id", content=orjson.dumps(flag))).status_code == 201
    assert (await fhir.get("/Goal/shared-id")).json()["resourceType"] == "Goal"
    assert (await fhir.get("/Flag/shared-id")).json()["resourceType"] == "Flag"
    assert (await fhir.get("/Procedure/shared-id")).status_code == 404


async def test_conditions_are_searched_by_token_date_reference_string_and_chain(fhir):
    family = "Genericsearch"
    pid = (await _create(fhir, samples.patient(family=family)))["id"]
    other = (await _create(fhir, samples.patient()))["id"]
    old = (await _create(fhir, _condition(pid, "38341003", "2001-05-05")))["id"]
    new = (await _create(fhir, _condition(pid, "195662009", "2021-07-07")))["id"]
    theirs = (await _create(fhir, _condition(other, "38341003", "2021-07-07")))["id"]
    assert await _ids(fhir, "/Condition", patient=pid) == {old, new}
    assert await _ids(fhir, "/Condition", code="http://snomed.info/sct|38341003", patient=pid) == {old}
    assert await _ids(fhir, "/Condition", **{"onset-date": "ge2020", "patient": pid}) == {new}
    assert {old, theirs} <= await _ids(fhir, "/Condition", code="38341003")
    assert await _ids(fhir, "/Condition", **{"subject:Patient.family": family}) == {old, new}
    assert await _ids(fhir, "/Condition", **{"clinical-status": "active", "patient": pid}) == {old, new}
    r = await fhir.get("/Condition", params={"patient": pid, "_include": "Condition:subject"})
    assert {e["resource"]["resourceType"] for e in r.json()["entry"]} == {"Condition", "Patient"}
    has = await _ids(fhir, "/Patient", **{"_has:Condition:patient:code": "195662009", "_id": f"{pid},{other}"})
    assert has == {pid}


async def test_a_search_of_one_generic_type_never_returns_another(fhir):
    pid = (await _create(fhir, samples.patient()))["id"]
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": f"Patient/{pid}"},
               "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005"}]}}
    aid = (await _create(fhir, allergy))["id"]
    cid = (await _create(fhir, _condition(pid, "91936005", "2020-01-01")))["id"]
    assert await _ids(fhir, "/AllergyIntolerance", patient=pid) == {aid}
    assert await _ids(fhir, "/Condition", patient=pid) == {cid}
    r = await fhir.get("/AllergyIntolerance", params={"patient": pid, "_summary": "count"})
    assert r.json()["total"] == 1


async def test_json_patch_and_conditional_create_work_on_a_generic_type(fhir):
    pid = (await _create(fhir, samples.patient()))["id"]
    imm = {"resourceType": "Immunization", "status": "completed", "patient": {"reference": f"Patient/{pid}"},
           "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
           "occurrenceDateTime": "2020-10-01", "identifier": [{"system": "urn:imm", "value": f"i-{pid}"}]}
    made = await _create(fhir, imm)
    again = await fhir.post("/Immunization", content=orjson.dumps(imm),
                            headers={"If-None-Exist": f"identifier=urn:imm|i-{pid}"})
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    patch = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    r = await fhir.patch(f"/Immunization/{made['id']}", content=orjson.dumps(patch),
                         headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["status"] == "entered-in-error"
    assert await _ids(fhir, "/Immunization", patient=pid, status="entered-in-error") == {made["id"]}
    assert await _ids(fhir, "/Immunization", patient=pid, status="completed") == set()


async def test_a_transaction_bundle_of_generic_types_commits_whole(fhir):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": samples.patient(), "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:c1", "resource": _condition("x", "73211009", "2015-01-01") | {
            "subject": {"reference": "urn:uuid:p1"}}, "request": {"method": "POST", "url": "Condition"}},
        {"fullUrl": "urn:uuid:d1", "resource": {
            "resourceType": "DiagnosticReport", "status": "final", "code": {"text": "panel"},
            "subject": {"reference": "urn:uuid:p1"}}, "request": {"method": "POST", "url": "DiagnosticReport"}},
    ]}
    r = await fhir.post("/", content=orjson.dumps(bundle))
    assert r.status_code == 200, r.text
    locations = [e["response"]["location"] for e in r.json()["entry"]]
    pid = locations[0].split("Patient/")[1].split("/")[0]
    assert len(await _ids(fhir, "/DiagnosticReport", subject=f"Patient/{pid}")) == 1
    assert len(await _ids(fhir, "/Condition", subject=f"Patient/{pid}")) == 1


async def test_an_unknown_or_unstored_type_is_refused(fhir):
    r = await fhir.post("/Parameters", content=b'{"resourceType":"Parameters"}')
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    assert (await fhir.get("/Conditions")).status_code == 404
