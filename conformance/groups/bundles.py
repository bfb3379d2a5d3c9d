"""batch and transaction (http.html#transaction): a batch's entries stand alone, a transaction's
stand or fall together and may refer to each other by urn:uuid."""

from __future__ import annotations

from conformance.checks import check, expect, expect_4xx_outcome, expect_resource, expect_status
from conformance.claims import all_of, requires_interactions, requires_system
from conformance.client import body
from conformance.context import Context
from conformance.groups.rest import IDENTIFIER_SYSTEM, new_patient


def _bundle(kind: str, entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _post(ctx: Context, resource: dict, full_url: str | None = None) -> dict:
    ctx.noted(resource["resourceType"])
    return {**({"fullUrl": full_url} if full_url else {}), "resource": ctx.tagged(resource),
            "request": {"method": "POST", "url": resource["resourceType"]}}


def _count(ctx: Context, patient: dict) -> int:
    value = patient["identifier"][0]["value"]
    ids, _ = ctx.search_ids("Patient", [("identifier", f"{IDENTIFIER_SYSTEM}|{value}")])
    return len(ids)


@check("bundles.batch", "http.html#transaction",
       all_of(requires_system("batch"), requires_interactions("Patient", "create", "read", "search-type")))
def batch(ctx: Context) -> None:
    """a batch answers each entry on its own: one failing entry does not undo the others"""
    first, last = new_patient(ctx), new_patient(ctx)
    missing = {"request": {"method": "GET", "url": f"Patient/{ctx.unique('absent')}"}}
    response = ctx.client.post("", json=_bundle("batch", [_post(ctx, first), missing, _post(ctx, last)]))
    expect_status(response, 200)
    reply = expect_resource(response, "Bundle")
    expect(reply.get("type") == "batch-response", f"Bundle.type is {reply.get('type')!r}", response)
    statuses = [str((e.get("response") or {}).get("status", "")).split(" ")[0] for e in reply.get("entry", [])]
    expect(len(statuses) == 3 and statuses[0] == statuses[2] == "201" and statuses[1].startswith("4"),
           f"entry statuses {statuses}, expected 201, 4xx, 201 in order", response)
    expect(_count(ctx, first) == 1 and _count(ctx, last) == 1, "a successful batch entry was not stored", response)


@check("bundles.transaction", "http.html#transaction",
       all_of(requires_system("transaction"), requires_interactions("Observation", "read")))
def transaction(ctx: Context) -> None:
    """a transaction stores every entry and rewrites urn:uuid references to the ids it assigned"""
    full_url = f"urn:uuid:{_uuid(ctx)}"
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "transaction"},
                   "subject": {"reference": full_url}}
    response = ctx.client.post("", json=_bundle("transaction", [_post(ctx, new_patient(ctx), full_url),
                                                                _post(ctx, observation)]))
    expect_status(response, 200)
    reply = expect_resource(response, "Bundle")
    expect(reply.get("type") == "transaction-response", f"Bundle.type is {reply.get('type')!r}", response)
    locations = [(e.get("response") or {}).get("location", "") for e in reply.get("entry", [])]
    expect(len(locations) == 2 and all(locations), f"entry locations {locations}", response)
    patient_id = locations[0].split("Patient/")[-1].split("/")[0]
    observation_id = locations[1].split("Observation/")[-1].split("/")[0]
    stored = body(ctx.client.get(f"Observation/{observation_id}")) or {}
    reference = (stored.get("subject") or {}).get("reference", "")
    expect(reference.endswith(f"Patient/{patient_id}"),
           f"the urn:uuid reference became {reference!r}, not Patient/{patient_id}", response)


@check("bundles.transaction-atomic", "http.html#trules",
       all_of(requires_system("transaction"), requires_interactions("Patient", "create", "update", "search-type")))
def transaction_atomic(ctx: Context) -> None:
    """a transaction with one bad entry fails as a whole (4xx) and stores nothing"""
    good = new_patient(ctx)
    url_id, body_id = ctx.unique("tx-url"), ctx.unique("tx-body")
    bad = {"resource": ctx.tagged({**new_patient(ctx), "id": body_id}),
           "request": {"method": "PUT", "url": f"Patient/{url_id}"}}   # id mismatch: http.html#update
    response = ctx.client.post("", json=_bundle("transaction", [_post(ctx, good), bad]))
    expect_4xx_outcome(response)
    expect(_count(ctx, good) == 0, "the good entry of a failed transaction was stored", response)


def _uuid(ctx: Context) -> str:
    digits = f"{ctx.rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"
