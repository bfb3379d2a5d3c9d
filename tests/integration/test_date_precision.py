"""Search dates finer than a microsecond (search.html#date: a value's precision is its range).

Stored times are whole microseconds; a search value such as 12:00:15.5000001 lies between
two of them, so each prefix has to round its bounds the safe way. Three observations sit
just below, at and just after the value's microsecond."""

from __future__ import annotations

import orjson
import pytest

from tests import samples

VALUE = "2016-02-01T12:00:15.5000001Z"
TIMES = {"before": "2016-02-01T12:00:15.499999Z",   # [15.499999, 15.500000)
         "at": "2016-02-01T12:00:15.500000Z",       # [15.500000, 15.500001): contains VALUE
         "after": "2016-02-01T12:00:15.500001Z"}    # [15.500001, 15.500002)

EXPECTED = {"lt": {"before", "at"}, "le": {"before", "at"}, "gt": {"at", "after"}, "ge": {"at", "after"},
            "eq": set(), "ne": {"before", "at", "after"}, "sa": {"after"}, "eb": {"before"}}


@pytest.fixture(scope="module")
async def chart(app) -> tuple[str, dict[str, str]]:
    import httpx
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fhir.test/default",
                                 headers={"Content-Type": "application/fhir+json"}) as client:
        patient = (await client.post("/Patient", content=orjson.dumps(samples.patient()))).json()["id"]
        names = {}
        for name, when in TIMES.items():
            r = await client.post("/Observation", content=orjson.dumps(samples.observation(patient, when=when)))
            names[r.json()["id"]] = name
    return patient, names


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
async def test_a_value_finer_than_a_microsecond_keeps_each_prefix_exact(fhir, chart, prefix):
    patient, names = chart
    r = await fhir.get("/Observation", params={"patient": patient, "date": prefix + VALUE, "_count": "10"})
    assert r.status_code == 200, r.text
    assert {names[e["resource"]["id"]] for e in r.json().get("entry", ())} == EXPECTED[prefix]
