"""Regression tests: one minimal case per deviation the search properties found
(test_search_oracle.py).

Each runs in the `default` tenant under a fresh tag and states R4's answer itself; the oracle must
agree with it (a plain assertion), and the server's answer must too (`Deviation`). A deviation
found and not yet fixed would be a strict xfail raising only `Deviation` (none is open).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

pytest.importorskip("fhirpathpy", reason="the oracle evaluates FHIRPath with fhirpathpy (pip install fhirpathpy)")

from tests.property.oracle import UCUM, Clause, Context, expected_ids, split_values  # noqa: E402
from tests.property.oracle_queries import STRICT  # noqa: E402
from tests.property.oracle_resources import MEDICATION_REQUEST, OBSERVATION  # noqa: E402
from tests.property.oracle_world import OTHER, PUBLIC_BASE, TAG_SYSTEM  # noqa: E402
from tests.property.strategies import DecimalText, dumps  # noqa: E402
from tests.property.support import show  # noqa: E402

DEFAULT_BASE = f"{PUBLIC_BASE}/default"     # the `fhir` fixture's base
# `patient` parameters answered from the subject column: an absolute URL value naming a Group matched
# (fixed; the regression tests below run for each).
PATIENT_FROM_SUBJECT = {"Observation", "Encounter", "MedicationRequest"}


class Deviation(AssertionError):
    """The server's answer differs from what R4 requires."""


def fixed(was: str):
    """A deviation the property found that has since been fixed; `was` says what the server did."""
    return lambda test: test


class Case:
    """The resources of one regression test, under a tag of their own."""

    def __init__(self, fhir) -> None:
        self.fhir, self.tag, self.stored = fhir, uuid.uuid4().hex, []

    async def create(self, body: dict) -> str:
        sent = dumps({**body, "meta": {"tag": [{"system": TAG_SYSTEM, "code": self.tag}]}})
        r = await self.fhir.post(f"/{body['resourceType']}", content=sent)
        assert r.status_code == 201, f"{show(sent)}\n{show(r.content)}"
        self.stored.append(json.loads(r.content, parse_float=Decimal))
        return self.stored[-1]["id"]

    async def expect(self, type_name: str, key: str, value: str, want: set[str]) -> None:
        code, _, modifier = key.partition(":")
        clause = Clause(code, modifier or None, tuple(split_values(value)))
        mine = [r for r in self.stored if r["resourceType"] == type_name]
        assert expected_ids(mine, [clause], Context(DEFAULT_BASE)) == want, \
            f"the oracle disagrees with this test: {key}={value}"
        r = await self.fhir.get(f"/{type_name}", headers=STRICT, params=[
            (key, value), ("_tag", f"{TAG_SYSTEM}|{self.tag}"), ("_count", "1000")])
        assert r.status_code == 200, show(r.content)
        got = {e["resource"]["id"] for e in r.json().get("entry", ())}
        if got != want:
            raise Deviation(f"GET /{type_name}?{key}={value}: server {sorted(got)}, R4 {sorted(want)}")


WITHOUT = {"Patient": {"resourceType": "Patient"}, "Observation": OBSERVATION,
           "Encounter": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}}
CLAIM = {"resourceType": "Claim", "status": "active", "type": {"text": "t"}, "use": "claim",
         "patient": {"reference": f"{OTHER}/Patient/x1"}, "created": "2020-03-15",
         "provider": {"reference": f"{OTHER}/Organization/x1"}, "priority": {"text": "p"},
         "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"{OTHER}/Coverage/c1"}}]}


@pytest.mark.parametrize(("type_name", "code"), [("Patient", "birthdate"), ("Observation", "date"),
                                                 ("Encounter", "date")])
@fixed("ne/gt/lt/ge/le on a date answered from [start, end) columns also matched resources without the "
       "date: an absent element and an open end were both NULL")
async def test_date_comparison_does_not_match_resources_without_the_date(fhir, type_name, code):
    case = Case(fhir)
    await case.create(WITHOUT[type_name])
    for prefix in ("ne", "gt", "lt", "ge", "le"):
        await case.expect(type_name, code, f"{prefix}2020-03-15", set())


@pytest.mark.parametrize(("type_name", "element"), [("Encounter", "period"), ("Observation", "effectivePeriod")])
@fixed("date:missing on a date answered from [start, end) columns looked at the start only: a Period "
       "with only an end was reported missing")
async def test_date_missing_false_matches_a_period_without_start(fhir, type_name, element):
    case = Case(fhir)
    id_ = await case.create({**WITHOUT[type_name], element: {"end": "2020-03-16T00:00:00Z"}})
    await case.expect(type_name, "date:missing", "false", {id_})


@fixed("_id:not=X returned X: :not was answered from the side tables, where _id has no rows")
async def test_id_not_excludes_that_id(fhir):
    case = Case(fhir)
    a = await case.create({"resourceType": "Patient"})
    b = await case.create({"resourceType": "Patient"})
    await case.expect("Patient", "_id:not", a, {b})


@pytest.mark.parametrize("code", ["subject", "performer"])
@fixed("a reference search by this server's absolute URL ([base]/Patient/1) did not match the relative "
       "reference Patient/1")
async def test_search_by_this_servers_absolute_url_matches_a_relative_reference(fhir, code):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient"})
    o = await case.create({**OBSERVATION, "subject": {"reference": f"Patient/{p}"},
                           "performer": [{"reference": f"Patient/{p}"}]})
    await case.expect("Observation", code, f"{DEFAULT_BASE}/Patient/{p}", {o})


@pytest.mark.parametrize(("type_name", "code", "element"), [
    ("Observation", "subject", "subject"), ("Observation", "patient", "subject"), ("Claim", "patient", "patient")])
@fixed("an absolute reference to this server ([base]/Patient/1) was not found by Patient/1 when the "
       "parameter was answered from a resource-table column, which kept the URL as written")
async def test_absolute_reference_to_this_server_is_found_by_its_relative_form(fhir, type_name, code, element):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient"})
    body = {"Observation": OBSERVATION, "Claim": CLAIM}[type_name]
    id_ = await case.create({**body, element: {"reference": f"{DEFAULT_BASE}/Patient/{p}"}})
    await case.expect(type_name, code, f"Patient/{p}", {id_})


@fixed("value-string did not search (Observation.value as CodeableConcept).text, the second branch of its "
       "official expression")
async def test_value_string_matches_the_text_of_a_codeable_concept_value(fhir):
    case = Case(fhir)
    o = await case.create({**OBSERVATION, "valueCodeableConcept": {"text": "Weight"}})
    await case.expect("Observation", "value-string", "weight", {o})


APPOINTMENT_AT_10 = {"resourceType": "Appointment", "status": "booked", "start": "2020-03-15T10:00:00Z",
                     "end": "2020-03-15T11:00:00Z",
                     "participant": [{"actor": {"reference": f"{OTHER}/Patient/x1"}, "status": "accepted"}]}


@pytest.mark.parametrize(("type_name", "code", "body", "query", "matches"), [
    ("Claim", "created", {**CLAIM, "created": "2020-03"}, "gt2020-03-15", True),
    ("MedicationRequest", "authoredon", {**MEDICATION_REQUEST, "authoredOn": "2020"}, "eb2020-03-15T10:00:00Z", False),
    ("Appointment", "date", APPOINTMENT_AT_10, "gt2020-03-15T10:00:00.250Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "eq2020-03-15T10:00:00.250Z", False),
    ("Appointment", "date", APPOINTMENT_AT_10, "eq2020-03-15T10:00:00Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "lt2020-03-15T10:00:00.250Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "gt2020-03-15T10:00:00Z", False),
])
@fixed("Claim.created and MedicationRequest.authoredOn (dateTimes) were compared as the start of a partial "
       "stored date: 2020-03 was the instant 2020-03-01T00:00Z instead of the whole month. Appointment.start (an "
       "instant, answered from one column) was compared as a point: 2020-03-15T10:00:00Z is precise to the "
       "second, the range [10:00:00, 10:00:01), so gt10:00:00.250Z must match it (search.html#date: gt - 'the "
       "range above the search value intersects the range of the target value')")
async def test_date_compares_the_range_of_a_partial_stored_date(fhir, type_name, code, body, query, matches):
    case = Case(fhir)
    id_ = await case.create(body)
    await case.expect(type_name, code, query, {id_} if matches else set())


@fixed("system| on a primitive code parameter never matched, although the code's system is the one its "
       "required binding names (search.html#token: code - 'the system is defined in the value set')")
async def test_system_only_token_matches_a_code_element_bound_to_that_system(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "gender": "male", "address": [{"use": "home", "city": "X"}]})
    await case.expect("Patient", "gender", "http://hl7.org/fhir/administrative-gender|", {p})      # column
    await case.expect("Patient", "address-use", "http://hl7.org/fhir/address-use|", {p})          # side table


@fixed("[system]|[code] on a primitive code parameter ignored the system: http://other.test/cs|male "
       "matched gender=male, whose system is http://hl7.org/fhir/administrative-gender")
async def test_code_element_does_not_match_another_system(fhir):
    case = Case(fhir)
    await case.create({"resourceType": "Patient", "gender": "male", "address": [{"use": "home", "city": "X"}]})
    await case.expect("Patient", "gender", "http://other.test/cs|male", set())
    await case.expect("Patient", "address-use", "http://other.test/cs|home", set())


@fixed("ContactPoint tokens were indexed with ContactPoint.system (phone, email) as their system; R4's "
       "token table gives ContactPoint no system (its URI column is empty, code is ContactPoint.value)")
async def test_contact_point_tokens_have_no_system(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "telecom": [{"system": "phone", "value": "555-1234"}]})
    await case.expect("Patient", "telecom", "|555-1234", {p})
    await case.expect("Patient", "telecom", "phone|555-1234", set())


@fixed("Observation?patient was answered from the subject column, so a Group subject counted as a patient "
       "(the expression is Observation.subject.where(resolve() is Patient))")
async def test_patient_does_not_match_a_group_subject(fhir):
    case = Case(fhir)
    o = await case.create({**OBSERVATION, "subject": {"reference": f"{OTHER}/Group/g1"}})
    await case.expect("Observation", "patient:missing", "true", {o})


@pytest.mark.parametrize("type_name", sorted(PATIENT_FROM_SUBJECT))
@fixed("patient:missing on a parameter answered from the subject column tested the column with a "
       "'Patient/' prefix range: a resource without any subject (NULL) was neither missing nor present "
       "(SQL NULL), and an absolute reference to a Patient (http://other/fhir/Patient/1, which "
       "resolve() is Patient selects) counted as missing")
async def test_patient_missing_follows_the_patient_subjects(fhir, type_name):
    case = Case(fhir)
    body = {"Observation": OBSERVATION, "Encounter": WITHOUT["Encounter"],
            "MedicationRequest": {k: v for k, v in MEDICATION_REQUEST.items() if k != "subject"}}[type_name]
    absolute = await case.create({**body, "subject": {"reference": f"{OTHER}/Patient/x1"}})
    if type_name != "MedicationRequest":      # where subject is optional
        none = await case.create(body)
        await case.expect(type_name, "patient:missing", "true", {none})
    await case.expect(type_name, "patient:missing", "false", {absolute})


@pytest.mark.parametrize("type_name", sorted(PATIENT_FROM_SUBJECT))
@fixed("patient=[absolute URL of a Group] matched a resource whose subject is that Group: the parameter is "
       "answered from the subject column and a URL value was not narrowed to the expression's types "
       "(Observation.subject.where(resolve() is Patient) selects no Group, so there is no value to match)")
async def test_patient_by_url_does_not_match_a_group_subject(fhir, type_name):
    case = Case(fhir)
    body = {"Observation": OBSERVATION, "Encounter": WITHOUT["Encounter"],
            "MedicationRequest": MEDICATION_REQUEST}[type_name]
    await case.create({**body, "subject": {"reference": f"{OTHER}/Group/g1"}})
    await case.expect(type_name, "patient", f"{OTHER}/Group/g1", set())


@pytest.mark.parametrize(("value", "query"), [("99.6", "eb100"), ("100.04", "sa100")])
@fixed("number/quantity sa and eb compared with the exact search value; the prefix table defines them on "
       "ranges ('the range of the search value does not overlap with the range of the target value, and the "
       "range above the search value contains the range of the target value'), and 100 is [99.5, 100.5)")
async def test_number_sa_eb_exclude_the_implied_range_of_the_search_value(fhir, value, query):
    case = Case(fhir)
    await case.create({**OBSERVATION, "valueQuantity": {"value": DecimalText(value)}})
    await case.expect("Observation", "value-quantity", query, set())


@fixed("a value ending in an escaped backslash, followed by the comma that separates values "
       "(identifier=y\\\\,abc), was not split there: the split looked only at the character before the comma, "
       "so the escaped backslash was taken for an escaped comma (search.html#escaping: '\\' is a literal "
       "backslash)")
async def test_an_escaped_backslash_before_a_comma_ends_the_value(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "identifier": [{"value": "y\\"}]})
    await case.expect("Patient", "identifier", "y\\\\,abc", {p})


@pytest.mark.parametrize(("value", "query"), [("0.3", "ap0"), ("1.2", "ap1")])
@fixed("number/quantity ap ignored the precision of the search value: ap0 was taken as exactly 0 (10% of 0) "
       "and ap1 as [0.9, 1.1], so 0.3 and 1.2 did not match, although they lie in the range of the search "
       "value ([-0.5, 0.5) and [0.5, 1.5), which eq0 and eq1 match). search.html#prefix reads ap on ranges "
       "as 'the range of the search value overlaps with the range of the target value', and "
       "search.html#number ignores the implicit precision only for 'lgt, lt, ge, le, sa & eb'")
async def test_number_ap_matches_the_implied_range_of_the_search_value(fhir, value, query):
    case = Case(fhir)
    id_ = await case.create({**OBSERVATION, "valueQuantity": {"value": DecimalText(value)}})
    await case.expect("Observation", "value-quantity", query, {id_})


@pytest.mark.parametrize(("code", "body"), [
    ("code-value-quantity", {**OBSERVATION, "code": {"coding": [{"code": "abc"}]},
                             "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM,
                                               "code": "mg"}}),
    ("combo-code-value-quantity", {**OBSERVATION, "component": [
        {"code": {"coding": [{"code": "abc"}]},
         "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM, "code": "mg"}}]}),
    ("component-code-value-quantity", {**OBSERVATION, "component": [
        {"code": {"coding": [{"code": "abc"}]},
         "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM, "code": "mg"}}]}),
])
@fixed("in a composite's quantity part, [number]||[unit] was compared with Quantity.code only; "
       "search.html#quantity: [number]||[code] matches 'either the code (code) or the stated human unit "
       "(unit)', and search.html#composite matches each part by its component's parameter type")
async def test_composite_quantity_matches_the_stated_human_unit(fhir, code, body):
    case = Case(fhir)
    id_ = await case.create(body)
    await case.expect("Observation", code, "abc$5.4||milligram", {id_})


@pytest.mark.parametrize("period", [{"start": "2020", "end": "2020"},
                                    {"start": "2020-03-15T10:00:00Z", "end": "2020-03-16T00:00:00Z"}])
@pytest.mark.parametrize("query", ["8480-6$2020", "8480-6$ne1970", "8480-6$gt2019"])
@fixed("code-value-date did not see a valuePeriod: its value-date component's expression is "
       "'value.as(DateTime) | value.as(Period)' (value-date alone found the same Period)")
async def test_composite_date_matches_a_period_value(fhir, period, query):
    case = Case(fhir)
    id_ = await case.create({**OBSERVATION, "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                             "valuePeriod": period})
    await case.expect("Observation", "code-value-date", query, {id_})
