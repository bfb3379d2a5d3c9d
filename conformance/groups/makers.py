"""Small resources the later groups create for one check each, so that every expected match
is exact whatever else the run has written."""

from __future__ import annotations

from conformance.context import Context

CODES = "urn:fhir-conformance:code"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def patient(ctx: Context, **fields) -> dict:
    """Create a Patient with the given elements (a name if none given); the stored resource."""
    resource = {"resourceType": "Patient", "name": [{"family": "Maker", "given": ["Conformance"]}], **fields}
    return ctx.create(resource)[1]


def observation(ctx: Context, subject: dict | None = None, coding: tuple[str, str] | None = None,
                **fields) -> dict:
    """Create a final Observation of `subject` (a stored Patient, or a Reference as it is) coded
    `coding` (system, code),
    a run-unique code when none is given; `fields` add or replace elements. The stored resource."""
    system, value = coding or (CODES, ctx.unique("code"))
    resource = {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": system, "code": value}]},
                **({"subject": _reference(subject)} if subject else {}), **fields}
    return ctx.create(resource)[1]


def _reference(target: dict) -> dict:
    return {"reference": ref(target)} if "resourceType" in target else target


def ref(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"
