"""Requests a server must refuse: a 4xx with an OperationOutcome, and for a write, nothing written."""

from __future__ import annotations

from conformance.checks import check, expect, expect_4xx_outcome, expect_status
from conformance.claims import all_of, requires_interactions
from conformance.context import Context
from conformance.groups.rest import IDENTIFIER_SYSTEM, new_patient


def _nothing_with(ctx: Context, resource_type: str, patient: dict) -> None:
    value = patient["identifier"][0]["value"]
    ids, page = ctx.search_ids(resource_type, [("identifier", f"{IDENTIFIER_SYSTEM}|{value}")])
    expect(ids == [], f"the refused write was stored anyway: {resource_type} {ids}", page)


@check("errors.malformed-json", "http.html#create", requires_interactions("Patient", "create"))
def malformed_json(ctx: Context) -> None:
    """POST of a body that is not JSON answers 4xx with an OperationOutcome"""
    response = ctx.client.post("Patient", content=b'{"resourceType": "Patient", "name": [{"family": ')
    expect_4xx_outcome(response)


@check("errors.wrong-type", "http.html#create",
       all_of(requires_interactions("Patient", "create", "search-type"),
              requires_interactions("Observation", "search-type")))
def wrong_type(ctx: Context) -> None:
    """POST [type] of a body of another type answers 4xx with an OperationOutcome and stores nothing"""
    patient = new_patient(ctx)
    other = {"resourceType": "Observation", "status": "final", "identifier": patient["identifier"],
             "code": {"text": "not a patient"}}
    response = ctx.client.post("Patient", json=ctx.tagged(other))
    expect_4xx_outcome(response)
    _nothing_with(ctx, "Patient", patient)
    _nothing_with(ctx, "Observation", patient)


@check("errors.id-mismatch", "http.html#update", requires_interactions("Patient", "update", "read"))
def id_mismatch(ctx: Context) -> None:
    """PUT [type]/[id] whose body carries another id answers 400 with an OperationOutcome and stores nothing"""
    url_id, body_id = ctx.unique("in-url"), ctx.unique("in-body")
    response = ctx.client.put(f"Patient/{url_id}", json=ctx.tagged({**new_patient(ctx), "id": body_id}))
    expect_status(response, 400)
    expect_4xx_outcome(response)
    for stored in (url_id, body_id):
        read = ctx.client.get(f"Patient/{stored}")
        expect(read.status_code in (404, 410), f"Patient/{stored} exists after the refused update", read)


@check("errors.unknown-type", "http.html#general")
def unknown_type(ctx: Context) -> None:
    """a request for a resource type that does not exist answers 4xx with an OperationOutcome"""
    expect_4xx_outcome(ctx.client.get("NotAResourceType", params=[ctx.tag_param]))


@check("errors.unknown-param-strict", "search.html#errors", requires_interactions("Patient", "search-type"))
def unknown_param_strict(ctx: Context) -> None:
    """an unknown search parameter with Prefer: handling=strict answers 4xx with an OperationOutcome"""
    response = ctx.client.get("Patient", params=[("not-a-search-parameter", "x"), ctx.tag_param],
                              headers={"Prefer": "handling=strict"})
    expect_4xx_outcome(response)
