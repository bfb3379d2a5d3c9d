"""The shape of a result set: _sort (search.html#sort), _count=0 and _summary=count
(search.html#count, #summary), _elements (search.html#elements)."""

from __future__ import annotations

from conformance.checks import NotClaimed, check, expect, expect_ids, expect_resource, expect_status
from conformance.claims import all_of, requires_interactions, requires_param
from conformance.client import body
from conformance.context import Context, match_ids
from conformance.groups import search_data
from conformance.groups.makers import patient

PATIENTS = all_of(requires_interactions("Patient", "create", "search-type"), requires_param("Patient", "_id", "token"))
# Two of them share a day, so that the order of ties shows too.
BIRTHS = ("1950-04-02", "1972-11-30", "1972-11-30", "1999-01-17", "1934-08-08")


def _sorted_patients(ctx: Context) -> list[dict]:
    if "sort" not in ctx.shared:
        births = list(BIRTHS)
        ctx.rng.shuffle(births)   # created in an order that is not the sorted one
        ctx.shared["sort"] = [patient(ctx, birthDate=b) for b in births]
    return ctx.shared["sort"]


def _sorted_search(ctx: Context, key: str) -> tuple[list[str], object]:
    """The ids in the order the pages give them, two per page, under handling=strict; a 4xx with
    an OperationOutcome means the server does not sort on this key (not claimed)."""
    stored = _sorted_patients(ctx)
    params = [("_id", ",".join(p["id"] for p in stored)), ("_sort", key), ("_count", "2")]
    first = ctx.client.get("Patient", params=[*params, ctx.tag_param], headers={"Prefer": "handling=strict"})
    if 400 <= first.status_code < 500 and (body(first) or {}).get("resourceType") == "OperationOutcome":
        raise NotClaimed(f"the server refuses _sort={key} ({first.status_code} with an OperationOutcome)")
    pages = ctx.search_pages("Patient", params, headers={"Prefer": "handling=strict"})
    return [i for page in pages for i in match_ids(body(page) or {}, "Patient")], pages[0]


def _sort_check(ctx: Context, key: str) -> None:
    stored = _sorted_patients(ctx)
    birth = {p["id"]: p["birthDate"] for p in stored}
    ids, page = _sorted_search(ctx, key)
    expect_ids(ids, set(birth), f"Patient?_sort={key}", page)
    days = [birth[i] for i in ids]
    wanted = sorted(days, reverse=key.startswith("-"))
    expect(days == wanted, f"Patient?_sort={key}&_count=2 gives birthdates in the order {days}", page)
    again, page = _sorted_search(ctx, key)
    expect(again == ids, f"Patient?_sort={key} ordered the same data {ids} once and {again} the next time (ties "
                         "broken differently)", page)


@check("search.sort.ascending", "search.html#sort", all_of(PATIENTS, requires_param("Patient", "birthdate", "date")))
def sort_ascending(ctx: Context) -> None:
    """_sort=birthdate orders the matches oldest birthdate first, across pages, ties the same each time"""
    _sort_check(ctx, "birthdate")


@check("search.sort.descending", "search.html#sort", all_of(PATIENTS, requires_param("Patient", "birthdate", "date")))
def sort_descending(ctx: Context) -> None:
    """_sort=-birthdate orders the matches newest birthdate first, across pages, ties the same each time"""
    _sort_check(ctx, "-birthdate")


def _count_only(ctx: Context, params: list[tuple[str, str]], expected: int) -> None:
    response = ctx.client.get("Patient", params=[*params, ctx.tag_param])
    expect_status(response, 200)
    bundle = expect_resource(response, "Bundle")
    query = "&".join(f"{k}={v}" for k, v in params)
    expect(bundle.get("total") == expected, f"Patient?{query}: total is {bundle.get('total')!r}, expected {expected}",
           response)
    expect(not match_ids(bundle, "Patient"), f"Patient?{query} returned resources", response)


@check("search.summary-count", "search.html#summary",
       all_of(PATIENTS, requires_param("Patient", "family", "string")))
def summary_count(ctx: Context) -> None:
    """_summary=count gives the number of all matches and no entries"""
    data = search_data.build(ctx)
    _count_only(ctx, [("family", "chal"), ("_summary", "count")],
                len(data.patient_ids(lambda p: p.family.startswith("Chalmers"))))


@check("search.count-zero", "search.html#count", PATIENTS)
def count_zero(ctx: Context) -> None:
    """_count=0 is treated as _summary=count: the total and no entries"""
    stored = _sorted_patients(ctx)
    _count_only(ctx, [("_id", ",".join(p["id"] for p in stored)), ("_count", "0")], len(stored))


@check("search.elements", "search.html#elements", PATIENTS)
def elements(ctx: Context) -> None:
    """_elements=identifier,birthDate returns both elements, with the id"""
    stored = patient(ctx, birthDate="1988-05-06", identifier=[{"system": "urn:fhir-conformance:elements",
                                                                "value": ctx.unique("el")}])
    pages = ctx.search_pages("Patient", [("_id", stored["id"]), ("_elements", "identifier,birthDate")])
    got = [e["resource"] for e in (body(pages[0]) or {}).get("entry", []) if e.get("resource")]
    expect(len(got) == 1 and got[0].get("id") == stored["id"], "the search did not return the one patient", pages[0])
    for element in ("identifier", "birthDate"):
        expect(got[0].get(element) == stored[element], f"_elements=identifier,birthDate lacks {element}", pages[0])
