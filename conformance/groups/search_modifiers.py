"""Modifiers and composite parameters (search.html#modifiers, #composite), each on data the
check creates itself and claimed only where the parameter's documentation names the modifier."""

from __future__ import annotations

from conformance.checks import check, expect_ids
from conformance.claims import all_of, requires_interactions, requires_param
from conformance.context import Context
from conformance.groups.makers import CODES, UCUM, observation, patient

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
IDENTIFIERS = "urn:fhir-conformance:identifier"


def _expect(ctx: Context, resource_type: str, params: list[tuple[str, str]], expected: set[str]) -> None:
    ids, page = ctx.search_ids(resource_type, params)
    expect_ids(ids, expected, f"{resource_type}?" + "&".join(f"{k}={v}" for k, v in params), page)


@check("search.missing", "search.html#missing",
       all_of(requires_interactions("Patient", "create", "search-type"), requires_param("Patient", "_id", "token"),
              requires_param("Patient", "birthdate", "date", ":missing")))
def missing(ctx: Context) -> None:
    """birthdate:missing=true finds those without a birthDate, =false those with one"""
    dated, undated = patient(ctx, birthDate="1961-07-14"), patient(ctx)
    both = ("_id", f"{dated['id']},{undated['id']}")
    _expect(ctx, "Patient", [both, ("birthdate:missing", "true")], {undated["id"]})
    _expect(ctx, "Patient", [both, ("birthdate:missing", "false")], {dated["id"]})


@check("search.token.text", "search.html#text",
       all_of(requires_interactions("Observation", "create", "search-type"),
              requires_param("Observation", "code", "token", ":text")))
def token_text(ctx: Context) -> None:
    """code:text matches the CodeableConcept's text as a string search (start, any case)"""
    words = f"Conformance {ctx.run_id} reading"
    obs = observation(ctx, code={"coding": [{"system": CODES, "code": ctx.unique("code")}], "text": words})
    observation(ctx)   # no text: must not match
    _expect(ctx, "Observation", [("code:text", words.lower()[: -len(" reading")])], {obs["id"]})


@check("search.reference.identifier", "search.html#reference",
       all_of(requires_interactions("Observation", "create", "search-type"),
              requires_param("Observation", "subject", "reference", ":identifier")))
def reference_identifier(ctx: Context) -> None:
    """subject:identifier=[system]|[value] matches Reference.identifier"""
    owner = patient(ctx)
    value = ctx.unique("subject")
    obs = observation(ctx, subject={"reference": f"Patient/{owner['id']}",
                                    "identifier": {"system": IDENTIFIERS, "value": value}})
    observation(ctx, owner)   # the same patient, referred to without the identifier: must not match
    _expect(ctx, "Observation", [("subject:identifier", f"{IDENTIFIERS}|{value}")], {obs["id"]})


@check("search.token.of-type", "search.html#token",
       all_of(requires_interactions("Patient", "create", "search-type"),
              requires_param("Patient", "identifier", "token", ":of-type")))
def of_type(ctx: Context) -> None:
    """identifier:of-type=[type system]|[type code]|[value] matches the identifier's type and value"""
    value = ctx.unique("typed")

    def typed(code: str) -> dict:
        return patient(ctx, identifier=[{"type": {"coding": [{"system": V2_0203, "code": code}]},
                                         "system": IDENTIFIERS, "value": value}])
    medical_record, _ = typed("MR"), typed("DL")
    _expect(ctx, "Patient", [("identifier:of-type", f"{V2_0203}|MR|{value}")], {medical_record["id"]})


@check("search.composite", "search.html#composite",
       all_of(requires_interactions("Observation", "create", "search-type"),
              requires_param("Observation", "code-value-quantity", "composite")))
def composite(ctx: Context) -> None:
    """code-value-quantity=[code]$gt[number]|[system]|[unit] matches code and value in one component"""
    code = (CODES, ctx.unique("code"))

    def weighing(coded: tuple[str, str], kg: float) -> dict:
        return observation(ctx, coding=coded, valueQuantity={"value": kg, "unit": "kg", "system": UCUM, "code": "kg"})
    light, heavy = weighing(code, 10), weighing(code, 30)
    weighing((CODES, ctx.unique("code")), 30)   # heavy, but another code
    _expect(ctx, "Observation", [("code-value-quantity", f"{code[0]}|{code[1]}$gt20|{UCUM}|kg")], {heavy["id"]})
    _expect(ctx, "Observation", [("code-value-quantity", f"{code[0]}|{code[1]}$lt20|{UCUM}|kg")], {light["id"]})
