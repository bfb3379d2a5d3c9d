"""System history (http.html#history, GET [base]/_history): every type's versions of one
tenant, newest first, across types, with _since, _count and paging that loses and repeats
nothing. The tenant's AuditEvents are versions too (the trail of these very requests, written
as they run), so the comparisons leave them out."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import orjson
import pytest

from fhirserver.tenants import create_tenant
from tests import samples

SLUG = "historyland"


@pytest.fixture(scope="module")
async def made(app, owner) -> dict:
    await create_tenant(owner, SLUG, "System history tests", months_ahead=1)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url=f"http://fhir.test/{SLUG}",
                               headers={"Content-Type": "application/fhir+json"})
    out: dict = {"client": client, "versions": []}

    async def note(r: httpx.Response, type_name: str) -> dict:
        assert r.status_code in (200, 201), r.text
        body = r.json()
        out["versions"].append((type_name, body["id"], body["meta"]["versionId"]))
        return body

    patient = await note(await client.post("/Patient", content=orjson.dumps(samples.patient())), "Patient")
    obs = await note(await client.post("/Observation", content=orjson.dumps(samples.observation(patient["id"]))),
                     "Observation")
    out["middle"] = obs["meta"]["lastUpdated"]
    await note(await client.put(f"/Patient/{patient['id']}",
                                content=orjson.dumps({**samples.patient(family="Renamed"), "id": patient["id"]})),
               "Patient")
    await note(await client.post("/Encounter", content=orjson.dumps(samples.encounter(patient["id"]))), "Encounter")
    gone = await note(await client.post("/Observation", content=orjson.dumps(samples.observation(patient["id"]))),
                      "Observation")
    assert (await client.delete(f"/Observation/{gone['id']}")).status_code == 200
    out["versions"].append(("Observation", gone["id"], "2"))
    yield out
    await client.aclose()


def _entries(bundle: dict, audit: bool = False) -> list[tuple[str, str, str]]:
    out = []
    for e in bundle.get("entry", []):
        type_name, id_ = e["fullUrl"].rsplit("/", 2)[-2:]
        if audit or type_name != "AuditEvent":
            out.append((type_name, id_, e["response"]["etag"].split('"')[1]))
    return out


async def test_every_type_newest_first(made, app):
    await asyncio.wait_for(app.state.services.audit.flush(), 15)   # the trail of the writes above, stored
    r = await made["client"].get("/_history", params={"_count": "1000"})
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "history"
    assert _entries(bundle) == list(reversed(made["versions"]))
    assert {t for t, _, _ in _entries(bundle, audit=True)} == {"AuditEvent", "Encounter", "Observation", "Patient"}
    deleted = next(e for e in bundle["entry"] if e["request"]["method"] == "DELETE")
    assert "resource" not in deleted and deleted["fullUrl"].endswith(made["versions"][-1][1])
    stamps = [datetime.fromisoformat(e["response"]["lastModified"]) for e in bundle["entry"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_paging_across_types_loses_and_repeats_nothing(made):
    seen, url, params = [], "/_history", {"_count": "2"}
    while url:
        bundle = (await made["client"].get(url, params=params)).json()
        assert len(bundle.get("entry", [])) <= 2
        seen += _entries(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix(f"http://fhir.test/{SLUG}"), None) if nxt else (None, None)
    assert seen == list(reversed(made["versions"]))


async def test_since_keeps_what_changed_from_then_on(made):
    r = await made["client"].get("/_history", params={"_since": made["middle"], "_count": "1000"})
    assert _entries(r.json()) == list(reversed(made["versions"][1:]))


async def test_it_stays_in_its_tenant(made, fhir):
    bundle = (await fhir.get("/_history", params={"_count": "1000"})).json()
    theirs = {(t, i) for t, i, _ in _entries(bundle, audit=True)}
    assert not theirs & {(t, i) for t, i, _ in made["versions"]}


async def test_a_forged_cursor_is_refused(made):
    r = await made["client"].get("/_history", params={"_cursor": "bm90IGEgY3Vyc29y"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
