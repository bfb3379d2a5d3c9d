"""One check per US Core 3.1.1 search combination (SHALL and SHOULD) of every profile the group
has a shape for, and per date parameter in it one more for each comparator US Core marks SHALL or
SHOULD (gt, ge, lt, le), as the JSON lists them. Each runs where the server claims the profile's
type (create, search-type), the types its data needs, and each parameter as the kind its FHIR
type is searched as; it searches with values taken from the profile's probe record and expects
exactly the group's records the query meets."""

from __future__ import annotations

from conformance.checks import check, expect_ids
from conformance.claims import all_of, requires_interactions, requires_param
from conformance.context import Context
from conformance.groups.uscore import data, index
from conformance.groups.uscore.makers_admin import SHAPES as ADMIN
from conformance.groups.uscore.makers_clinical import SHAPES as CLINICAL
from conformance.groups.uscore.makers_results import SHAPES as RESULTS
from conformance.groups.uscore.spec import Profile, Search, profiles

SECTION = "http://hl7.org/fhir/us/core/STU3.1.1/CapabilityStatement-us-core-server.html"
SHAPES = {**ADMIN, **CLINICAL, **RESULTS}


def _claim(profile: Profile, search: Search, shape: data.Shape):
    types = dict.fromkeys((*shape.needs, profile.resource))
    return all_of(*(requires_interactions(t, "create", "search-type") for t in types),
                  *(requires_param(profile.resource, n, profile.params[n].kind) for n in search.names))


def _register(profile: Profile, search: Search, shape: data.Shape, dated: str | None, prefix: str) -> None:
    def run(ctx: Context) -> None:
        store, probe = data.probe(ctx, profile, shape)
        query = []
        for name in search.names:
            param = profile.params[name]
            found = index.values(probe, param)
            if not found:
                raise ValueError(f"the group's {profile.short} probe has no {name}")   # a suite bug
            query.append((param, found[0], prefix if name == dated else ""))
        params = [(p.name, index.query_value(p, v, pre)) for p, v, pre in query]
        ids, page = ctx.search_ids(profile.resource, params)
        expect_ids(ids, data.expected(store, profile, query),
                   f"{profile.resource}?" + "&".join(f"{k}={v}" for k, v in params), page)
    suffix = f"-{prefix}" if prefix else ""
    shown = "&".join(f"{n}={prefix}" if n == dated and prefix else n for n in search.names)
    check(f"uscore.{profile.short}.{'+'.join(search.names)}{suffix}", SECTION, _claim(profile, search, shape),
          f"{profile.resource}?{shown} ({search.expectation} in US Core 3.1.1, {profile.short})")(run)


for _profile in profiles():
    _shape = SHAPES.get(_profile.name)
    if _shape is None:
        continue
    for _search in _profile.searches:
        _register(_profile, _search, _shape, None, "")
        _dated = next((n for n in _search.names if _profile.params[n].kind == "date"), None)
        if _dated:
            for _prefix in _profile.params[_dated].comparators:
                _register(_profile, _search, _shape, _dated, _prefix)
