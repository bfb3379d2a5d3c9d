"""Patient/[id]/$everything (R4 OperationDefinition Patient-everything): the patient, its
compartment and what those resources refer to, paged, with _since and _type; another
patient's record never appears."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson
import pytest

from fhirserver.tenants import create_tenant
from tests import samples
from tests.clients import tenant_client

SLUG = "everything"


@pytest.fixture(scope="module")
async def made(app, owner) -> dict:
    await create_tenant(owner, SLUG, "$everything tests", months_ahead=1)
    client = tenant_client(app, SLUG)
    out: dict = {"client": client}

    async def post(key: str, resource: dict) -> str:
        r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
        assert r.status_code == 201, r.text
        out[key] = (resource["resourceType"], r.json()["id"])
        return r.json()["id"]

    org = await post("org", samples.organization())
    doc = await post("doc", samples.practitioner())
    ann = await post("ann", {**samples.patient(family="Ann"),
                             "managingOrganization": {"reference": f"Organization/{org}"}})
    bob = await post("bob", samples.patient(family="Bob"))
    await post("obs", {**samples.observation(ann), "performer": [{"reference": f"Practitioner/{doc}"}]})
    enc = await post("enc", {**samples.encounter(ann), "serviceProvider": {"reference": f"Organization/{org}"}})
    await post("in_enc", {**samples.observation(ann), "encounter": {"reference": f"Encounter/{enc}"}})
    await post("med", samples.medication_request(ann))
    await post("claim", samples.claim(ann, f"Organization/{org}"))
    appt = samples.appointment()
    appt["participant"] = [{"status": "accepted", "actor": {"reference": f"Patient/{ann}"}}]
    await post("appt", appt)
    out["between"] = datetime.now(timezone.utc).isoformat()
    await post("later", samples.observation(ann))
    await post("theirs", samples.observation(bob))
    await asyncio.wait_for(app.state.services.audit.flush(), 15)
    yield out
    await client.aclose()


def _by_mode(bundle: dict) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set] = {"match": set(), "include": set()}
    for e in bundle.get("entry", []):
        out[e["search"]["mode"]].add(tuple(e["fullUrl"].rsplit("/", 2)[-2:]))
    return out


def of(made: dict, *keys: str) -> set[tuple[str, str]]:
    return {made[k] for k in keys}


async def test_the_patient_its_compartment_and_what_they_refer_to(made):
    r = await made["client"].get(f"/Patient/{made['ann'][1]}/$everything", params={"_count": "100"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "searchset"
    modes = _by_mode(r.json())
    assert modes["match"] == of(made, "ann", "obs", "enc", "in_enc", "med", "claim", "appt", "later")
    assert of(made, "org", "doc") <= modes["include"]
    assert made["bob"] not in modes["match"] | modes["include"] and made["theirs"] not in modes["match"]
    assert not [t for t, _ in modes["match"] | modes["include"] if t == "AuditEvent"]


async def test_paging_loses_and_repeats_nothing(made):
    seen, url, params = [], f"/Patient/{made['ann'][1]}/$everything", {"_count": "2"}
    while url:
        bundle = (await made["client"].get(url, params=params)).json()
        matches = [tuple(e["fullUrl"].rsplit("/", 2)[-2:]) for e in bundle.get("entry", [])
                   if e["search"]["mode"] == "match"]
        assert len(matches) <= 2
        seen += matches
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix(f"http://fhir.test/{SLUG}"), None) if nxt else (None, None)
    assert len(seen) == len(set(seen))
    assert set(seen) == of(made, "ann", "obs", "enc", "in_enc", "med", "claim", "appt", "later")


async def test_since_and_type_narrow_it(made):
    ann = made["ann"][1]
    r = await made["client"].get(f"/Patient/{ann}/$everything", params={"_since": made["between"]})
    assert _by_mode(r.json())["match"] == of(made, "later")
    r = await made["client"].get(f"/Patient/{ann}/$everything", params={"_type": "Encounter,Claim"})
    assert _by_mode(r.json())["match"] == of(made, "enc", "claim")
    r = await made["client"].get(f"/Patient/{ann}/$everything", params={"_type": "AuditEvent", "_count": "1"})
    assert {t for t, _ in _by_mode(r.json())["match"]} == {"AuditEvent"}   # the trail, when asked for


async def test_an_encounter_and_what_happened_in_it(made):
    r = await made["client"].get(f"/Encounter/{made['enc'][1]}/$everything")
    assert r.status_code == 200, r.text
    modes = _by_mode(r.json())
    assert modes["match"] == of(made, "enc", "in_enc")
    assert of(made, "ann", "org") <= modes["include"]


async def test_what_it_refuses(made):
    client, ann = made["client"], made["ann"][1]
    assert (await client.get(f"/Patient/{ann}/$everything", params={"start": "2020"})).status_code == 400
    assert (await client.get(f"/Patient/{ann}/$everything", params={"_type": "Location"})).status_code == 400
    assert (await client.get("/Patient/nobody/$everything")).status_code == 404
    assert (await client.get(f"/Observation/{made['obs'][1]}/$everything")).status_code == 404
