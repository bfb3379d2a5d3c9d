"""Idempotency-Key on create: a retry of a create whose answer was lost gets that answer
again instead of making a duplicate; the key is per tenant; misuse is a clear 4xx."""

from __future__ import annotations

import asyncio
import uuid

import orjson

from tests import samples


def _code(r) -> str:
    return r.json()["issue"][0]["details"]["coding"][0]["code"]


async def _count(owner, family: str) -> int:
    return await owner.fetchval("SELECT count(*) FROM patients_str WHERE param = 'family' AND norm = lower($1)",
                                family)


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_makes_nothing(fhir, http, owner):
    family, key = f"Idem{uuid.uuid4().hex[:8]}", f"retry-{uuid.uuid4()}"
    first = await fhir.post("/Patient", content=orjson.dumps(samples.patient(family=family)),
                            headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    retried = await fhir.post("/Patient", content=orjson.dumps(samples.patient(family=family + "x")),
                              headers={"Idempotency-Key": key})
    assert retried.status_code == 201
    assert retried.headers["Location"] == first.headers["Location"]
    assert retried.headers["ETag"] == first.headers["ETag"] and retried.content == first.content
    updated = await fhir.put(f"/Patient/{first.json()['id']}", content=orjson.dumps({**first.json(), "active": False}))
    assert updated.status_code == 200
    again = await fhir.post("/Patient", content=orjson.dumps(samples.patient(family=family)),
                            headers={"Idempotency-Key": key})
    assert again.content == first.content   # the first answer, not the resource as it is now
    assert await _count(owner, family) == 1 and await _count(owner, family + "x") == 0

    other = await fhir.post("/Patient", content=orjson.dumps(samples.patient(family=family)),
                            headers={"Idempotency-Key": key + "-2"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    elsewhere = await http.post("/acme/Patient", content=orjson.dumps(samples.patient(family=family)),
                                headers={"Idempotency-Key": key, "Content-Type": "application/fhir+json"})
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]   # keys are per tenant


async def test_concurrent_retries_make_one_resource(fhir, owner):
    family, key = f"Race{uuid.uuid4().hex[:8]}", f"race-{uuid.uuid4()}"
    body = orjson.dumps(samples.patient(family=family))
    answers = await asyncio.gather(*(fhir.post("/Patient", content=body, headers={"Idempotency-Key": key})
                                     for _ in range(5)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert await _count(owner, family) == 1


async def test_misused_keys_are_refused_and_change_nothing(fhir):
    key = f"misuse-{uuid.uuid4()}"
    made = await fhir.post("/Patient", content=orjson.dumps(samples.patient()), headers={"Idempotency-Key": key})
    assert made.status_code == 201
    reused = await fhir.post("/Observation", content=orjson.dumps(samples.observation(made.json()["id"])),
                             headers={"Idempotency-Key": key})
    assert reused.status_code == 422 and _code(reused) == "RES-IDEMPOTENCY-KEY-REUSED"
    for bad in ("x" * 256, "has space"):
        r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()), headers={"Idempotency-Key": bad})
        assert r.status_code == 400 and _code(r) == "RES-IDEMPOTENCY-KEY"
