"""The instance interactions of http.html on Patient: create, read, vread, update, delete, history."""

from __future__ import annotations

from conformance.checks import check, expect, expect_resource, expect_status
from conformance.claims import all_of, requires_flag, requires_interactions
from conformance.client import body
from conformance.context import Context, instant, version_of

IDENTIFIER_SYSTEM = "urn:fhir-conformance:identifier"


def new_patient(ctx: Context, family: str = "Conformance") -> dict:
    """A Patient with one element outside the summary (maritalStatus) and a run-unique identifier."""
    return {"resourceType": "Patient",
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": ctx.unique("mrn")}],
            "name": [{"family": family, "given": ["Rest"]}], "gender": "female", "birthDate": "1980-02-29",
            "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                          "code": "M"}]}}


def updated(ctx: Context, stored: dict, family: str) -> dict:
    return ctx.tagged({**stored, "name": [{"family": family, "given": ["Rest"]}]})


@check("rest.create", "http.html#create", requires_interactions("Patient", "create"))
def create(ctx: Context) -> None:
    """POST [type] answers 201 with Location, ETag and meta.versionId"""
    response, stored = ctx.create(new_patient(ctx))
    version = (stored.get("meta") or {}).get("versionId")
    expect(bool(version), "the created resource has no meta.versionId", response)
    location = response.headers.get("Location", "")
    expect(f"Patient/{stored.get('id')}/_history/{version}" in location,
           f"Location {location!r} does not name the new id and version (SHALL: [base]/Patient/[id]/_history/[vid])",
           response)
    expect(version_of(response) is not None, "no ETag on create", response)
    expect(version_of(response) == version, f"ETag {response.headers.get('ETag')} is not version {version}",
           response)


@check("rest.read", "http.html#read", requires_interactions("Patient", "create", "read"))
def read(ctx: Context) -> None:
    """GET [type]/[id] answers 200 with the resource and its ETag"""
    _, stored = ctx.create(new_patient(ctx))
    response = ctx.client.get(f"Patient/{stored['id']}")
    expect_status(response, 200)
    got = expect_resource(response, "Patient")
    expect(got.get("id") == stored["id"], f"read Patient/{stored['id']} returned id {got.get('id')}", response)
    expect(got.get("name") == stored.get("name"), "read returned other content than was created", response)
    expect(version_of(response) is not None, "no ETag on read", response)


@check("rest.vread", "http.html#vread", requires_interactions("Patient", "create", "vread"))
def vread(ctx: Context) -> None:
    """GET [type]/[id]/_history/[vid] answers that version"""
    _, stored = ctx.create(new_patient(ctx))
    version = stored["meta"]["versionId"]
    response = ctx.client.get(f"Patient/{stored['id']}/_history/{version}")
    expect_status(response, 200)
    got = expect_resource(response, "Patient")
    expect((got.get("meta") or {}).get("versionId") == version, "vread returned another version", response)


@check("rest.update", "http.html#update", requires_interactions("Patient", "create", "update", "read"))
def update(ctx: Context) -> None:
    """PUT [type]/[id] answers 200, makes a new version, and a read returns the new content"""
    _, stored = ctx.create(new_patient(ctx))
    response = ctx.client.put(f"Patient/{stored['id']}", json=updated(ctx, stored, "Updated"))
    expect_status(response, 200)
    expect(version_of(response) not in (None, stored["meta"]["versionId"]), "the update's ETag names no new "
           "version", response)
    got = expect_resource(ctx.client.get(f"Patient/{stored['id']}"), "Patient")
    expect(got["name"][0].get("family") == "Updated", "a read after the update returns the old content",
           None)


@check("rest.update-create", "http.html#update",
       all_of(requires_interactions("Patient", "update"), requires_flag("Patient", "updateCreate")))
def update_create(ctx: Context) -> None:
    """PUT [type]/[id] of an id that does not exist creates it (201) where updateCreate is claimed"""
    new_id = ctx.unique("uc")
    before = ctx.client.get(f"Patient/{new_id}").status_code
    ctx.noted("Patient")
    response = ctx.client.put(f"Patient/{new_id}", json=ctx.tagged({**new_patient(ctx), "id": new_id}))
    # A rerun with the same seed finds the id it deleted last time (410): creating it again may be a 200.
    expect_status(response, *((201,) if before == 404 else (200, 201)))
    expect_status(ctx.client.get(f"Patient/{new_id}"), 200)


@check("rest.delete", "http.html#delete", requires_interactions("Patient", "create", "delete", "read"))
def delete(ctx: Context) -> None:
    """DELETE [type]/[id] succeeds and a read of it afterwards answers 410 Gone"""
    _, stored = ctx.create(new_patient(ctx))
    expect_status(ctx.client.delete(f"Patient/{stored['id']}"), 200, 202, 204)
    expect_status(ctx.client.get(f"Patient/{stored['id']}"), 410)


@check("rest.history-instance", "http.html#history",
       requires_interactions("Patient", "create", "update", "history-instance"))
def history_instance(ctx: Context) -> None:
    """GET [type]/[id]/_history lists every version, newest first"""
    _, stored = ctx.create(new_patient(ctx))
    second = ctx.client.put(f"Patient/{stored['id']}", json=updated(ctx, stored, "Second"))
    expect_status(second, 200)
    response = ctx.client.get(f"Patient/{stored['id']}/_history")
    expect_status(response, 200)
    bundle = expect_resource(response, "Bundle")
    expect(bundle.get("type") == "history", f"Bundle.type is {bundle.get('type')!r}", response)
    versions = [(e.get("resource") or {}).get("meta", {}).get("versionId") for e in bundle.get("entry", [])]
    expect(versions == [version_of(second), stored["meta"]["versionId"]],
           f"versions {versions}, expected the update's then the create's", response)
    # Bundle invariants bdl-3 and bdl-4 (bundle.html#invs): a history entry has a request and a response.
    bare = [i for i, e in enumerate(bundle["entry"]) if not e.get("request") or not e.get("response")]
    expect(not bare, f"history entries {bare} lack request or response (bdl-3, bdl-4)", response)


@check("rest.history-type", "http.html#history", requires_interactions("Patient", "create", "history-type"))
def history_type(ctx: Context) -> None:
    """GET [type]/_history?_since lists a resource created since"""
    _, stored = ctx.create(new_patient(ctx))
    url, seen = None, 0
    params = [("_since", stored["meta"]["lastUpdated"]), ("_count", "50")]
    while seen < 20:   # other clients may be writing too: page on, within reason
        response = ctx.client.get(url) if url else ctx.client.get("Patient/_history", params=params)
        expect_status(response, 200)
        bundle = expect_resource(response, "Bundle")
        expect(bundle.get("type") == "history", f"Bundle.type is {bundle.get('type')!r}", response)
        if stored["id"] in [(e.get("resource") or {}).get("id") for e in bundle.get("entry", [])]:
            return
        url = next((lk["url"] for lk in bundle.get("link", []) if lk.get("relation") == "next"), None)
        expect(url is not None, f"Patient/{stored['id']} is not in the type history since its creation", response)
        seen += 1
    expect(False, "Patient type history: 20 pages without the resource just created")


@check("rest.if-match-stale", "http.html#concurrency",
       all_of(requires_interactions("Patient", "create", "update"),
              requires_flag("Patient", "versioning", ("versioned-update",))))
def if_match_stale(ctx: Context) -> None:
    """PUT with If-Match naming a superseded version answers 412 and changes nothing"""
    _, stored = ctx.create(new_patient(ctx))
    first = stored["meta"]["versionId"]
    expect_status(ctx.client.put(f"Patient/{stored['id']}", json=updated(ctx, stored, "Current")), 200)
    stale = ctx.client.put(f"Patient/{stored['id']}", json=updated(ctx, stored, "Stale"),
                           headers={"If-Match": f'W/"{first}"'})
    expect_status(stale, 412)
    got = body(ctx.client.get(f"Patient/{stored['id']}")) or {}
    expect(got.get("name", [{}])[0].get("family") == "Current", "the stale update was applied anyway", stale)


def _by_identifier(ctx: Context, patient: dict) -> list[tuple[str, str]]:
    ident = patient["identifier"][0]
    return [("identifier", f"{ident['system']}|{ident['value']}")]


@check("rest.conditional-create", "http.html#ccreate",
       all_of(requires_interactions("Patient", "create", "search-type"), requires_flag("Patient", "conditionalCreate")))
def conditional_create(ctx: Context) -> None:
    """If-None-Exist creates once (201), then answers 200 without creating a second resource"""
    patient = new_patient(ctx)
    criteria = "&".join(f"{k}={v}" for k, v in [*_by_identifier(ctx, patient), ctx.tag_param])
    first, stored = ctx.create(patient, headers={"If-None-Exist": criteria})
    again = ctx.client.post("Patient", json=ctx.tagged(patient), headers={"If-None-Exist": criteria})
    expect_status(again, 200)
    ids, page = ctx.search_ids("Patient", _by_identifier(ctx, patient))
    expect(ids == [stored["id"]], f"after two conditional creates the identifier finds {ids}", page)


@check("rest.conditional-update", "http.html#cond-update",
       all_of(requires_interactions("Patient", "update", "search-type"), requires_flag("Patient", "conditionalUpdate")))
def conditional_update(ctx: Context) -> None:
    """PUT [type]?criteria creates when nothing matches (201), then updates that one (200)"""
    patient = new_patient(ctx)
    criteria = [*_by_identifier(ctx, patient), ctx.tag_param]
    ctx.noted("Patient")
    created = ctx.client.put("Patient", params=criteria, json=ctx.tagged(patient))
    expect_status(created, 201)
    again = ctx.client.put("Patient", params=criteria, json=ctx.tagged({**patient, "gender": "male"}))
    expect_status(again, 200)
    ids, page = ctx.search_ids("Patient", _by_identifier(ctx, patient))
    expect(len(ids) == 1, f"two conditional updates left {len(ids)} matches: {ids}", page)
    got = body(ctx.client.get(f"Patient/{ids[0]}")) or {}
    expect(got.get("gender") == "male", "the second conditional update did not update the match", again)


@check("rest.last-updated-moves", "resource.html#Meta", requires_interactions("Patient", "create", "update"))
def last_updated_moves(ctx: Context) -> None:
    """an update sets a later meta.lastUpdated"""
    _, stored = ctx.create(new_patient(ctx))
    response = ctx.client.put(f"Patient/{stored['id']}", json=updated(ctx, stored, "Later"),
                              headers={"Prefer": "return=representation"})
    expect_status(response, 200)
    got = body(response) or body(ctx.client.get(f"Patient/{stored['id']}")) or {}
    later = (got.get("meta") or {}).get("lastUpdated")
    expect(bool(later) and instant(later) > instant(stored["meta"]["lastUpdated"]),
           f"meta.lastUpdated {later} is not after {stored['meta']['lastUpdated']}", response)

