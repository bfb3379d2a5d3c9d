"""Search across types (search.html#searchall: GET [base]?_type=A,B&..., POST [base]/_search):
the parameters every listed type has, each type's matches in turn, paging across types that
loses and repeats nothing, totals summed, and only the caller's tenant."""

from __future__ import annotations

import orjson
import pytest

from fhirserver.tenants import create_tenant
from tests import samples
from tests.clients import tenant_client

SLUG = "searchall"
STRICT = {"Prefer": "handling=strict"}
TAG = {"system": "urn:test:searchall", "code": "mine"}


@pytest.fixture(scope="module")
async def made(app, owner) -> dict:
    await create_tenant(owner, SLUG, "System search tests", months_ahead=1)
    client = tenant_client(app, SLUG)
    out: dict = {"client": client}

    async def post(key: str, resource: dict) -> None:
        r = await client.post(f"/{resource['resourceType']}", content=orjson.dumps(resource))
        assert r.status_code == 201, r.text
        out[key] = (resource["resourceType"], r.json()["id"])

    await post("ann", samples.patient(family="Ann"))
    await post("bob", {**samples.patient(family="Bob"), "meta": {"tag": [TAG]}})
    ann = out["ann"][1]
    await post("o1", samples.observation(ann))
    await post("o2", {**samples.observation(ann), "meta": {"tag": [TAG]}})
    await post("o3", samples.observation(out["bob"][1]))
    await post("e1", samples.encounter(ann))
    yield out
    await client.aclose()


async def found(made: dict, params, headers=None) -> set[tuple[str, str]]:
    r = await made["client"].get("", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return {tuple(e["fullUrl"].rsplit("/", 2)[-2:]) for e in r.json().get("entry", [])
            if e["search"]["mode"] == "match"}


def of(made: dict, *keys: str) -> set[tuple[str, str]]:
    return {made[k] for k in keys}


async def test_a_parameter_the_types_share(made):
    ann = made["ann"][1]
    assert await found(made, {"_type": "Observation,Encounter", "patient": f"Patient/{ann}"}, STRICT) == \
        of(made, "o1", "o2", "e1")
    assert await found(made, {"_tag": "urn:test:searchall|mine"}, STRICT) == of(made, "bob", "o2")
    assert await found(made, {"_id": made["o3"][1]}) == of(made, "o3")


async def test_paging_across_types_loses_and_repeats_nothing(made):
    seen, url, params = [], "", {"_type": "Patient,Observation,Encounter", "_count": "2"}
    while url is not None:
        bundle = (await made["client"].get(url, params=params)).json()
        assert len(bundle.get("entry", [])) <= 2
        seen += [tuple(e["fullUrl"].rsplit("/", 2)[-2:]) for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix(f"http://fhir.test/{SLUG}"), None) if nxt else (None, None)
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == of(made, "ann", "bob", "o1", "o2", "o3", "e1")


async def test_totals_are_summed(made):
    r = await made["client"].get("", params={"_type": "Patient,Observation", "_summary": "count"})
    assert r.json()["total"] == 5 and "entry" not in r.json()
    r = await made["client"].get("", params={"_type": "Patient,Observation", "_total": "accurate", "_count": "1"})
    assert r.json()["total"] == 5 and len(r.json()["entry"]) == 1


async def test_a_parameter_one_type_lacks_is_refused_or_dropped_for_all(made):
    params = {"_type": "Patient,Observation", "family": "Ann"}
    r = await made["client"].get("", params=params, headers=STRICT)
    assert r.status_code == 400 and "Observation" in r.text
    lenient = await made["client"].get("", params=params)
    assert lenient.status_code == 200
    assert "family" not in lenient.json()["link"][0]["url"]
    assert len(lenient.json()["entry"]) == 5   # dropped for both types, never for one only


async def test_bad_requests_are_400(made):
    client = made["client"]
    assert (await client.get("", params={"_type": "Nope"})).status_code == 400
    assert (await client.get("", params={"_type": "Patient", "_sort": "_id"}, headers=STRICT)).status_code == 400
    assert (await client.get("", params={"_type": "Patient", "_cursor": "bm9wZQ"})).status_code == 400


async def test_post_search_equals_get(made):
    ann = made["ann"][1]
    r = await made["client"].post("/_search", content=f"_type=Observation&patient=Patient/{ann}",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert {tuple(e["fullUrl"].rsplit("/", 2)[-2:]) for e in r.json()["entry"]} == of(made, "o1", "o2")


async def test_it_stays_in_its_tenant(made, fhir):
    r = await fhir.get("", params={"_id": made["o3"][1]})
    assert r.status_code == 200 and "entry" not in r.json()
