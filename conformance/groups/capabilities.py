"""GET [base]/metadata: the CapabilityStatement every other group is driven by."""

from __future__ import annotations

import httpx

from conformance.checks import check, expect, expect_resource, expect_status
from conformance.context import Context


def _statement(ctx: Context) -> tuple[httpx.Response, dict]:
    response = ctx.client.get("metadata")
    expect_status(response, 200)
    return response, expect_resource(response, "CapabilityStatement")


@check("capabilities.statement", "http.html#capabilities")
def statement(ctx: Context) -> None:
    """GET /metadata answers 200 with a CapabilityStatement"""
    _statement(ctx)


@check("capabilities.media-type", "http.html#mime-type")
def media_type(ctx: Context) -> None:
    """/metadata is served as application/fhir+json"""
    response, _ = _statement(ctx)
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    expect(kind == "application/fhir+json", f"Content-Type is {kind!r}", response)


@check("capabilities.fhir-version", "capabilitystatement-definitions.html#CapabilityStatement.fhirVersion")
def fhir_version(ctx: Context) -> None:
    """fhirVersion is 4.0.1"""
    response, cs = _statement(ctx)
    expect(cs.get("fhirVersion") == "4.0.1", f"fhirVersion is {cs.get('fhirVersion')!r}", response)


@check("capabilities.rest-server", "capabilitystatement-definitions.html#CapabilityStatement.rest.mode")
def rest_server(ctx: Context) -> None:
    """rest[0].mode is server"""
    response, cs = _statement(ctx)
    rest = cs.get("rest") or []
    expect(bool(rest) and rest[0].get("mode") == "server", "rest[0].mode is not server", response)


@check("capabilities.resource-entries", "capabilitystatement-definitions.html#CapabilityStatement.rest.resource")
def resource_entries(ctx: Context) -> None:
    """every rest.resource has a type and a list of interactions, each with a code"""
    response, cs = _statement(ctx)
    for entry in (cs.get("rest") or [{}])[0].get("resource", []):
        expect(isinstance(entry.get("type"), str) and entry["type"], f"a resource entry has no type: {entry}",
               response)
        interactions = entry.get("interaction")
        expect(isinstance(interactions, list) and interactions and all(i.get("code") for i in interactions),
               f"{entry['type']} has no interaction list with codes", response)
