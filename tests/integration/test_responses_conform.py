"""What the server sends is itself valid R4: checked with the same validator that guards writes."""

from __future__ import annotations

import orjson

from fhirserver import spec
from fhirserver.validation import validate
from tests import samples
from tests.integration.test_crud import create


async def test_capability_statement_is_valid_and_honest(fhir):
    statement = (await fhir.get("/metadata")).json()
    validate(statement, "CapabilityStatement")
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert types == spec.resource_types() - {"Parameters"}   # every R4 type with a REST endpoint
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {i["code"] for i in patient["interaction"]} == {
        "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
    params = {p["name"] for p in patient["searchParam"]}
    assert {"identifier", "family", "name", "birthdate", "_id", "_lastUpdated", "_tag"} <= params
    assert "_content" not in params   # not supported, so not claimed
    declined = [e["valueString"] for e in patient["extension"]]
    assert any(d.startswith("_content: ") for d in declined)
    phonetic = next(p for p in patient["searchParam"] if p["name"] == "phonetic")
    assert "Metaphone" in phonetic["documentation"]
    condition = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Condition")
    assert {"onset-date", "clinical-status", "patient", "code"} <= {p["name"] for p in condition["searchParam"]}
    assert {o["name"] for o in condition["operation"]} == {"validate"}


async def test_bundles_and_outcomes_are_valid(fhir):
    pid = (await create(fhir, samples.patient()))["id"]
    await fhir.put(f"/Patient/{pid}", content=orjson.dumps({**samples.patient(), "id": pid}))
    await fhir.delete(f"/Patient/{pid}")
    validate((await fhir.get(f"/Patient/{pid}/_history")).json(), "Bundle")
    validate((await fhir.get("/Patient/_history", params={"_count": "3"})).json(), "Bundle")
    validate((await fhir.get("/Patient", params={"gender": "female", "_count": "2"})).json(), "Bundle")
    validate((await fhir.get("/Patient", params={"family": "nobody-has-this"})).json(), "Bundle")
    validate((await fhir.get(f"/Patient/{pid}")).json(), "OperationOutcome")
    validate((await fhir.post("/Patient", content=b"{")).json(), "OperationOutcome")
