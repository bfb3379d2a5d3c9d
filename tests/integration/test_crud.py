"""The REST interactions of http.html, one behaviour per test, against the real database."""

from __future__ import annotations

import orjson
import pytest

from tests import samples

JSON = {"Content-Type": "application/fhir+json"}


async def create(fhir, resource: dict) -> dict:
    r = await fhir.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_returns_201_location_etag_and_the_stored_resource(fhir):
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient(family="Create")))
    assert r.status_code == 201
    body = r.json()
    assert body["meta"]["versionId"] == "1" and "lastUpdated" in body["meta"]
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == f"http://fhir.test/default/Patient/{body['id']}/_history/1"
    assert r.headers["Last-Modified"].endswith("GMT")
    assert r.headers["Content-Type"].startswith("application/fhir+json")


async def test_create_ignores_a_client_id(fhir):
    body = await create(fhir, {**samples.patient(), "id": "mine"})
    assert body["id"] != "mine"


async def test_read_returns_exactly_what_create_returned(fhir):
    created = await fhir.post("/Observation", content=orjson.dumps(samples.observation()))
    read = await fhir.get(f"/Observation/{created.json()['id']}")
    assert read.status_code == 200
    assert read.content == created.content
    assert read.headers["ETag"] == 'W/"1"'


async def test_decimal_precision_survives_the_round_trip(fhir):
    raw = b'{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":72.50}}'
    created = await fhir.post("/Observation", content=raw)
    assert b'"value":72.50' in created.content
    read = await fhir.get(f"/Observation/{created.json()['id']}")
    assert b'"value":72.50' in read.content
    pretty = await fhir.get(f"/Observation/{created.json()['id']}", params={"_pretty": "true"})
    assert b'"value": 72.50' in pretty.content


async def test_update_creates_new_versions_and_vread_keeps_old_ones(fhir):
    pid = (await create(fhir, samples.patient(family="Before")))["id"]
    r = await fhir.put(f"/Patient/{pid}", content=orjson.dumps({**samples.patient(family="After"), "id": pid}))
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"
    assert r.headers["ETag"] == 'W/"2"'
    v1 = await fhir.get(f"/Patient/{pid}/_history/1")
    assert v1.status_code == 200 and v1.json()["name"][0]["family"] == "Before"
    v2 = await fhir.get(f"/Patient/{pid}/_history/2")
    assert v2.json()["name"][0]["family"] == "After"
    assert (await fhir.get(f"/Patient/{pid}/_history/3")).status_code == 404


async def test_update_as_create_with_a_client_id(fhir):
    r = await fhir.put("/Patient/client-chosen-1", content=orjson.dumps({**samples.patient(), "id": "client-chosen-1"}))
    assert r.status_code == 201 and r.json()["id"] == "client-chosen-1"
    assert r.headers["Location"].endswith("/Patient/client-chosen-1/_history/1")
    assert (await fhir.get("/Patient/client-chosen-1")).status_code == 200


async def test_update_as_create_of_a_time_partitioned_type(fhir):
    obs = {**samples.observation(when="2019-08-01T00:00:00Z"), "id": "obs-client-1"}
    assert (await fhir.put("/Observation/obs-client-1", content=orjson.dumps(obs))).status_code == 201
    again = await fhir.put("/Observation/obs-client-1", content=orjson.dumps(obs))
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "2"
    assert (await fhir.get("/Observation/obs-client-1")).json()["meta"]["versionId"] == "2"


async def test_update_moving_to_another_month_keeps_the_resource_reachable(fhir, owner):
    obs = await create(fhir, samples.observation(when="2020-01-15T00:00:00Z"))
    moved = {**obs, "effectiveDateTime": "2024-11-15T00:00:00Z"}
    assert (await fhir.put(f"/Observation/{obs['id']}", content=orjson.dumps(moved))).status_code == 200
    assert (await fhir.get(f"/Observation/{obs['id']}")).json()["effectiveDateTime"] == "2024-11-15T00:00:00Z"
    assert (await fhir.get(f"/Observation/{obs['id']}/_history/1")).json()["effectiveDateTime"].startswith("2020")
    where = await owner.fetchval("SELECT tableoid::regclass::text FROM observations WHERE id = $1", obs["id"])
    assert where.endswith("_2024m11")
    back = {**obs, "effectiveDateTime": "2020-01-20T00:00:00Z"}
    assert (await fhir.put(f"/Observation/{obs['id']}", content=orjson.dumps(back))).status_code == 200
    assert (await fhir.get(f"/Observation/{obs['id']}")).json()["meta"]["versionId"] == "3"
    assert await owner.fetchval("SELECT count(*) FROM id_directory WHERE id = $1", obs["id"]) == 0


async def test_update_requires_the_body_id_to_match_the_url(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    r = await fhir.put(f"/Patient/{pid}", content=orjson.dumps({**samples.patient(), "id": "other"}))
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.id"]
    r = await fhir.put(f"/Patient/{pid}", content=orjson.dumps(samples.patient()))
    assert r.status_code == 400


async def test_if_match_guards_updates_patches_and_deletes(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    body = orjson.dumps({**samples.patient(), "id": pid})
    assert (await fhir.put(f"/Patient/{pid}", content=body, headers={"If-Match": 'W/"2"'})).status_code == 412
    assert (await fhir.put(f"/Patient/{pid}", content=body, headers={"If-Match": 'W/"1"'})).status_code == 200
    patch = orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])
    r = await fhir.patch(f"/Patient/{pid}", content=patch,
                         headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert (await fhir.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})).status_code == 412
    assert (await fhir.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'})).status_code == 200
    assert (await fhir.put(f"/Patient/{pid}", content=body, headers={"If-Match": "nonsense"})).status_code == 400


async def test_patch_applies_json_patch_and_validates_the_result(fhir):
    pid = (await create(fhir, samples.patient(family="Patchy")))["id"]
    headers = {"Content-Type": "application/json-patch+json"}
    ok = await fhir.patch(f"/Patient/{pid}", headers=headers, content=orjson.dumps(
        [{"op": "test", "path": "/name/0/family", "value": "Patchy"},
         {"op": "replace", "path": "/name/0/family", "value": "Patched"}]))
    assert ok.status_code == 200 and ok.json()["name"][0]["family"] == "Patched"
    assert ok.json()["meta"]["versionId"] == "2"
    failed_test = await fhir.patch(f"/Patient/{pid}", headers=headers, content=orjson.dumps(
        [{"op": "test", "path": "/name/0/family", "value": "Nope"}]))
    assert failed_test.status_code == 422
    invalid_result = await fhir.patch(f"/Patient/{pid}", headers=headers, content=orjson.dumps(
        [{"op": "add", "path": "/bogus", "value": 1}]))
    assert invalid_result.status_code == 422
    assert invalid_result.json()["issue"][0]["expression"] == ["Patient.bogus"]
    not_a_patch = await fhir.patch(f"/Patient/{pid}", headers=headers, content=b'{"op": "add"}')
    assert not_a_patch.status_code == 400
    wrong_type = await fhir.patch(f"/Patient/{pid}", content=b"[]", headers={"Content-Type": "application/fhir+json"})
    assert wrong_type.status_code == 415
    assert (await fhir.get(f"/Patient/{pid}")).json()["meta"]["versionId"] == "2"


async def test_patch_applies_merge_patch_as_clients_send_it(fhir):
    """RFC 7386, as application/merge-patch+json or as a partial resource in application/json."""
    pid = (await create(fhir, samples.patient(family="Merge", birth="1970-01-01")))["id"]
    merged = await fhir.patch(f"/Patient/{pid}", headers={"Content-Type": "application/merge-patch+json"},
                              content=orjson.dumps({"gender": "other", "birthDate": None}))
    assert merged.status_code == 200, merged.text
    assert merged.json()["gender"] == "other" and "birthDate" not in merged.json()
    assert merged.json()["name"][0]["family"] == "Merge"   # untouched members stay
    partial = await fhir.patch(f"/Patient/{pid}", headers={"Content-Type": "application/json"},
                               content=orjson.dumps({"active": True}))
    assert partial.status_code == 200 and partial.json()["active"] is True
    assert partial.json()["meta"]["versionId"] == "3"
    as_json_patch = await fhir.patch(f"/Patient/{pid}", headers={"Content-Type": "application/json"},
                                     content=orjson.dumps([{"op": "replace", "path": "/active", "value": False}]))
    assert as_json_patch.status_code == 200 and as_json_patch.json()["active"] is False
    renamed = await fhir.patch(f"/Patient/{pid}", headers={"Content-Type": "application/merge-patch+json"},
                               content=orjson.dumps({"id": "someone-else"}))
    assert renamed.status_code == 422
    not_an_object = await fhir.patch(f"/Patient/{pid}", headers={"Content-Type": "application/merge-patch+json"},
                                     content=b"[1]")
    assert not_an_object.status_code == 400
    assert (await fhir.get(f"/Patient/{pid}")).json()["meta"]["versionId"] == "4"


async def test_delete_then_read_is_410_and_history_shows_the_delete(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    r = await fhir.delete(f"/Patient/{pid}")
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'
    gone = await fhir.get(f"/Patient/{pid}")
    assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"
    assert (await fhir.get(f"/Patient/{pid}/_history/2")).status_code == 410
    assert (await fhir.get(f"/Patient/{pid}/_history/1")).status_code == 200
    again = await fhir.delete(f"/Patient/{pid}")
    assert again.status_code == 204
    history = (await fhir.get(f"/Patient/{pid}/_history")).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    recreated = await fhir.put(f"/Patient/{pid}", content=orjson.dumps({**samples.patient(), "id": pid}))
    assert recreated.status_code == 201 and recreated.json()["meta"]["versionId"] == "3"


async def test_delete_of_an_unknown_resource_is_204(fhir):
    assert (await fhir.delete("/Patient/never-was")).status_code == 204


async def test_delete_with_prefer_minimal_is_204(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    r = await fhir.delete(f"/Patient/{pid}", headers={"Prefer": "return=minimal"})
    assert r.status_code == 204 and r.content == b""


async def test_delete_of_a_referenced_resource_is_409_and_changes_nothing(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    oid = (await create(fhir, samples.observation(pid)))["id"]
    r = await fhir.delete(f"/Patient/{pid}")
    assert r.status_code == 409 and f"Observation/{oid}" in r.json()["issue"][0]["diagnostics"]
    assert (await fhir.get(f"/Patient/{pid}")).status_code == 200
    assert (await fhir.delete(f"/Observation/{oid}")).status_code == 200
    assert (await fhir.delete(f"/Patient/{pid}")).status_code == 200


async def test_a_reference_to_a_missing_resource_is_422(fhir):
    r = await fhir.post("/Observation", content=orjson.dumps(samples.observation("does-not-exist")))
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Observation.subject.reference"]


@pytest.mark.parametrize("ref", ["Patient", "Nonsense/1", "Patient/a b", "Patient?identifier=x"])
async def test_a_malformed_reference_is_400(fhir, ref):
    obs = {**samples.observation(), "subject": {"reference": ref}}
    assert (await fhir.post("/Observation", content=orjson.dumps(obs))).status_code == 400


async def test_external_and_contained_references_are_accepted(fhir):
    obs = {**samples.observation(), "subject": {"reference": "http://elsewhere.org/fhir/Patient/1"},
           "performer": [{"reference": "#p1"}],
           "contained": [{"resourceType": "Practitioner", "id": "p1"}]}
    assert (await fhir.post("/Observation", content=orjson.dumps(obs))).status_code == 201
    obs["performer"] = [{"reference": "#nope"}]
    assert (await fhir.post("/Observation", content=orjson.dumps(obs))).status_code == 400


async def test_prefer_return_minimal_and_operation_outcome(fhir):
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and "Location" in r.headers
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()),
                        headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"


async def test_conditional_read_answers_304(fhir):
    created = await fhir.post("/Patient", content=orjson.dumps(samples.patient()))
    url = f"/Patient/{created.json()['id']}"
    assert (await fhir.get(url, headers={"If-None-Match": 'W/"1"'})).status_code == 304
    assert (await fhir.get(url, headers={"If-None-Match": 'W/"0"'})).status_code == 200
    since = created.headers["Last-Modified"]
    assert (await fhir.get(url, headers={"If-Modified-Since": since})).status_code == 304


async def test_every_type_can_be_created_read_and_deleted(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    org = (await create(fhir, samples.organization()))["id"]
    for resource in (samples.practitioner(), samples.location(), samples.encounter(pid), samples.observation(pid),
                     samples.appointment(), samples.medication_request(pid),
                     samples.claim(pid, f"Organization/{org}"), samples.audit_event()):
        body = await create(fhir, resource)
        url = f"/{resource['resourceType']}/{body['id']}"
        assert (await fhir.get(url)).json() == body
        if resource["resourceType"] == "AuditEvent":   # the audit trail is append-only
            refused = await fhir.delete(url)
            assert refused.status_code == 405 and "AUDIT-APPEND-ONLY" in refused.text
            assert (await fhir.get(url)).json() == body
            continue
        assert (await fhir.delete(url)).status_code == 200
        assert (await fhir.get(url)).status_code == 410
