"""Search features beyond single parameters: modifiers, chains, _has, includes, sorting, paging.

All data lives in a tenant of its own, so the expected result sets are exact.
"""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from fhirserver.tenants import create_tenant

SLUG = "searchland"
LOINC = "http://loinc.org"
MRN_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


@pytest.fixture(scope="module")
async def world(app, owner) -> dict:
    await create_tenant(owner, SLUG, "Search tests", months_ahead=1)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url=f"http://fhir.test/{SLUG}",
                               headers={"Content-Type": "application/fhir+json"})
    made: dict = {"client": client}

    async def post(key: str, resource: dict) -> dict:
        r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
        assert r.status_code == 201, r.text
        made[key] = r.json()
        return made[key]

    await post("org", {"resourceType": "Organization", "name": "General Hospital",
                       "meta": {"profile": ["http://example.org/fhir/StructureDefinition/org-a"]}})
    org = made["org"]["id"]
    for key, family, given, birth, extra in (
            ("ann", "Smith", "Ann", "1970-03-04", {"managingOrganization": {"reference": f"Organization/{org}"}}),
            ("bob", "Smyth", "Bob", "1985-12-24", {}),
            ("cy", "Ñandú", "Cy", "1990", {"deceasedBoolean": True})):
        await post(key, {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
                         "birthDate": birth, "gender": "female" if key == "ann" else "male",
                         "identifier": [{"system": "urn:mrn", "value": f"{key}-1", "type": MRN_TYPE}], **extra})
    ann, bob = made["ann"]["id"], made["bob"]["id"]
    await post("enc", {"resourceType": "Encounter", "status": "finished",
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                       "subject": {"reference": f"Patient/{ann}"},
                       "period": {"start": "2023-05-01T10:00:00Z", "end": "2023-05-01T11:00:00Z"}})
    enc = made["enc"]["id"]
    for key, pid, code, value, when in (("w1", ann, "29463-7", 72.5, "2023-05-01T10:30:00Z"),
                                        ("w2", bob, "29463-7", 90, "2024-01-10T08:00:00Z"),
                                        ("h1", ann, "8302-2", 170, "2023-05-01T10:31:00Z")):
        obs = {"resourceType": "Observation", "status": "final" if key != "w2" else "preliminary",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                         "code": "vital-signs"}]}],
               "code": {"coding": [{"system": LOINC, "code": code}], "text": "Body weight" if code == "29463-7"
                        else "Body height"},
               "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
               "valueQuantity": {"value": value, "unit": "kg" if code == "29463-7" else "cm",
                                 "system": "http://unitsofmeasure.org", "code": "kg" if code == "29463-7" else "cm"}}
        if key != "w2":
            obs["encounter"] = {"reference": f"Encounter/{enc}"}
        await post(key, obs)
    await post("bp", {"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": LOINC, "code": "85354-9"}]}, "subject": {"reference": f"Patient/{bob}"},
        "effectiveDateTime": "2024-01-10T08:01:00Z",
        "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                       "valueQuantity": {"value": 140, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                      {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                       "valueQuantity": {"value": 90, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]})
    await post("audit", {"resourceType": "AuditEvent",
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                         "recorded": "2025-01-01T00:00:00Z", "action": "R",
                         "agent": [{"requestor": True, "who": {"identifier": {"system": "urn:users", "value": "u1"}}}],
                         "entity": [{"what": {"reference": f"Patient/{ann}"}}],
                         "source": {"observer": {"display": "x"}}})
    yield made
    await client.aclose()


async def ids(world: dict, path: str, **params) -> set[str]:
    r = await world["client"].get(path, params={**params, "_count": "1000"})
    assert r.status_code == 200, r.text
    return {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}


def of(world: dict, *keys: str) -> set[str]:
    return {world[k]["id"] for k in keys}


async def test_string_modifiers(world):
    assert await ids(world, "/Patient", family="sm") == of(world, "ann", "bob")
    assert await ids(world, "/Patient", **{"family:exact": "Smith"}) == of(world, "ann")
    assert await ids(world, "/Patient", **{"family:exact": "smith"}) == set()
    assert await ids(world, "/Patient", **{"family:contains": "MYT"}) == of(world, "bob")
    assert await ids(world, "/Patient", name="nandu") == of(world, "cy")


async def test_phonetic(world):
    """Metaphone keys of family and given names: spellings that sound alike meet, others do not."""
    assert await ids(world, "/Patient", phonetic="Smithe") == of(world, "ann", "bob")
    assert await ids(world, "/Patient", phonetic="anne") == of(world, "ann")
    assert await ids(world, "/Patient", phonetic="Nandoo") == of(world, "cy")   # accents folded
    assert await ids(world, "/Patient", phonetic="Schmidt") == set()
    assert await ids(world, "/Patient", phonetic="Bobb,Nandu") == of(world, "bob", "cy")
    assert await ids(world, "/Patient", phonetic="123") == set()   # no letters, no key
    strict = await world["client"].get("/Patient", params={"phonetic:exact": "Smith"},
                                       headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400 and "phonetic" in strict.text


async def test_token_modifiers(world):
    assert await ids(world, "/Observation", **{"code:text": "body w"}) == of(world, "w1", "w2")
    assert await ids(world, "/Observation", **{"status:not": "final"}) == of(world, "w2")
    of_type = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|bob-1"
    assert await ids(world, "/Patient", **{"identifier:of-type": of_type}) == of(world, "bob")
    assert await ids(world, "/Patient", deceased="true") == of(world, "cy")
    assert await ids(world, "/Patient", deceased="false") == of(world, "ann", "bob")
    assert await ids(world, "/Observation", status="http://hl7.org/fhir/observation-status|preliminary") == \
        of(world, "w2")


async def test_missing(world):
    assert await ids(world, "/Observation", **{"encounter:missing": "true"}) == of(world, "w2", "bp")
    assert await ids(world, "/Observation", **{"value-quantity:missing": "true"}) == of(world, "bp")
    assert await ids(world, "/Patient", **{"organization:missing": "false"}) == of(world, "ann")
    assert await ids(world, "/Patient", **{"deceased:missing": "false"}) == of(world, "ann", "bob", "cy")


async def test_quantity_and_composite(world):
    assert await ids(world, "/Observation", **{"value-quantity": "72.5"}) == of(world, "w1")
    assert await ids(world, "/Observation", **{"value-quantity": "gt80|http://unitsofmeasure.org|kg"}) == \
        of(world, "w2")
    assert await ids(world, "/Observation", **{"value-quantity": "ge72||kg"}) == of(world, "w1", "w2")
    assert await ids(world, "/Observation", **{"value-quantity": "1e2"}) == of(world, "w1", "w2")  # [50, 150)
    assert await ids(world, "/Observation", **{"value-quantity": "90.0"}) == of(world, "w2")
    assert await ids(world, "/Observation", **{"component-code-value-quantity": f"{LOINC}|8480-6$gt130"}) == \
        of(world, "bp")
    assert await ids(world, "/Observation", **{"component-code-value-quantity": f"{LOINC}|8462-4$gt130"}) == set()
    assert await ids(world, "/Observation", **{"code-value-quantity": f"{LOINC}|29463-7$lt80"}) == of(world, "w1")


async def test_uri_and_meta(world):
    profile = "http://example.org/fhir/StructureDefinition/org-a"
    assert await ids(world, "/Organization", _profile=profile) == of(world, "org")
    assert await ids(world, "/Organization", **{"_profile:below": "http://example.org/fhir"}) == of(world, "org")
    assert await ids(world, "/Organization", **{"_profile:above": profile + "/more"}) == of(world, "org")
    assert await ids(world, "/Organization", _profile="http://example.org/fhir") == set()


async def test_chains_and_has(world):
    assert await ids(world, "/Observation", **{"subject:Patient.family": "smith"}) == of(world, "w1", "h1")
    assert await ids(world, "/Observation", **{"patient.birthdate": "1985"}) == of(world, "w2", "bp")
    assert await ids(world, "/Observation", **{"subject.organization.name": "general"}) == of(world, "w1", "h1")
    assert await ids(world, "/Observation", **{"encounter.class": "AMB"}) == of(world, "w1", "h1")
    assert await ids(world, "/Patient", **{"_has:Observation:patient:code": f"{LOINC}|8302-2"}) == of(world, "ann")
    assert await ids(world, "/Patient", **{"_has:Observation:subject:_has:AuditEvent:entity:action": "R"}) == set()
    assert await ids(world, "/Patient", **{"_has:AuditEvent:entity:action": "R"}) == of(world, "ann")


async def test_reference_identifier_modifier(world):
    assert await ids(world, "/AuditEvent", **{"agent:identifier": "urn:users|u1"}) == of(world, "audit")
    # The server's own audit trail names ann too (it records every search that returned her):
    # its events are recorded now, the world's in 2025.
    assert await ids(world, "/AuditEvent", entity=f"Patient/{world['ann']['id']}", date="2025") == of(world, "audit")


async def test_include_revinclude_and_iterate(world):
    r = (await world["client"].get("/Observation", params={
        "code": f"{LOINC}|8302-2", "_include": "Observation:subject"})).json()
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in r["entry"]}
    assert modes == {("Observation", "match"), ("Patient", "include")}
    r = (await world["client"].get("/Patient", params={
        "_id": world["bob"]["id"], "_revinclude": "Observation:subject"})).json()
    included = {e["resource"]["id"] for e in r["entry"] if e["search"]["mode"] == "include"}
    assert included == of(world, "w2", "bp")
    r = (await world["client"].get("/Observation", params=[
        ("code", f"{LOINC}|8302-2"), ("_include", "Observation:encounter"),
        ("_include:iterate", "Encounter:subject")])).json()
    kinds = sorted(e["resource"]["resourceType"] for e in r["entry"] if e["search"]["mode"] == "include")
    assert kinds == ["Encounter", "Patient"]


async def test_wildcard_includes_follow_every_reference_parameter(world):
    """search.html#include: `*` for the parameter name is every reference parameter."""
    async def included(params) -> set[tuple[str, str]]:
        r = await world["client"].get("/Observation", params=params, headers={"Prefer": "handling=strict"})
        assert r.status_code == 200, r.text
        return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in r.json()["entry"]
                if e["search"]["mode"] == "include"}

    height = [("code", f"{LOINC}|8302-2")]
    everything = {("Patient", world["ann"]["id"]), ("Encounter", world["enc"]["id"])}
    assert await included(height + [("_include", "Observation:*")]) == everything
    assert await included(height + [("_include", "*")]) == everything
    assert await included(height + [("_include", "Observation:*:Encounter")]) == {("Encounter", world["enc"]["id"])}
    # One round further: ann's managing organization, through any reference of a Patient.
    assert await included(height + [("_include", "Observation:subject"), ("_include:iterate", "Patient:*")]) == \
        {("Patient", world["ann"]["id"]), ("Organization", world["org"]["id"])}


async def test_sort_and_keyset_paging_survive_concurrent_inserts(world):
    client = world["client"]
    params = {"_sort": "-birthdate,family", "_count": "1"}
    seen = []
    url = "/Patient"
    inserted = False
    while url:
        bundle = (await client.get(url, params=params)).json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        if not inserted:   # a new patient sorting before the cursor must not shift later pages
            await client.post("/Patient", content=orjson.dumps({"resourceType": "Patient", "birthDate": "2000"}))
            inserted = True
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix(f"http://fhir.test/{SLUG}"), None) if nxt else (None, None)
    assert seen == [world["cy"]["id"], world["bob"]["id"], world["ann"]["id"]]


async def test_total_elements_and_summary(world):
    client = world["client"]
    r = (await client.get("/Observation", params={"code": f"{LOINC}|29463-7", "_total": "accurate"})).json()
    assert r["total"] == 2
    r = (await client.get("/Observation", params={"code": f"{LOINC}|29463-7", "_total": "estimate"})).json()
    assert isinstance(r["total"], int)
    r = (await client.get("/Patient", params={"_id": world["ann"]["id"], "_elements": "birthDate"})).json()
    resource = r["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate"}
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"
    r = (await client.get("/Patient", params={"family": "sm", "_summary": "count"})).json()
    assert r["total"] == 2 and "entry" not in r
    r = (await client.get("/Patient", params={"family": "sm", "_count": "0"})).json()   # the same, per R4
    assert r["total"] == 2 and "entry" not in r
    assert not [link for link in r["link"] if link["relation"] == "next"]


async def test_explain_shows_sql_parameters_and_plan(world):
    r = await world["client"].get("/Observation", params={"code": f"{LOINC}|29463-7", "_explain": "true"})
    body = r.json()
    assert body["resourceType"] == "Parameters"
    parts = {p["name"]: p["valueString"] for p in body["parameter"] if p["name"] != "parameter"}
    assert parts["sql"].startswith("SELECT") and "a0.code && $" in parts["sql"]   # the GIN-indexed codes
    assert "29463-7" not in parts["sql"]
    assert any("29463-7" in p["valueString"] for p in body["parameter"] if p["name"] == "parameter")
    assert "Plan" in parts["plan"]
    assert parts["compiler-plan"].startswith("(plan Observation") and "(order months)" in parts["compiler-plan"]


async def test_bad_chains_and_includes_are_refused_when_strict(world):
    strict = {"Prefer": "handling=strict"}
    client = world["client"]
    assert (await client.get("/Observation", params={"status.name": "x"}, headers=strict)).status_code == 400
    assert (await client.get("/Observation", params={"_include": "Observation:status"},
                             headers=strict)).status_code == 400
    assert (await client.get("/Observation", params={"_has:Nope:x:y": "1"}, headers=strict)).status_code == 400
    lenient = await client.get("/Observation", params={"status.name": "x", "code": f"{LOINC}|29463-7"})
    assert lenient.status_code == 200 and "status.name" not in lenient.json()["link"][0]["url"]


async def test_unique_tag_search(world):
    tag = uuid.uuid4().hex
    created = (await world["client"].post("/Organization", content=orjson.dumps({
        "resourceType": "Organization", "name": "Tagged", "meta": {"tag": [{"system": "urn:t", "code": tag}]}}))).json()
    assert await ids(world, "/Organization", _tag=f"urn:t|{tag}") == {created["id"]}


async def test_compartment_search(world):
    client = world["client"]
    ann = world["ann"]["id"]
    r = await client.get(f"/Patient/{ann}/Observation", params={"_count": "100"})
    assert r.status_code == 200
    assert {e["resource"]["id"] for e in r.json()["entry"]} == of(world, "w1", "h1")
    assert r.json()["link"][0]["url"].startswith(f"http://fhir.test/{SLUG}/Patient/{ann}/Observation")
    r = await client.get(f"/Patient/{ann}/Observation", params={"code": f"{LOINC}|8302-2"})
    assert {e["resource"]["id"] for e in r.json()["entry"]} == of(world, "h1")
    r = await client.get(f"/Patient/{ann}/Encounter")
    assert {e["resource"]["id"] for e in r.json()["entry"]} == of(world, "enc")
    assert (await client.get(f"/Patient/{ann}/Organization")).status_code == 404


async def test_summary_true_on_search_and_read(world):
    client = world["client"]
    ann = world["ann"]
    r = (await client.get("/Patient", params={"_id": ann["id"], "_summary": "true"})).json()
    resource = r["entry"][0]["resource"]
    assert "name" in resource and "birthDate" in resource and "managingOrganization" in resource
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"
    cy = (await client.get(f"/Patient/{world['cy']['id']}", params={"_summary": "true"})).json()
    assert cy["deceasedBoolean"] is True   # deceased[x] is a summary element
    r = (await client.get(f"/Patient/{ann['id']}", params={"_elements": "gender"})).json()
    assert set(r) == {"resourceType", "id", "meta", "gender"}


async def _walk(client, url: str, params: dict | None, relation: str) -> list[list[str]]:
    """The pages met following `relation` links from `url`, each a list of ids."""
    pages = []
    while url:
        bundle = (await client.get(url, params=params)).json()
        pages.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        found = [link["url"] for link in bundle["link"] if link["relation"] == relation]
        url, params = (found[0].removeprefix(f"http://fhir.test/{SLUG}"), None) if found else (None, None)
    return pages


async def _last_page_url(client, url: str, params: dict) -> str:
    while True:
        bundle = (await client.get(url, params=params)).json()
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return next(link["url"] for link in bundle["link"]
                        if link["relation"] == "self").removeprefix(f"http://fhir.test/{SLUG}")
        url, params = nxt[0].removeprefix(f"http://fhir.test/{SLUG}"), None


@pytest.mark.parametrize("path, params", [
    ("/Patient", {"_sort": "-birthdate,family", "_count": "2"}),   # sort keys, with a NULL birth date
    ("/Patient", {"_count": "1"}),                                  # id order
    ("/Observation", {"_count": "1"}),                              # month by month
])
async def test_previous_links_walk_back_over_the_same_pages(world, path, params):
    client = world["client"]
    await client.post("/Patient", content=orjson.dumps({"resourceType": "Patient", "gender": "unknown"}))
    forward = await _walk(client, path, params, "next")
    assert len(forward) >= 3 and all(forward)
    backward = await _walk(client, await _last_page_url(client, path, params), None, "previous")
    assert backward[::-1] == forward
    first = (await client.get(path, params=params)).json()
    assert not [link for link in first["link"] if link["relation"] == "previous"]


async def test_above_and_below_follow_the_target_types_hierarchy(world):
    client = world["client"]

    async def post(resource: dict) -> str:
        r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def place(name: str, parent: str | None = None) -> dict:
        return {"resourceType": "Location", "name": name,
                **({"partOf": {"reference": f"Location/{parent}"}} if parent else {})}
    hospital = await post(place("Hospital"))
    wing = await post(place("Wing", hospital))
    ward = await post(place("Ward", wing))
    elsewhere = await post(place("Elsewhere"))
    a = await post(place("Loop A"))
    b = await post(place("Loop B", a))
    r = await client.put(f"/Location/{a}", content=orjson.dumps({**place("Loop A", b), "id": a}))   # a cycle
    assert r.status_code == 200, r.text

    async def visit(location: str) -> str:
        return await post({"resourceType": "Encounter", "status": "finished", "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "location": [{"location": {"reference": f"Location/{location}"}}]})
    at = {loc: await visit(loc) for loc in (hospital, wing, ward, elsewhere, a, b)}

    async def found(path: str, params: dict) -> set[str]:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in r.json().get("entry", [])}
    assert await found("/Encounter", {"location:below": f"Location/{wing}"}) == {at[wing], at[ward]}
    assert await found("/Encounter", {"location:above": wing}) == {at[wing], at[hospital]}
    assert await found("/Encounter", {"location:below": f"{hospital},{elsewhere}"}) == \
        {at[hospital], at[wing], at[ward], at[elsewhere]}
    assert await found("/Encounter", {"location:below": a}) == {at[a], at[b]}       # the cycle ends
    assert await found("/Location", {"partof:below": hospital}) == {wing, ward}
    assert await found("/Location", {"partof:above": ward}) == {ward, wing}   # part of ward, wing or hospital
    r = await client.get("/Observation", params={"subject:below": "Patient/x"}, headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and "hierarchy" in r.text


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


async def test_token_subsumption_and_value_sets_use_r4s_own_terminology(world):
    """:below/:above follow the code system's is-a hierarchy, :in/:not-in a value set's expansion;
    SNOMED CT and LOINC hierarchies are not known here, so those are refused, never guessed."""
    client = world["client"]

    async def post(resource: dict) -> str:
        r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
        assert r.status_code == 201, r.text
        return r.json()["id"]
    pid = await post({"resourceType": "Patient", "meta": {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}})
    enc = {code: await post({"resourceType": "Encounter", "status": "finished", "class": {"system": ACT_CODE,
                                                                                           "code": code},
                             "subject": {"reference": f"Patient/{pid}"}})
           for code in ("IMP", "ACUTE", "NONAC", "AMB", "EMER")}
    vital = await post({"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{pid}"},
                        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]}})   # heart rate
    lab = await post({"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{pid}"},
                      "code": {"coding": [{"system": LOINC, "code": "2345-7"}]}})   # glucose
    mine = {"subject": f"Patient/{pid}"}

    async def found(path: str, **params) -> set[str]:
        r = await client.get(path, params={**mine, **params}, headers={"Prefer": "handling=strict"})
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in r.json().get("entry", [])}
    # IMP (inpatient encounter) subsumes ACUTE and NONAC; AMB and EMER are its siblings.
    assert await found("/Encounter", **{"class:below": f"{ACT_CODE}|IMP"}) == {enc["IMP"], enc["ACUTE"], enc["NONAC"]}
    assert await found("/Encounter", **{"class:above": f"{ACT_CODE}|ACUTE"}) == {enc["IMP"], enc["ACUTE"]}
    assert await found("/Encounter", **{"class:below": f"{ACT_CODE}|ACUTE,{ACT_CODE}|AMB"}) == \
        {enc["ACUTE"], enc["AMB"]}
    assert await found("/Encounter", **{"class:in": "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"}) == \
        set(enc.values())
    assert await found("/Encounter", **{"status:in": "http://hl7.org/fhir/ValueSet/encounter-status"}) == \
        set(enc.values())
    assert await found("/Observation", **{"code:in": "http://hl7.org/fhir/ValueSet/observation-vitalsignresult"}) \
        == {vital}
    assert await found("/Observation", **{"code:not-in": "http://hl7.org/fhir/ValueSet/observation-vitalsignresult"}) \
        == {lab}
    # R (restricted) sits under _Confidentiality with L, M, N, U, V; not under the access kinds.
    patients = {"_id": pid}
    mine.clear()
    assert await found("/Patient", **patients, **{"_security:below": f"{CONFIDENTIALITY}|_Confidentiality"}) == {pid}
    by_access = f"{CONFIDENTIALITY}|_ConfidentialityByAccessKind"
    assert await found("/Patient", **patients, **{"_security:below": by_access}) == set()
    assert await found("/Patient", **patients, **{"_security:not-in": "http://hl7.org/fhir/ValueSet/security-labels"}) \
        == set()

    refused = {"code:below": f"{LOINC}|8867-4", "code:in": "http://hl7.org/fhir/ValueSet/condition-code"}
    for key, value in refused.items():
        r = await client.get("/Observation", params={key: value}, headers={"Prefer": "handling=strict"})
        assert r.status_code == 400 and "SP-TERMINOLOGY" in r.text, r.text
        r = await client.get("/Observation", params={key: value, "_id": lab})
        assert r.status_code == 200 and key not in r.json()["link"][0]["url"]   # lenient: dropped, and shown so
    for bad in (f"{ACT_CODE}|NOPE", "IMP"):   # no such code; no system: the value itself is wrong
        r = await client.get("/Encounter", params={"class:below": bad})
        assert r.status_code == 400 and "SP-BAD-VALUE" in r.text, r.text
