"""Regression tests, one minimal case each, for the server deviations the property tests
(test_round_trip.py, test_history.py) found; all are fixed. They run without hypothesis, so a
regression shows up here with a readable example even before a property finds it again.
"""

from __future__ import annotations

import uuid

import orjson

from tests.property.support import exact, show

PATCH = {"Content-Type": "application/json-patch+json"}


def _new_id() -> str:
    return f"bug-{uuid.uuid4().hex}"


async def test_history_of_update_as_create_says_put(fhir):
    """Was: request POST <Type> (the method was derived from version_id == 1)."""
    id_ = _new_id()
    body = {"resourceType": "Organization", "id": id_, "name": "x"}
    assert (await fhir.put(f"/Organization/{id_}", content=orjson.dumps(body))).status_code == 201
    entry = (await fhir.get(f"/Organization/{id_}/_history")).json()["entry"][0]
    assert entry["request"] == {"method": "PUT", "url": f"Organization/{id_}"}


async def test_history_of_a_re_create_says_201(fhir):
    """Was: response.status 200 OK although the re-creating PUT answered 201."""
    id_ = _new_id()
    body = orjson.dumps({"resourceType": "Organization", "id": id_, "name": "x"})
    assert (await fhir.put(f"/Organization/{id_}", content=body)).status_code == 201
    assert (await fhir.delete(f"/Organization/{id_}")).status_code == 200
    assert (await fhir.put(f"/Organization/{id_}", content=body)).status_code == 201
    entry = (await fhir.get(f"/Organization/{id_}/_history")).json()["entry"][0]
    assert entry["response"]["status"].startswith("201")


async def test_vread_of_a_version_after_a_delete_is_404(fhir):
    """Was: 410 (vread fell back to read, which reports the delete)."""
    id_ = _new_id()
    body = orjson.dumps({"resourceType": "Organization", "id": id_, "name": "x"})
    assert (await fhir.put(f"/Organization/{id_}", content=body)).status_code == 201
    assert (await fhir.delete(f"/Organization/{id_}")).status_code == 200
    assert (await fhir.get(f"/Organization/{id_}/_history/2")).status_code == 410
    r = await fhir.get(f"/Organization/{id_}/_history/3")
    assert r.status_code == 404, show(r.content)


async def test_negative_zero_decimal_keeps_its_text(fhir):
    """Was: stored as 0 (number text was kept only for bodies matching \\d[.eE]|\\d{16})."""
    raw = b'{"resourceType":"Observation","code":{"text":"w"},"valueQuantity":{"value":-0}}'
    created = await fhir.post("/Observation", content=raw)
    assert created.status_code == 201
    assert exact(created.content).get("valueQuantity") == exact(raw).get("valueQuantity"), show(created.content)


async def test_patch_keeps_the_text_of_untouched_decimals(fhir):
    """Was: 0.00000010 -> 1.0E-7 and 1E5 -> 1E+5 (patch wrote str(Decimal))."""
    raw = (b'{"resourceType":"Observation","code":{"text":"w"},"valueQuantity":{"value":0.00000010},'
           b'"referenceRange":[{"low":{"value":1E5}}]}')
    created = await fhir.post("/Observation", content=raw)
    assert created.status_code == 201
    id_ = created.json()["id"]
    patched = await fhir.patch(f"/Observation/{id_}", headers=PATCH,
                               content=b'[{"op":"add","path":"/status","value":"final"}]')
    assert patched.status_code == 200
    got = exact(patched.content)
    want = exact(raw)
    assert got.get("valueQuantity") == want.get("valueQuantity"), show(patched.content)
    assert got.get("referenceRange") == want.get("referenceRange"), show(patched.content)


async def test_patch_keeps_the_text_of_decimals_it_adds(fhir):
    """Was: 1.50 -> 1.5 (the patch document was read as floats)."""
    created = await fhir.post("/Observation", content=b'{"resourceType":"Observation","code":{"text":"w"}}')
    assert created.status_code == 201
    id_ = created.json()["id"]
    patched = await fhir.patch(f"/Observation/{id_}", headers=PATCH,
                               content=b'[{"op":"add","path":"/valueQuantity","value":{"value":1.50}}]')
    assert patched.status_code == 200
    assert b'"value":1.50' in patched.content, show(patched.content)


async def test_patch_keeps_integers_beyond_64_bits(fhir):
    """Was: 500 (a patch document's -9223372036854775809 could not be written back)."""
    created = await fhir.post("/Location", content=b'{"resourceType":"Location","name":"x"}')
    assert created.status_code == 201
    patched = await fhir.patch(f"/Location/{created.json()['id']}", headers=PATCH,
                               content=b'[{"op":"add","path":"/position","value":{"altitude":-9223372036854775809}}]')
    assert patched.status_code == 200, show(patched.content)
    assert b'"altitude":-9223372036854775809' in patched.content
