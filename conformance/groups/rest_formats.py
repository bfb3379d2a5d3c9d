"""What a client may ask of the shape of an answer: Prefer return, _format, _summary, _elements."""

from __future__ import annotations

from conformance.checks import NotClaimed, check, expect, expect_resource, expect_status
from conformance.claims import all_of, requires_format, requires_interactions
from conformance.client import body
from conformance.context import Context, match_ids
from conformance.groups.rest import new_patient

# Patient elements that are not in the summary view (isSummary false in R4's Patient).
NOT_SUMMARY = ("maritalStatus",)


@check("rest.prefer-minimal", "http.html#return", requires_interactions("Patient", "create"))
def prefer_minimal(ctx: Context) -> None:
    """Prefer: return=minimal on create answers 201 without a body"""
    ctx.noted("Patient")
    response = ctx.client.post("Patient", json=ctx.tagged(new_patient(ctx)), headers={"Prefer": "return=minimal"})
    expect_status(response, 201)
    if response.content.strip():
        raise NotClaimed("the server ignores Prefer: return=minimal (it SHOULD honour it)")


@check("rest.prefer-representation", "http.html#return", requires_interactions("Patient", "create"))
def prefer_representation(ctx: Context) -> None:
    """Prefer: return=representation on create answers 201 with the stored resource"""
    ctx.noted("Patient")
    response = ctx.client.post("Patient", json=ctx.tagged(new_patient(ctx)),
                               headers={"Prefer": "return=representation"})
    expect_status(response, 201)
    stored = expect_resource(response, "Patient")
    expect(bool(stored.get("id")) and bool((stored.get("meta") or {}).get("versionId")),
           "the representation lacks the id or meta.versionId the server assigned", response)


@check("rest.format-json", "http.html#mime-type",
       all_of(requires_interactions("Patient", "create", "read"), requires_format("json")))
def format_json(ctx: Context) -> None:
    """_format=json on a read answers JSON"""
    _, stored = ctx.create(new_patient(ctx))
    response = ctx.client.get(f"Patient/{stored['id']}", params=[("_format", "json")], headers={"Accept": "*/*"})
    expect_status(response, 200)
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    expect(kind in ("application/fhir+json", "application/json"), f"Content-Type is {kind!r}", response)
    expect_resource(response, "Patient")


def _only_match(ctx: Context, stored: dict, extra: tuple[str, str]) -> tuple[dict, object]:
    pages = ctx.search_pages("Patient", [("_id", stored["id"]), extra])
    bundle = body(pages[0]) or {}
    entries = [e["resource"] for e in bundle.get("entry", []) if e.get("resource", {}).get("id") == stored["id"]]
    expect(len(entries) == 1, f"Patient?_id={stored['id']}&{extra[0]}={extra[1]} did not return it once",
           pages[0])
    return entries[0], pages[0]


@check("rest.summary-true", "search.html#summary", requires_interactions("Patient", "create", "search-type"))
def summary_true(ctx: Context) -> None:
    """_summary=true returns the summary elements only"""
    _, stored = ctx.create(new_patient(ctx))
    got, page = _only_match(ctx, stored, ("_summary", "true"))
    expect(got.get("name") == stored.get("name"), "the summary lacks name (a summary element)", page)
    leaked = [e for e in NOT_SUMMARY if e in got]
    expect(not leaked, f"the summary carries non-summary elements {leaked}", page)


@check("rest.summary-count", "search.html#summary", requires_interactions("Patient", "create", "search-type"))
def summary_count(ctx: Context) -> None:
    """_summary=count answers the total and no resources"""
    _, stored = ctx.create(new_patient(ctx))
    response = ctx.client.get("Patient", params=[("_id", stored["id"]), ("_summary", "count"), ctx.tag_param])
    expect_status(response, 200)
    bundle = expect_resource(response, "Bundle")
    expect(bundle.get("total") == 1, f"total is {bundle.get('total')!r}, expected 1", response)
    expect(not match_ids(bundle, "Patient"), "_summary=count returned resources", response)


@check("rest.elements", "search.html#elements", requires_interactions("Patient", "create", "search-type"))
def elements(ctx: Context) -> None:
    """_elements=name returns name and leaves out the other elements"""
    _, stored = ctx.create(new_patient(ctx))
    got, page = _only_match(ctx, stored, ("_elements", "name"))
    expect(got.get("name") == stored.get("name"), "_elements=name lacks name", page)
    leaked = [e for e in ("birthDate", "gender", "maritalStatus", "identifier") if e in got]
    expect(not leaked, f"_elements=name also returned {leaked}", page)
