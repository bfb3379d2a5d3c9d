"""Bad input gets a clear OperationOutcome with the right status, and nothing is written."""

from __future__ import annotations

import orjson
import pytest

from tests import samples


async def _count(owner, table: str) -> int:
    return await owner.fetchval(f"SELECT count(*) FROM {table}")


def _issue(r) -> dict:
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


CASES = [
    ("invalid JSON", b'{"resourceType": "Patient", ', 400, "RES-BODY-JSON", None),
    ("not an object", b'[1, 2]', 400, "RES-BODY-NOT-OBJECT", None),
    ("empty body", b"", 400, "RES-BODY-EMPTY", None),
    ("wrong resourceType", b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}', 400,
     "RES-WRONG-TYPE", ["Patient.resourceType"]),
    ("unknown element", b'{"resourceType": "Patient", "nickname": "Al"}', 400, "RES-UNKNOWN-ELEMENT",
     ["Patient.nickname"]),
    ("wrong type", b'{"resourceType": "Patient", "active": "yes"}', 400, "RES-TYPE", ["Patient.active"]),
    ("bad code", b'{"resourceType": "Patient", "gender": "robot"}', 400, "RES-VALUE", ["Patient.gender"]),
    ("bad date", b'{"resourceType": "Patient", "birthDate": "1980-13-01"}', 400, "RES-VALUE",
     ["Patient.birthDate"]),
    ("nested unknown", b'{"resourceType": "Patient", "name": [{"family": "X", "surname": "Y"}]}', 400,
     "RES-UNKNOWN-ELEMENT", ["Patient.name[0].surname"]),
    ("empty array", b'{"resourceType": "Patient", "name": []}', 400, "RES-EMPTY", ["Patient.name"]),
    ("empty object", b'{"resourceType": "Patient", "maritalStatus": {}}', 400, "RES-EMPTY",
     ["Patient.maritalStatus"]),
    ("two choice forms", b'{"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2020"}', 400,
     "RES-CHOICE", ["Patient.deceasedDateTime"]),
    ("bad contained", b'{"resourceType": "Patient", "contained": [{"resourceType": "Practitioner", "x": 1}]}', 400,
     "RES-UNKNOWN-ELEMENT", ["Patient.contained[0].x"]),
    ("NUL in a string", b'{"resourceType": "Patient", "name": [{"family": "a\\u0000b"}]}', 400, "RES-VALUE",
     ["Patient.name[0].family"]),
    ("control character", b'{"resourceType": "Patient", "name": [{"text": "bell\\u0007"}]}', 400, "RES-VALUE",
     ["Patient.name[0].text"]),
]


@pytest.mark.parametrize("name,body,status,msg,expression", CASES, ids=[c[0] for c in CASES])
async def test_bad_bodies_are_refused_and_nothing_lands(fhir, owner, name, body, status, msg, expression):
    before = await _count(owner, "patients")
    r = await fhir.post("/Patient", content=body)
    assert r.status_code == status
    issue = _issue(r)
    assert issue["details"]["coding"][0]["code"] == msg
    if expression:
        assert issue["expression"] == expression
    assert await _count(owner, "patients") == before


async def test_missing_required_element_names_it(fhir, owner):
    before = await _count(owner, "observations")
    r = await fhir.post("/Observation", content=b'{"resourceType": "Observation", "status": "final"}')
    assert r.status_code == 400
    issue = _issue(r)
    assert issue["code"] == "required" and issue["expression"] == ["Observation.code"]
    assert await _count(owner, "observations") == before


async def test_every_problem_is_reported_at_once(fhir):
    r = await fhir.post("/Observation", content=b'{"resourceType": "Observation", "status": "x", "foo": 1}')
    codes = {i["details"]["coding"][0]["code"] for i in r.json()["issue"]}
    assert codes == {"RES-REQUIRED", "RES-VALUE", "RES-UNKNOWN-ELEMENT"}


async def test_oversize_body_is_413(fhir, owner):
    before = await _count(owner, "patients")
    div = "<div>" + "x" * 5_000_000 + "</div>"
    big = orjson.dumps({**samples.patient(), "text": {"status": "generated", "div": div}})
    r = await fhir.post("/Patient", content=big)
    assert r.status_code == 413 and _issue(r)["code"] == "too-long"
    assert await _count(owner, "patients") == before


async def test_unsupported_content_type_is_415(fhir):
    r = await fhir.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 415
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()),
                        headers={"Content-Type": "application/fhir+json; fhirVersion=3.0"})
    assert r.status_code == 415


async def test_plain_application_json_is_accepted(fhir):
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()),
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 201


async def test_unknown_and_unsupported_types_are_404(fhir):
    r = await fhir.get("/Nonsense/1")
    assert r.status_code == 404 and _issue(r)["details"]["coding"][0]["code"] == "HTTP-TYPE-UNKNOWN"
    r = await fhir.get("/Parameters/1")   # an R4 type with no RESTful endpoint
    assert r.status_code == 404 and _issue(r)["details"]["coding"][0]["code"] == "HTTP-TYPE-UNSUPPORTED"


async def test_unknown_id_is_404(fhir):
    r = await fhir.get("/Patient/unknown-id")
    assert r.status_code == 404 and _issue(r)["code"] == "not-found"
    assert (await fhir.get("/Observation/0a770cfb-8354-8858-9970-d6737fc44312")).status_code == 404


async def test_malformed_id_is_400(fhir):
    assert (await fhir.get("/Patient/" + "x" * 65)).status_code == 400
    assert (await fhir.get("/Patient/a%20b")).status_code == 400


async def test_wrong_method_is_405_with_allow(fhir):
    r = await fhir.post("/Patient/123", content=b"{}")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "PUT", "PATCH", "DELETE"}
    assert (await fhir.delete("/metadata")).status_code == 405


async def test_unknown_tenant_is_404(http):
    r = await http.get("/nobody/Patient/1")
    assert r.status_code == 404 and _issue(r)["details"]["coding"][0]["code"] == "TENANT-UNKNOWN"


async def test_xml_only_accept_is_406_and_format_overrides_accept(fhir):
    assert (await fhir.get("/metadata", headers={"Accept": "application/fhir+xml"})).status_code == 406
    assert (await fhir.get("/metadata", params={"_format": "xml"})).status_code == 406
    r = await fhir.get("/metadata", params={"_format": "json"}, headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/fhir+json")
    r = await fhir.get("/metadata", headers={"Accept": "application/json"})
    assert r.headers["Content-Type"].startswith("application/json")
    r = await fhir.get("/metadata", headers={"Accept": "text/html,*/*"})
    assert r.status_code == 200


async def test_pretty_output_is_indented(fhir):
    r = await fhir.get("/metadata", params={"_pretty": "true"})
    assert r.content.startswith(b'{\n  "resourceType"')
