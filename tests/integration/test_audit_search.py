"""AuditEvent search, answered from its own columns (searchparams.catalog.COLUMN_ONLY: action,
outcome, date, type, subtype): hand-picked events at the edges R4 decides, each expected set
worked out from search.html and quoted beside it.

The server writes an AuditEvent of its own for every request, in the same tenant: every search
here carries this module's tag, so only the events below are ever candidates.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from fhirserver.tenants import create_tenant
from tests.clients import tenant_client

SLUG = "auditsearch"
TAG = {"system": "http://test.example/audit-search", "code": uuid.uuid4().hex}
TAG_QUERY = f"{TAG['system']}|{TAG['code']}"
STRICT = {"Prefer": "handling=strict"}

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = "http://hl7.org/fhir/restful-interaction"
OTHER = "http://other.test/cs"
ACTION_VS = "http://hl7.org/fhir/ValueSet/audit-event-action"
SUBTYPE_VS = "http://hl7.org/fhir/ValueSet/audit-event-sub-type"

# key: (recorded, type, subtype, action, outcome). Each `recorded` is a range as wide as its
# precision (search.html#date: "the date value represents an implicit range"):
#   sec       [10:00:00, 10:00:01)               a second
#   ms        [10:00:00.500, 10:00:00.501)       a millisecond inside `sec`'s second
#   zero_ms   [10:00:00.000, 10:00:00.001)       a millisecond at the start of it
#   zone      [10:00:01, 10:00:02)               written in +02:00
#   month_end [2026-04-01T04:59:59.999Z, +1 ms)  31 March in -05:00, April in UTC
#   old       [2025-12-31T23:59:59, 2026-01-01)  ends exactly where 2026 starts
#   far       [2000-01-01T00:00:00, +1 s)
EVENTS = {
    "sec": ("2026-03-05T10:00:00Z", {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
            [{"system": REST, "code": "read"}], "R", "0"),
    "ms": ("2026-03-05T10:00:00.500Z", {"system": DCM, "code": "110110"}, [{"system": REST, "code": "create"}],
           "C", "4"),
    "zero_ms": ("2026-03-05T10:00:00.000Z", {"system": AUDIT_TYPE, "code": "rest"}, [{"display": "Query"}], "U", "0"),
    "zone": ("2026-03-05T12:00:01+02:00", {"code": "nosys"}, [], "E", "8"),
    "month_end": ("2026-03-31T23:59:59.999-05:00", {"system": OTHER, "code": "abc"},
                  [{"system": REST, "code": "search-type"}, {"display": "Query"}], "R", None),
    "old": ("2025-12-31T23:59:59Z", {"code": "rest"}, [], "D", "12"),
    "far": ("2000-01-01T00:00:00+00:00", {"system": DCM, "code": "110112"},
            [{"system": REST, "code": "vread"}, {"system": DCM, "code": "110120"}], "R", "0"),
}
ALL = set(EVENTS)


@pytest.fixture(scope="module")
async def trail(app, owner):
    await create_tenant(owner, SLUG, "Audit search", months_ahead=1)
    client = tenant_client(app, SLUG)
    refs = {}
    for type_name, body in (("Patient", {"resourceType": "Patient", "name": [{"family": "Audited"}]}),
                            ("Practitioner", {"resourceType": "Practitioner", "name": [{"family": "Auditor"}]})):
        r = await client.post(f"/{type_name}", content=orjson.dumps(body))
        assert r.status_code == 201, r.text
        refs[type_name] = f"{type_name}/{r.json()['id']}"
    names = {}
    for key, (recorded, type_, subtype, action, outcome) in EVENTS.items():
        body = {"resourceType": "AuditEvent", "meta": {"tag": [TAG]}, "type": type_, "recorded": recorded,
                "action": action, "agent": [{"requestor": True, "who": {"reference": refs["Practitioner"]}}],
                "source": {"observer": {"display": "test"}}}
        if subtype:
            body["subtype"] = subtype
        if outcome is not None:
            body["outcome"] = outcome
        if key in ("sec", "ms"):
            body["entity"] = [{"what": {"reference": refs["Patient"]}}]
        r = await client.post("/AuditEvent", content=orjson.dumps(body))
        assert r.status_code == 201, r.text
        names[r.json()["id"]] = key
    yield client, names, refs
    await client.aclose()


async def _found(trail, *params: tuple[str, str]) -> list[str]:
    """The keys of the events a search of `params` (and this module's tag) returns, in order."""
    client, names, _ = trail
    r = await client.get("/AuditEvent", params=[*params, ("_tag", TAG_QUERY), ("_count", "100")], headers=STRICT)
    assert r.status_code == 200, r.text
    return [names[e["resource"]["id"]] for e in r.json().get("entry", ())]


CASES = [
    # --- date: search.html#prefix, on [start, end) of the search value (s) and the stored one (t).
    # eq: "the range of the search value fully contains the range of the target value": a second
    # holds each of its milliseconds, but a millisecond does not hold the second.
    ("date", "2026-03-05T10:00:00Z", {"sec", "ms", "zero_ms"}),
    ("date", "eq2026-03-05T10:00:00Z", {"sec", "ms", "zero_ms"}),
    ("date", "2026-03-05T10:00:00.500Z", {"ms"}),
    ("date", "2026-03-05T10:00:00.000Z", {"zero_ms"}),
    ("date", "2026-03-05T10:00:00.5Z", {"ms"}),                # a tenth: [.5, .6)
    ("date", "2026-03-05T12:00:00+02:00", {"sec", "ms", "zero_ms"}),
    ("date", "2026-03-05T10:00Z", {"sec", "ms", "zero_ms", "zone"}),    # the minute
    ("date", "2026-03-05T10:00:00Z,2026-03-05T10:00:01Z", {"sec", "ms", "zero_ms", "zone"}),
    # ne: "does not fully contain".
    ("date", "ne2026-03-05T10:00:00Z", ALL - {"sec", "ms", "zero_ms"}),
    ("date", "ne2026-03-05T10:00:00.500Z", ALL - {"ms"}),
    # gt: "the range above the search value intersects the range of the target value" (t.end > s.end).
    ("date", "gt2026-03-05T10:00:00Z", {"zone", "month_end"}),
    ("date", "gt2026-03-05T10:00:00.500Z", {"sec", "zone", "month_end"}),
    # ge: gt, or eq.
    ("date", "ge2026-03-05T10:00:00Z", {"sec", "ms", "zero_ms", "zone", "month_end"}),
    ("date", "ge2026-03-05T10:00:00.500Z", {"sec", "ms", "zone", "month_end"}),
    # lt: "the range below the search value intersects the range of the target value" (t.start < s.start).
    ("date", "lt2026-03-05T10:00:00.500Z", {"sec", "zero_ms", "old", "far"}),
    ("date", "lt2026-03-05T10:00:00Z", {"old", "far"}),
    # le: lt, or eq.
    ("date", "le2026-03-05T10:00:00Z", {"sec", "ms", "zero_ms", "old", "far"}),
    ("date", "le2026-03-05T10:00:00.500Z", {"sec", "ms", "zero_ms", "old", "far"}),
    # sa: "does not overlap ... and the range above the search value contains" (t.start >= s.end).
    ("date", "sa2026-03-05T10:00:00.500Z", {"zone", "month_end"}),
    ("date", "sa2026-03-05T10:00:00Z", {"zone", "month_end"}),
    ("date", "sa2026-03-05T10:00:00.999Z", {"zone", "month_end"}),
    # eb: the same below (t.end <= s.start).
    ("date", "eb2026-03-05T10:00:00.500Z", {"zero_ms", "old", "far"}),
    ("date", "eb2026-03-05T10:00:01Z", {"sec", "ms", "zero_ms", "old", "far"}),
    ("date", "eb2026-03-05T10:00:00Z", {"old", "far"}),
    # Month and year ends: 23:59:59.999 on 31 March in -05:00 is April in UTC (dates without a zone
    # are UTC on this server); `old` ends exactly where 2026 begins.
    ("date", "2026-03", {"sec", "ms", "zero_ms", "zone"}),
    ("date", "2026-04", {"month_end"}),
    ("date", "2026-03-31", set()),
    ("date", "2026-04-01", {"month_end"}),
    ("date", "2026-03-31T23:59:59.999-05:00", {"month_end"}),
    ("date", "2026-04-01T04:59:59.999Z", {"month_end"}),
    ("date", "2026-04-01T04:59:59Z", {"month_end"}),
    ("date", "2026-04-01T04:59:59.998Z", set()),
    ("date", "lt2026-04-01T04:59:59.999Z", ALL - {"month_end"}),
    ("date", "ge2026-04", {"month_end"}),
    ("date", "le2026-03", ALL - {"month_end"}),
    ("date", "2025", {"old"}),
    ("date", "2026-01-01", set()),
    ("date", "eb2026", {"old", "far"}),
    ("date", "lt2026", {"old", "far"}),
    ("date", "ge2026", ALL - {"old", "far"}),
    ("date", "sa2025-12-31T23:59:59Z", ALL - {"old", "far"}),
    # date:missing: every AuditEvent has `recorded` (1..1).
    ("date:missing", "false", ALL),
    ("date:missing", "true", set()),

    # --- type (Coding): search.html#token: [code] "irrespective of the value of the system";
    # [system]|[code]; |[code] "has no system property"; [system]| "any element where the value of
    # [system] matches".
    ("type", "rest", {"sec", "zero_ms", "old"}),
    ("type", f"{AUDIT_TYPE}|rest", {"sec", "zero_ms"}),
    ("type", "|rest", {"old"}),
    ("type", "|nosys", {"zone"}),
    ("type", "nosys", {"zone"}),
    ("type", f"{OTHER}|", {"month_end"}),
    ("type", f"{DCM}|", {"ms", "far"}),
    ("type", f"{DCM}|110110,|nosys", {"ms", "zone"}),
    ("type", f"{OTHER}|rest", set()),
    # :not: "reverse the code matching ... includes resources that have no value for the parameter".
    ("type:not", "rest", {"ms", "zone", "month_end", "far"}),
    ("type:not", f"{DCM}|", {"sec", "zero_ms", "zone", "month_end", "old"}),
    ("type:missing", "false", ALL),
    ("type:missing", "true", set()),
    ("type:in", "http://hl7.org/fhir/ValueSet/audit-event-type", {"sec", "ms", "zero_ms", "far"}),

    # --- subtype (0..* Coding).
    ("subtype", "read", {"sec"}),
    ("subtype", f"{REST}|", {"sec", "ms", "month_end", "far"}),
    ("subtype", f"{REST}|vread,{DCM}|110120", {"far"}),
    ("subtype:not", "read", ALL - {"sec"}),
    ("subtype:not", f"{REST}|", {"zero_ms", "zone", "old"}),
    # :below: "the coding in the resource has an is-a relationship with the search concept, and this
    # includes the coding itself" (restful-interaction: search > search-type, search-system).
    ("subtype:below", f"{REST}|search", {"month_end"}),
    ("subtype:in", SUBTYPE_VS, {"sec", "ms", "month_end", "far"}),

    # --- action and outcome (code, required bindings: their systems are implied).
    ("action", "R,E", {"sec", "zone", "month_end", "far"}),
    ("action", "http://hl7.org/fhir/audit-event-action|C", {"ms"}),
    ("action", "http://hl7.org/fhir/audit-event-action|", ALL),
    ("action", f"{OTHER}|C", set()),
    ("action:not", "R", {"ms", "zero_ms", "zone", "old"}),
    ("action:in", ACTION_VS, ALL),
    ("action:not-in", ACTION_VS, set()),
    ("action:missing", "true", set()),
    ("outcome", "0", {"sec", "zero_ms", "far"}),
    ("outcome", "4,8,12", {"ms", "zone", "old"}),
    ("outcome:not", "0", {"ms", "zone", "month_end", "old"}),
    ("outcome:missing", "true", {"month_end"}),
    ("outcome", "http://hl7.org/fhir/audit-event-outcome|", ALL - {"month_end"}),
]


# A system "*" (a valid uri): the columns keep "*|code" for "this code in any system", so they
# cannot answer a search naming the system "*", and the server says so instead of widening it.
STAR = [("type", "*|rest"), ("subtype", "*|read"), ("type:not", "*|rest")]


@pytest.mark.parametrize(("key", "value"), STAR)
async def test_the_system_star_is_refused_on_a_column_only_token(trail, key, value):
    client, _, _ = trail
    r = await client.get("/AuditEvent", params={key: value})
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


async def test_the_system_star_on_a_hot_token_column_goes_to_the_side_table(trail):
    """Observation `code` is a hot column too, not a column-only one: the side table answers."""
    client, _, _ = trail
    body = {"resourceType": "Observation", "status": "final", "meta": {"tag": [TAG]},
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}
    assert (await client.post("/Observation", content=orjson.dumps(body))).status_code == 201
    for value, hits in (("*|29463-7", 0), ("http://loinc.org|29463-7", 1)):
        r = await client.get("/Observation", params={"code": value, "_tag": TAG_QUERY}, headers=STRICT)
        assert r.status_code == 200 and len(r.json().get("entry", [])) == hits, (value, r.text)


def _id(case) -> str:
    key, value, _ = case.values if hasattr(case, "values") else case
    return f"{key}={value}"


@pytest.mark.parametrize(("key", "value", "expected"), CASES, ids=[_id(c) for c in CASES])
async def test_column_only_parameters_answer_what_r4_says(trail, key, value, expected):
    assert set(await _found(trail, (key, value))) == expected


# --- the end of a month: events filed in March (by their start) that reach April --------------------
# a [03-31T23:59:59, 04-01T00:00:00)   c [03-31T23:59:59.999, 04-01T00:00:00.000)   b [04-01T00:00:00.000, .001)
MONTH_END = {"a": "2026-03-31T23:59:59Z", "c": "2026-03-31T23:59:59.999Z", "b": "2026-04-01T02:00:00.000+02:00"}
MONTH_CASES = [
    ("gt2026-03-31T23:59:59.500Z", {"a", "b", "c"}),     # every end is after .501
    ("gt2026-03-31T23:59:59.999Z", {"b"}),               # a and c end exactly at April's start
    ("ge2026-03-31T23:59:59.999Z", {"b", "c"}),
    ("sa2026-03-31T23:59:59.500Z", {"b", "c"}),
    ("lt2026-04-01T00:00:00Z", {"a", "c"}),
    ("le2026-03-31T23:59:59.999Z", {"a", "c"}),
    ("eb2026-04-01T00:00:00Z", {"a", "c"}),
    ("eb2026-03-31T23:59:59.999Z", set()),
    ("2026-04-01T00:00Z", {"b"}),
    ("2026-03-31T23:59Z", {"a", "c"}),
    ("2026-03-31T23:59:59Z", {"a", "c"}),
    ("ne2026-03-31T23:59:59Z", {"b"}),
    ("2026-04-01T02:00:00+02:00", {"b"}),
    ("2026-03", {"a", "c"}),
    ("2026-04", {"b"}),
    ("gt2026-03", {"b"}),
    ("ge2026-04", {"b"}),
    ("lt2026-04", {"a", "c"}),
    ("sa2026-03", {"b"}),
    ("eb2026-04", {"a", "c"}),
]


@pytest.fixture(scope="module")
async def month_end(trail):
    client, _, _ = trail
    tag = {"system": TAG["system"], "code": uuid.uuid4().hex}
    names = {}
    for key, recorded in MONTH_END.items():
        body = {"resourceType": "AuditEvent", "meta": {"tag": [tag]}, "type": {"code": "rest"}, "recorded": recorded,
                "agent": [{"requestor": False, "name": "x"}], "source": {"observer": {"display": "test"}}}
        r = await client.post("/AuditEvent", content=orjson.dumps(body))
        assert r.status_code == 201, r.text
        names[r.json()["id"]] = key
    return client, names, f"{tag['system']}|{tag['code']}"


@pytest.mark.parametrize(("value", "expected"), MONTH_CASES, ids=[v for v, _ in MONTH_CASES])
async def test_ranges_that_cross_into_the_next_month_are_found(month_end, value, expected):
    """Filed under March by its start, an event whose range ends in April (or where April starts)
    must be found by searches whose bounds lie in either month."""
    client, names, tag = month_end
    r = await client.get("/AuditEvent", params={"date": value, "_tag": tag}, headers=STRICT)
    assert r.status_code == 200, r.text
    assert {names[e["resource"]["id"]] for e in r.json().get("entry", ())} == expected


async def test_a_display_alone_is_a_value_of_subtype(trail):
    """`zero_ms` holds a single subtype Coding with a display only: the element is there.
    search.html#modifiers, :missing=true: "resources that do not have a value for the element"."""
    assert set(await _found(trail, ("subtype:missing", "true"))) == {"zone", "old"}


async def test_a_display_alone_is_a_value_of_type(trail):
    client, names, _ = trail
    tag = {"system": TAG["system"], "code": uuid.uuid4().hex}
    body = {"resourceType": "AuditEvent", "meta": {"tag": [tag]}, "type": {"display": "Something happened"},
            "recorded": "2026-03-05T10:00:00Z", "agent": [{"requestor": False, "name": "x"}],
            "source": {"observer": {"display": "test"}}}
    r = await client.post("/AuditEvent", content=orjson.dumps(body))
    assert r.status_code == 201, r.text
    r = await client.get("/AuditEvent", params={"type:missing": "true", "_tag": f"{tag['system']}|{tag['code']}"},
                         headers=STRICT)
    assert r.status_code == 200, r.text
    assert r.json().get("entry", []) == []


async def test_ap_widens_by_a_share_of_the_gap_to_now(trail):
    """ap: the search range "overlaps", widened by this server's 10% of the gap between now and the
    date: a few weeks around March 2026 here, never back to 2000 (whenever the test runs)."""
    got = set(await _found(trail, ("date", "ap2026-03-05T10:00:00.500Z")))
    assert {"sec", "ms", "zero_ms", "zone"} <= got
    assert "far" not in got


async def test_references_and_columns_combine(trail):
    _, _, refs = trail
    assert set(await _found(trail, ("entity", refs["Patient"]), ("date", "2026-03-05T10:00:00Z"))) == {"sec", "ms"}
    assert set(await _found(trail, ("patient", refs["Patient"]), ("subtype:not", "read"))) == {"ms"}
    assert set(await _found(trail, ("agent", refs["Practitioner"]), ("action", "R"), ("date", "ge2026"))) == \
        {"sec", "month_end"}


async def test_reverse_chains_reach_the_columns(trail):
    """`_has:AuditEvent:entity:...` on Patient: the inner clause is answered from AuditEvent's columns.
    The server's own events refer to the Patient too (its create: type rest, subtype create), so only
    values none of them has are searched: `ms` alone is a DICOM 110110 at 10:00:00.500."""
    client, _, refs = trail
    patient = refs["Patient"].split("/")[1]

    async def has(key: str, value: str) -> set[str]:
        r = await client.get("/Patient", params={f"_has:AuditEvent:entity:{key}": value}, headers=STRICT)
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in r.json().get("entry", ())}

    assert await has("type", f"{DCM}|110110") == {patient}
    assert await has("type", "|nosys") == set()
    assert await has("date", "2026-03-05T10:00:00.500Z") == {patient}
    assert await has("date", "2026-03-05T10:00:00.250Z") == set()
    assert await has("date", "eb2026-03-05T10:00:00.501Z") == {patient}     # ms ends at .501
    assert await has("date", "eb2026-03-05T10:00:00.500Z") == set()
    assert await has("outcome", "4") == {patient}
    assert await has("action", "http://hl7.org/fhir/audit-event-action|D") == set()


async def test_sorted_by_date_descending_and_by_type(trail):
    # Descending by each range's end (search.html#sort leaves ranges to the server).
    assert await _found(trail, ("_sort", "-date")) == ["month_end", "zone", "sec", "ms", "zero_ms", "old", "far"]
    # By the code, whatever its system: 110110 < 110112 < abc < nosys < rest (three).
    got = await _found(trail, ("_sort", "type"))
    assert got[:4] == ["ms", "far", "month_end", "zone"] and set(got[4:]) == {"sec", "zero_ms", "old"}
    got = await _found(trail, ("_sort", "-type"))
    assert set(got[:3]) == {"sec", "zero_ms", "old"} and got[3:] == ["zone", "month_end", "far", "ms"]


async def _refused(trail, params: list[tuple[str, str]], headers: dict) -> dict:
    client, _, _ = trail
    r = await client.get("/AuditEvent", params=params, headers=headers)
    assert r.status_code == 400, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome


def _codes(outcome: dict) -> set[str]:
    return {c["code"] for issue in outcome["issue"] for c in issue.get("details", {}).get("coding", ())}


async def test_text_on_a_column_only_token_is_refused(trail):
    """The columns keep codes, not displays: `:text` is refused (strict handling; lenient handling
    drops an unsupported parameter, as for any other)."""
    for key in ("type:text", "subtype:text", "action:text", "outcome:text"):
        assert "SP-MODIFIER" in _codes(await _refused(trail, [(key, "x")], STRICT)), key


async def test_a_parameter_not_indexed_is_refused_under_strict_handling(trail):
    for key in ("site", "entity-name", "agent-role", "source"):
        assert "SP-UNSUPPORTED" in _codes(await _refused(trail, [(key, "x")], STRICT)), key
