"""The common search parameters and the result set as a whole: _id, _lastUpdated, paging,
_total, and POST [type]/_search."""

from __future__ import annotations

from conformance.checks import NotClaimed, check, expect, expect_ids, expect_status
from conformance.claims import all_of, requires_interactions, requires_param
from conformance.client import body
from conformance.context import Context, instant, match_ids
from conformance.groups import search_data

SEARCH = requires_interactions("Patient", "create", "search-type")


@check("search.id", "search.html#id", all_of(SEARCH, requires_param("Patient", "_id", "token")))
def by_id(ctx: Context) -> None:
    """_id=[a],[b] finds exactly those two"""
    data = search_data.build(ctx)
    wanted = {data.patients[1].id, data.patients[4].id}
    ids, page = ctx.search_ids("Patient", [("_id", ",".join(sorted(wanted)))])
    expect_ids(ids, wanted, "Patient?_id", page)


@check("search.last-updated", "search.html#lastUpdated",
       all_of(SEARCH, requires_param("Patient", "_lastUpdated", "date")))
def last_updated(ctx: Context) -> None:
    """_lastUpdated=gt[t] and le[t] split the data at the instant t one of them was written"""
    data = search_data.build(ctx)
    pivot = data.pivot_updated()
    later = data.patient_ids(lambda p: instant(p.last_updated) > instant(pivot))
    for prefix, expected in (("gt", later), ("le", data.patient_ids() - later)):
        ids, page = ctx.search_ids("Patient", [("_lastUpdated", f"{prefix}{pivot}")])
        expect_ids(ids, expected, f"Patient?_lastUpdated={prefix}{pivot}", page)


@check("search.paging", "http.html#paging", SEARCH)
def paging(ctx: Context) -> None:
    """_count=2 pages: following every `next` link returns each match once, none lost"""
    data = search_data.build(ctx)
    pages = ctx.search_pages("Patient", [("_count", "2")])
    for page in pages:
        count = len(match_ids(body(page) or {}, "Patient"))
        expect(count <= 2, f"a page of _count=2 holds {count} matches", page)
    ids = [i for page in pages for i in match_ids(body(page) or {}, "Patient")]
    expect(len(pages) > 1, f"{len(ids)} matches came in one page despite _count=2", pages[0])
    expect_ids(ids, data.patient_ids(), "Patient?_count=2, all pages", pages[-1])


@check("search.total-accurate", "search.html#total", SEARCH)
def total_accurate(ctx: Context) -> None:
    """_total=accurate gives the number of all matches, not of the page"""
    data = search_data.build(ctx)
    response = ctx.client.get("Patient", params=[("_total", "accurate"), ("_count", "2"), ctx.tag_param])
    expect_status(response, 200)
    bundle = body(response) or {}
    if "total" not in bundle:
        raise NotClaimed("the server gives no Bundle.total for _total=accurate (it may decline to)")
    expect(bundle["total"] == len(data.patients), f"total is {bundle['total']}, expected {len(data.patients)}",
           response)


@check("search.post", "search.html#Introduction", all_of(SEARCH, requires_param("Patient", "family", "string")))
def post_search(ctx: Context) -> None:
    """POST [type]/_search with a form body finds what the same GET finds"""
    data = search_data.build(ctx)
    params = [("family", "chal")]
    get_ids, _ = ctx.search_ids("Patient", params)
    post_ids, page = ctx.search_ids("Patient", params, method="POST")
    expect_ids(post_ids, set(get_ids), "POST Patient/_search family=chal", page)
    expect(set(get_ids) <= data.patient_ids(), "GET found resources that are not the suite's", page)
