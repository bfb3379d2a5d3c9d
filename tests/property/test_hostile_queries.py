"""Property: no query string, however hostile, makes the server fail (5xx): every search,
history and read answers a result or a 4xx OperationOutcome.

Queries are drawn from the server's own vocabulary (every supported parameter of the
searched type, its modifiers, chains, _has, the result parameters) with values that are
well-formed, almost well-formed or hostile (prefixes without values, unbalanced escapes,
huge numbers, far dates, NUL and control characters, SQL and JSON fragments, forged
cursors), so that the parser and compiler see the edges they must refuse cleanly.
"""

from __future__ import annotations

import base64

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchparams import catalog
from tests.property.support import examples

TYPES = ("Patient", "Observation", "Encounter", "Claim", "AuditEvent")
RESULT = ("_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_cursor",
          "_format", "_pretty", "_explain", "_id", "_lastUpdated", "_has:Observation:patient:code",
          "_include:iterate", "_since")
NASTY = ["", "|", "||", "\\", "\\,", ",", "$", "a$b$c", "eq", "ge", "gt99999999999999999999", "1e999", "-0",
         "NaN", "Infinity", "9999-99-99", "0000-01-01", "2024-13-01", "2024-02-30T25:61:61Z", "1970",
         "ap1800-01-01", "sa", "'; DROP TABLE patients; --", "\x00", "\x7f", "%", "_", "*", "Patient/",
         "Patient/../x", "http://", "urn:uuid:", "{\"a\":1}", "[1,2]", "x" * 5000, "é̀", "\ud7ff",
         "http://loinc.org|", "|x", "a|b|c", "1.5|http://unitsofmeasure.org|mg", "gt1.5||mg",
         "Observation:subject", "Observation:nope", "*:*", "Patient:link:Patient", "-family", "_id,-_id",
         "true", "count", "accurate", "estimate", "data"]


def _cursor():
    return st.one_of(st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
                     st.sampled_from(["", "!!!", "eyJ9", "W10", "WyJ4Il0", "bnVsbA", "MQ", "e30"]))


@st.composite
def queries(draw, type_name: str) -> list[tuple[str, str]]:
    params = catalog.supported(type_name)
    names = sorted(params)
    items = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["param", "modifier", "chain", "result"]))
        if kind == "result":
            key = draw(st.sampled_from(RESULT))
        else:
            code = draw(st.sampled_from(names))
            key = code
            if kind == "modifier":
                mods = sorted(params[code].kind.modifiers) + ["exact", "missing", "Patient", "bogus", ""]
                key = f"{code}:{draw(st.sampled_from(mods))}"
            elif kind == "chain":
                key = f"{code}.{draw(st.sampled_from(['name', 'family', 'identifier', '_id', 'code', 'x']))}"
        value = draw(_cursor()) if key == "_cursor" else draw(st.one_of(st.sampled_from(NASTY),
                                                                       st.text(max_size=20)))
        items.append((key, value))
    return items


SETTINGS = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(data=st.data())
async def test_no_query_makes_a_search_fail(fhir, data):
    type_name = data.draw(st.sampled_from(TYPES), label="type")
    items = data.draw(queries(type_name), label="query")
    path = data.draw(st.sampled_from([f"/{type_name}", f"/{type_name}/_history", "/Patient/some-id/Observation",
                                      f"/{type_name}/some-id/_history", "", "/_history"]), label="path")
    if path == "" and data.draw(st.booleans(), label="typed"):   # a search across types
        items = [("_type", data.draw(st.sampled_from([type_name, f"{type_name},Patient", "Nope,", ","])))] + items
    r = await fhir.get(path, params=items)
    assert r.status_code < 500, (path, items, r.text[:500])
    if r.status_code >= 400:
        assert r.json()["resourceType"] == "OperationOutcome"


HEADERS = ("If-Match", "If-None-Match", "If-None-Exist", "If-Modified-Since", "Prefer", "Accept", "Content-Type",
           "X-Consistency-Token", "Idempotency-Key")
HEADER_VALUES = ['W/"1"', 'W/"x"', '"1"', "*", "W/", "", "family=Smith", "_id=", "gender:not=", "x=y&&z",
                 "return=minimal", "return=representation", "handling=strict", "respond-async", "application/fhir+xml",
                 "application/fhir+json; fhirVersion=3.0", "text/html", "application/json-patch+json", "0/0",
                 "FFFFFFFF/FFFFFFFF", "Mon, 32 Dec 2024 99:00:00 GMT", "Tue, 01 Jan 2030 00:00:00 GMT", "x" * 300]
PATCHES = [b'[{"op": "replace", "path": "/gender", "value": "other"}]', b'[{"op": "remove", "path": "/id"}]',
           b'[{"op": "move", "from": "/name", "path": "/name/0"}]', b'[{"op": "test", "path": "/x", "value": 1}]',
           b'[{"op": "add", "path": "/meta/versionId", "value": "9"}]', b'{"op": "add"}', b"[]", b"[1]",
           b'[{"op": "replace", "path": "/resourceType", "value": "Observation"}]',
           b'[{"op": "add", "path": "/name/99", "value": {}}]',
           b'[{"op": "copy", "from": "/", "path": "/contained/0"}]']


@SETTINGS
@given(data=st.data())
async def test_no_header_or_patch_makes_an_interaction_fail(fhir, data):
    made = await fhir.post("/Patient", content=b'{"resourceType": "Patient", "name": [{"family": "Hostile"}]}')
    pid = made.json()["id"]
    headers = {name: data.draw(st.one_of(st.sampled_from(HEADER_VALUES), st.text(
        st.characters(min_codepoint=32, max_codepoint=126), max_size=30)), label=name)
        for name in data.draw(st.lists(st.sampled_from(HEADERS), max_size=3, unique=True), label="headers")}
    method = data.draw(st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST", "GET-SEARCH"]), label="method")
    body = made.content
    if method == "PATCH":
        body = data.draw(st.sampled_from(PATCHES), label="patch")
        headers.setdefault("Content-Type", "application/json-patch+json")
    path = {"POST": "/Patient", "GET-SEARCH": "/Patient?family=Hostile"}.get(method, f"/Patient/{pid}")
    r = await fhir.request(method.split("-")[0], path, content=body if method in ("PUT", "PATCH", "POST") else None,
                           headers=headers)
    assert r.status_code < 500, (method, headers, r.text[:500])


URLS = ["Patient", "Patient/x", "Patient/x/_history/1", "Patient?family=Hostile", "Patient?bogus=1", "", "/",
        "Patient/../metadata", "Observation?subject:Patient.family=x", "$import", "metadata", "Patient/_search",
        "NotAType", "Patient/x/y/z/w", "http://elsewhere/Patient/1", "Patient?_count=x", "Patient/x/_history/x",
        "Patient?_cursor=!!", "Patient/\u00e9", "urn:uuid:1", "Patient?family=%00"]
FULL_URLS = [None, "urn:uuid:0f6c1a52-3a4c-4f0e-9a3e-6b1e2f6e7a01", "urn:uuid:bad", "Patient/x",
             "http://x/Patient/1", ""]


@st.composite
def entries(draw) -> dict:
    entry: dict = {"request": {"method": draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "X"])),
                               "url": draw(st.sampled_from(URLS))}}
    full = draw(st.sampled_from(FULL_URLS))
    if full is not None:
        entry["fullUrl"] = full
    if draw(st.booleans()):
        ref = draw(st.sampled_from(FULL_URLS[1:] + ["Patient?family=Hostile", "Patient?x=1", "#contained"]))
        entry["resource"] = {"resourceType": draw(st.sampled_from(["Patient", "Observation", "Bundle"])),
                             "link": [{"other": {"reference": ref}, "type": "seealso"}]} \
            if draw(st.booleans()) else {"resourceType": "Patient", "name": [{"family": "Hostile"}]}
    if draw(st.booleans()):
        entry["request"][draw(st.sampled_from(["ifMatch", "ifNoneExist", "ifNoneMatch", "ifModifiedSince"]))] = \
            draw(st.sampled_from(HEADER_VALUES))
    return entry


@SETTINGS
@given(kind=st.sampled_from(["batch", "transaction", "searchset", None]), items=st.lists(entries(), max_size=5))
async def test_no_bundle_makes_the_server_fail(fhir, kind, items):
    bundle: dict = {"resourceType": "Bundle", "entry": items}
    if kind is not None:
        bundle["type"] = kind
    r = await fhir.post("/", content=orjson.dumps(bundle))
    assert r.status_code < 500, (bundle, r.text[:500])


NDJSON_LINES = [b'{"resourceType": "Patient"}', b'{"resourceType": "Patient", "id": "hostile-1"}', b"{", b"[]", b"null",
                b'"x"', b'{"resourceType": "Nope"}', b'{"resourceType": "Patient", "id": "bad id!"}',
                b'{"resourceType": "Patient", "name": [{"family": "a\\u0000b"}]}', b'{"resourceType": 5}',
                b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": '
                b'{"value": 1e999}}', b'{"resourceType": "Patient", "birthDate": "99999-01-01"}',
                b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, '
                b'"effectiveDateTime": "4321-01-01"}', b'{"resourceType": "Bundle", "type": "collection"}',
                b"\xff\xfe", b"", b" ", b'{"resourceType": "Patient", "id": "hostile-1", "active": "yes"}']


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(st.sampled_from(NDJSON_LINES), min_size=1, max_size=8))
async def test_no_ndjson_makes_import_fail(http, lines):
    r = await http.post("/default/$import", content=b"\n".join(lines),
                        headers={"Content-Type": "application/fhir+ndjson"})
    assert r.status_code < 500, (lines, r.text[:500])
