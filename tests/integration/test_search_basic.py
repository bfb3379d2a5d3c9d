"""The first slice of search: bound parameters, R4 value rules, paging and handling."""

from __future__ import annotations

import pytest

from tests import samples
from tests.integration.test_crud import create


def ids(bundle: dict) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


@pytest.fixture(scope="module")
async def people(fhir) -> dict:
    made = {}
    for key, family, given, birth in (("ann", "Zébra", "Ann", "1980-05-01"), ("bob", "Zebraski", "Bob", "1980"),
                                      ("cy", "Zorro", "Cy", "1990-02-03")):
        made[key] = await create(fhir, samples.patient(family=family, given=given, birth=birth))
    return made


async def test_string_search_is_a_case_and_accent_insensitive_prefix(fhir, people):
    r = (await fhir.get("/Patient", params={"family": "zebra"})).json()
    assert ids(r) >= {people["ann"]["id"], people["bob"]["id"]} and people["cy"]["id"] not in ids(r)
    r = (await fhir.get("/Patient", params={"family": "ZÉBRA", "given": "ann"})).json()
    assert ids(r) == {people["ann"]["id"]}


async def test_token_search_with_and_without_system(fhir, people):
    ident = people["cy"]["identifier"][0]
    for value in (f"{ident['system']}|{ident['value']}", ident["value"], f"{ident['system']}|{ident['value']},nope"):
        assert ids((await fhir.get("/Patient", params={"identifier": value})).json()) == {people["cy"]["id"]}
    assert ids((await fhir.get("/Patient", params={"identifier": f"|{ident['value']}"})).json()) == set()
    assert ids((await fhir.get("/Patient", params={"identifier": f"urn:other|{ident['value']}"})).json()) == set()


async def test_date_search_respects_precision(fhir, people):
    ann, bob, cy = (people[k]["id"] for k in ("ann", "bob", "cy"))

    async def found(value):
        return ids((await fhir.get("/Patient", params={"birthdate": value, "family": "z", "_count": "100"})).json())
    assert await found("1980-05-01") == {ann}                 # bob's 1980 is not within that day
    assert await found("1980") == {ann, bob}
    assert await found("ge1985") == {cy}
    assert await found("lt1980-06") == {ann, bob}             # bob's year starts before June
    assert await found("sa1980") == {cy}
    assert await found("ne1980") == {cy}
    assert await found("eb1981,sa1990-01") == {ann, bob, cy}


async def test_reference_search_accepts_id_and_type_id(fhir, people):
    pid = people["ann"]["id"]
    oid = (await create(fhir, samples.observation(pid, when="2022-05-05T00:00:00Z")))["id"]
    for value in (pid, f"Patient/{pid}"):
        assert ids((await fhir.get("/Observation", params={"subject": value})).json()) == {oid}
        assert ids((await fhir.get("/Observation", params={"patient": value})).json()) == {oid}
    # Observation `patient` is subject.where(resolve() is Patient): a Group is no patient
    assert (await fhir.get("/Observation", params={"patient": "Group/1"})).status_code == 400
    assert (await fhir.get("/Observation", params={"patient": "Practitioner/1"})).status_code == 400


async def test_paging_follows_next_links_without_gaps(fhir, people):
    seen, url, params = [], "/Patient", {"family": "z", "_count": "1"}
    while url:
        bundle = (await fhir.get(url, params=params)).json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (nxt[0].removeprefix("http://fhir.test/default"), None) if nxt else (None, None)
    assert len(seen) == len(set(seen)) and {p["id"] for p in people.values()} <= set(seen)


async def test_summary_count_and_total(fhir, people):
    r = (await fhir.get("/Patient", params={"family": "zebra", "_summary": "count"})).json()
    assert r["total"] >= 2 and "entry" not in r
    r = (await fhir.get("/Patient", params={"family": "zebra", "_total": "accurate"})).json()
    assert r["total"] == len(r["entry"])


async def test_unknown_parameters_lenient_drops_them_and_strict_refuses(fhir, people):
    r = await fhir.get("/Patient", params={"family": "zorro", "nickname": "x"})
    assert r.status_code == 200
    assert r.json()["link"][0]["url"] == "http://fhir.test/default/Patient?family=zorro"
    strict = await fhir.get("/Patient", params={"family": "zorro", "nickname": "x"},
                            headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert (await fhir.get("/Patient", params={"birthdate": "not-a-date"})).status_code == 400


async def test_post_search_merges_form_and_url(fhir, people):
    r = await fhir.post("/Patient/_search", params={"given": "cy"}, content=b"family=zorro",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and ids(r.json()) == {people["cy"]["id"]}
