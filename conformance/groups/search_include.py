"""Search results that bring other resources along (search.html#include, #revinclude) and the
reverse chain `_has` (search.html#has), each on data the check creates itself."""

from __future__ import annotations

from conformance.checks import check, expect_ids
from conformance.claims import all_of, requires_has, requires_include, requires_interactions, requires_param
from conformance.context import Context, entries_by_mode
from conformance.groups.makers import CODES, observation, patient, ref

WRITES = all_of(requires_interactions("Observation", "create", "search-type"),
                requires_interactions("Patient", "create", "search-type"))


def expect_modes(ctx: Context, resource_type: str, params: list[tuple[str, str]], matches: set[str],
                 included: set[str]) -> None:
    """Exactly these matches (search.mode match) and these included resources (search.mode
    include), as `Type/id`, each once over all pages."""
    pages = ctx.search_pages(resource_type, params)
    query = f"{resource_type}?" + "&".join(f"{k}={v}" for k, v in params)
    expect_ids(entries_by_mode(pages, "match"), matches, f"{query}: matches", pages[0])
    expect_ids(entries_by_mode(pages, "include"), included, f"{query}: search.mode=include entries", pages[0])


@check("search.include", "search.html#include",
       all_of(WRITES, requires_param("Observation", "_id", "token"),
              requires_include("Observation", "Observation:subject")))
def include(ctx: Context) -> None:
    """_include=Observation:subject returns the subject with search.mode=include"""
    owner = patient(ctx)
    obs = observation(ctx, owner)
    expect_modes(ctx, "Observation", [("_id", obs["id"]), ("_include", "Observation:subject")],
                 {ref(obs)}, {ref(owner)})


@check("search.revinclude", "search.html#revinclude",
       all_of(WRITES, requires_param("Patient", "_id", "token"),
              requires_include("Patient", "Observation:subject", rev=True)))
def revinclude(ctx: Context) -> None:
    """_revinclude=Observation:subject returns the observations of the patient found, search.mode=include"""
    owner = patient(ctx)
    observations = [observation(ctx, owner) for _ in range(2)]
    expect_modes(ctx, "Patient", [("_id", owner["id"]), ("_revinclude", "Observation:subject")],
                 {ref(owner)}, {ref(o) for o in observations})


@check("search.include-iterate", "search.html#include",
       all_of(WRITES, requires_param("Observation", "_id", "token"),
              requires_include("Observation", "Observation:has-member"),
              requires_include("Observation", "Observation:subject")))
def include_iterate(ctx: Context) -> None:
    """_include:iterate follows references of included resources too (panel -> member -> subject)"""
    owner = patient(ctx)
    member = observation(ctx, owner)
    panel = observation(ctx, hasMember=[{"reference": ref(member)}])   # no subject of its own
    expect_modes(ctx, "Observation", [("_id", panel["id"]), ("_include", "Observation:has-member"),
                                      ("_include:iterate", "Observation:subject")],
                 {ref(panel)}, {ref(member), ref(owner)})


@check("search.has", "search.html#has",
       all_of(WRITES, requires_param("Observation", "code", "token"), requires_has("Observation", "subject")))
def has(ctx: Context) -> None:
    """Patient?_has:Observation:subject:code=[code] finds the patients such an observation refers to"""
    with_it, without = patient(ctx), patient(ctx)
    obs = observation(ctx, with_it)
    observation(ctx, without)   # another code
    code = obs["code"]["coding"][0]["code"]
    ids, page = ctx.search_ids("Patient", [("_has:Observation:subject:code", f"{CODES}|{code}")])
    expect_ids(ids, {with_it["id"]}, f"Patient?_has:Observation:subject:code={CODES}|{code}", page)
