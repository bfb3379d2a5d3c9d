"""Property: a search returns exactly the resources an independent oracle says it must.

For each of fourteen stored types (Patient, Observation, Encounter, Appointment,
MedicationRequest, Claim, AuditEvent, and, on the shared tables behind per-type views, Condition,
Procedure, Immunization, AllergyIntolerance, DiagnosticReport, DocumentReference, Goal), hypothesis builds
a small set of valid resources (3 to 7) whose values come from small pools (names that differ
only by case, accents or a prefix; codes with and without a system; dates at every precision and
in several time zones; quantities whose decimals differ only in precision; references relative,
absolute on this server, external or by identifier; tags, security labels, profiles, sources),
creates them (201), and runs six random searches over the type's supported parameters: one or
two clauses, OR-ed values, the prefixes eq ne gt lt ge le sa eb ap, the modifiers :missing :not
:text :of-type :exact :contains :identifier :[type] :below :above (on uris, and on tokens of
R4's own code systems) :in :not-in, escaped separators, and now and then pages of two (following
`next`). The ids the server returns must be exactly the ids that tests/property/oracle.py
computes by evaluating each parameter's official FHIRPath expression with fhirpathpy and
applying the R4 matching rules of search.html. Half of the search values are drawn from what the
stored resources hold, so that searches hit.

Each test function searches a tenant of its own, and each example sees only its own
resources, under a tag of their own (tests/property/oracle_world.py).

Searches use `Prefer: handling=strict`: a parameter the server would silently drop must
fail instead. Where R4 itself is ambiguous the oracle raises `Ambiguous` and that search is
not compared (hypothesis statistics count them): among others `:missing` where the expression
selects a value of a type the parameter does not search (Immunization.occurrenceString for `date`),
and a quantity search on a Range (Condition onset-age; the builders store none). Every disagreement found so far has a
minimal regression test in test_search_oracle_regressions.py; none is open.
Chains (one or two links, through the pool resources) and Observation's composite parameters
are covered, and so is `ap`: R4 leaves its tolerance to the server and recommends 10% (of the
value; of the gap between now and a date), which this server takes; as "now" moves while a
search runs, the oracle gives the narrowest and the widest acceptable answer of a date `ap`
(clock read before the request and after the last page, the tolerance checked to 9.9-10.1%) and
the server's ids must lie between them. test_ap_tolerance_returns_what_the_oracle_says puts
stored numbers and dates on purpose just inside and just outside 10% of the searched value.

Reverse chains (`_has:Type:ref:param=value`, and `_has` nested in `_has`) have a test of their
own (test_reverse_chains_return_what_the_oracle_says): it creates tagged candidates of a type
that references point at (Patient, Encounter, Practitioner, Organization, Location), resources
of the thirteen types above built so that their references may point at those candidates, and a
second level of resources that may point at the first, then searches the candidates with
`_has` clauses whose inner parameter is any clause the property above draws (modifiers,
prefixes, chains, composites). The oracle evaluates the reference parameter's official
expression on every resource of the source type the tenant holds and the inner clause on those
that refer to the candidate.

AuditEvent's action, outcome, date, type and subtype are answered from its own columns only
(searchparams.catalog.COLUMN_ONLY); test_audit_event_columns_return_what_the_oracle_says searches
nothing else, over instants of every precision written in many zones around the ends of months.
AuditEvent is no source of `_has` here: the server writes one for every request, referring to the
candidates too, which the oracle does not know.

Where the rest lives: the tenant, its pool resources and the tags in oracle_world.py; the
resource builders in oracle_pools.py, oracle_elements.py, oracle_resources.py, oracle_clinical.py,
oracle_audit.py and oracle_closeups.py; the searched parameters and the clause builders in oracle_params.py,
oracle_values.py and oracle_clauses.py; issuing searches and comparing in oracle_queries.py.
"""

from __future__ import annotations

import os

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

pytest.importorskip("fhirpathpy", reason="the oracle evaluates FHIRPath with fhirpathpy (pip install fhirpathpy)")

from mappings import MAPPINGS  # noqa: E402
from searchparams import catalog  # noqa: E402
from tests.property.oracle import UCUM, Clause, Has, escape  # noqa: E402
from tests.property.oracle_clauses import clause, has_clause  # noqa: E402
from tests.property.oracle_closeups import (  # noqa: E402
    AP_DATES,
    AP_NUMBERS,
    SOUND_QUERIES,
    SPAN_DATES,
    SPAN_QUERIES,
    SPANNED,
    near_ap,
    sounding_patient,
)
from tests.property.oracle_elements import meta, period  # noqa: E402
from tests.property.oracle_params import REFERRERS, SEARCHED, Dt, Phon, Qty, Ref, Str, Tok, Uri  # noqa: E402
from tests.property.oracle_pools import DATE_PREFIXES  # noqa: E402
from tests.property.oracle_queries import check, utc_now  # noqa: E402
from tests.property.oracle_resources import BUILDERS, HAS_TARGETS  # noqa: E402
from tests.property.oracle_world import World, create_all, fresh_tag, new_world, tag_clause  # noqa: E402
from tests.property.support import examples  # noqa: E402

# FHIR_PROPERTY_NO_SHRINK=1 reports the first failing example as found, unshrunk: quicker while
# hunting (shrinking a search failure can take minutes); the normal run shrinks.
SETTINGS = settings(max_examples=examples(40), deadline=None,
                    phases=([Phase.explicit, Phase.generate] if os.environ.get("FHIR_PROPERTY_NO_SHRINK")
                            else list(Phase)),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
QUERIES_PER_EXAMPLE = 6


@pytest_asyncio.fixture
async def world(owner, http) -> World:
    return await new_world(owner, http)


@pytest.mark.parametrize("type_name", sorted(BUILDERS))
@SETTINGS
@given(data=st.data())
async def test_search_returns_what_the_oracle_says(http, world, type_name, data):
    tag = fresh_tag()
    bodies = data.draw(st.lists(BUILDERS[type_name](world), min_size=3, max_size=7), label="resources")
    for body in bodies:
        body["meta"] = data.draw(meta(tag), label="meta")
    resources = await create_all(http, world, bodies)
    by_tag = tag_clause(tag)
    for i in range(QUERIES_PER_EXAMPLE):
        clauses = data.draw(st.lists(clause(type_name, world, resources), min_size=1, max_size=2), label=f"query {i}")
        count = data.draw(st.sampled_from([1000, 1000, 1000, 2]), label="page size")   # 2: follow `next`
        note(f"query {i}: " + "&".join(str(c) for c in clauses))
        await check(http, world, type_name, resources, [*clauses, by_tag], count)


# --- reverse chains (_has) ------------------------------------------------------------------------

async def referring(http, w: World, data, targets: list[str], tag: dict, sizes: tuple[int, int],
                    label: str) -> list[dict]:
    """Create resources of types that may refer to `targets` (built in world `w`, whose references
    may point at them), tagged like the candidates."""
    types = sorted({s for t in targets for s, _ in REFERRERS[t]})
    if not types:
        return []
    bodies = []
    for type_name in data.draw(st.lists(st.sampled_from(types), min_size=sizes[0], max_size=sizes[1]), label=label):
        body = data.draw(BUILDERS[type_name](w), label=type_name)
        body["meta"] = data.draw(meta(tag), label="meta")
        bodies.append(body)
    return await create_all(http, w, bodies)


@SETTINGS
@given(data=st.data())
async def test_reverse_chains_return_what_the_oracle_says(http, world, data):
    target = data.draw(st.sampled_from(sorted(HAS_TARGETS)), label="searched type")
    tag = fresh_tag()
    bodies = data.draw(st.lists(HAS_TARGETS[target](world), min_size=2, max_size=4), label="candidates")
    for body in bodies:
        body["meta"] = data.draw(meta(tag), label="meta")
    candidates = await create_all(http, world, bodies)
    near = world.pointing_at(target, [r["id"] for r in candidates])
    first = await referring(http, near, data, [target], tag, (2, 6), "referring")
    # A second level, referring to the first level's Patients and Encounters: nested _has.
    far, middle = near, sorted({r["resourceType"] for r in first} & set(REFERRERS))
    for type_name in middle:
        far = far.pointing_at(type_name, [r["id"] for r in first if r["resourceType"] == type_name])
    second = await referring(http, far, data, middle, tag, (0, 4), "referring to those")
    sources: dict[str, list[dict]] = {}
    for r in first + second:
        sources.setdefault(r["resourceType"], []).append(r)
    # The tag is on the referring resources too: those of the searched type are candidates as well.
    searched = candidates + sources.get(target, [])
    mine = {f"{r['resourceType']}/{r['id']}" for r in candidates + first + second}
    by_tag = tag_clause(tag)
    for i in range(QUERIES_PER_EXAMPLE):
        n = data.draw(st.sampled_from([1, 1, 1, 2]), label="_has clauses")
        clauses: list[Clause | Has] = [data.draw(has_clause(target, far, sources, mine), label=f"query {i}")
                                       for _ in range(n)]
        if target in SEARCHED and data.draw(st.integers(0, 3)) == 0:
            clauses.append(data.draw(clause(target, far, searched), label="and"))
        count = data.draw(st.sampled_from([1000, 1000, 1000, 2]), label="page size")
        note(f"query {i}: " + "&".join(str(c) for c in clauses))
        await check(http, world, target, searched, [*clauses, by_tag], count)


# --- close-ups (tests/property/oracle_closeups.py says what each puts where) ----------------------

@SETTINGS
@given(data=st.data())
async def test_ap_tolerance_returns_what_the_oracle_says(http, world, data):
    number = data.draw(st.sampled_from(AP_NUMBERS), label="number")
    date = data.draw(st.sampled_from(AP_DATES), label="date")
    tag = fresh_tag()
    bodies = data.draw(st.lists(near_ap(number, date, utc_now()), min_size=3, max_size=6), label="resources")
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = tag_clause(tag)
    unit = data.draw(st.sampled_from(["", f"|{UCUM}|mg", "||mg"]), label="unit")
    for clauses in ([Clause("value-quantity", None, (f"ap{number}{unit}",))], [Clause("date", None, (f"ap{date}",))],
                    [Clause("value-quantity", None, (f"ap{number}",)), Clause("date", None, (f"ap{date}",))]):
        note("&".join(str(c) for c in clauses))
        await check(http, world, "Observation", resources, [*clauses, by_tag], 1000)


@SETTINGS
@given(data=st.data())
async def test_phonetic_returns_what_the_oracle_says(http, world, data):
    tag = fresh_tag()
    bodies = data.draw(st.lists(sounding_patient(), min_size=2, max_size=6), label="resources")
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = tag_clause(tag)
    for _ in range(QUERIES_PER_EXAMPLE):
        if data.draw(st.integers(0, 7), label="missing?") == 0:
            clause = Clause("phonetic", "missing", (data.draw(st.sampled_from(["true", "false"])),))
        else:
            words = data.draw(st.lists(st.sampled_from(SOUND_QUERIES), min_size=1, max_size=2), label="values")
            clause = Clause("phonetic", None, tuple(escape(w) for w in words))
        note(str(clause))
        await check(http, world, "Patient", resources, [clause, by_tag], 1000)


@pytest.mark.parametrize("type_name", sorted(SPANNED))
@SETTINGS
@given(data=st.data())
async def test_ranges_filed_by_their_end_are_found_by_every_prefix(http, world, type_name, data):
    tag = fresh_tag()
    bodies = [SPANNED[type_name](data.draw(period(SPAN_DATES), label="range")) for _ in range(data.draw(
        st.integers(3, 6), label="how many"))]
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = tag_clause(tag)
    for _ in range(QUERIES_PER_EXAMPLE):
        values = data.draw(st.lists(st.tuples(st.sampled_from(DATE_PREFIXES), st.sampled_from(SPAN_QUERIES)),
                                    min_size=1, max_size=2), label="values")
        clause = Clause(MAPPINGS[type_name].partition_param, None, tuple(p + v for p, v in values))
        note(str(clause))
        await check(http, world, type_name, resources, [clause, by_tag], 1000)


# --- AuditEvent's columns, close up ----------------------------------------------------------------
# action, outcome, date, type and subtype are answered from AuditEvent's own columns only
# (searchparams.catalog.COLUMN_ONLY): here every clause is over them, on more events.
AUDIT_COLUMNS = tuple(sorted(catalog.COLUMN_ONLY["AuditEvent"]))


@SETTINGS
@given(data=st.data())
async def test_audit_event_columns_return_what_the_oracle_says(http, world, data):
    tag = fresh_tag()
    bodies = data.draw(st.lists(BUILDERS["AuditEvent"](world), min_size=4, max_size=10), label="events")
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = tag_clause(tag)
    for i in range(QUERIES_PER_EXAMPLE):
        clauses = data.draw(st.lists(clause("AuditEvent", world, resources, AUDIT_COLUMNS), min_size=1, max_size=2),
                            label=f"query {i}")
        count = data.draw(st.sampled_from([1000, 1000, 1000, 2]), label="page size")
        note(f"query {i}: " + "&".join(str(c) for c in clauses))
        await check(http, world, "AuditEvent", resources, [*clauses, by_tag], count)


def test_every_searched_parameter_is_supported():
    """The generator only searches parameters the server declares supported, with their R4 type."""
    for type_name, params in SEARCHED.items():
        supported = catalog.supported(type_name)
        for code, kind in params.items():
            assert code in supported, (type_name, code)
            want = {Str: ("string",), Phon: ("string",), Tok: ("token",), Dt: ("date",), Qty: ("quantity", "number"),
                    Ref: ("reference",), Uri: ("uri",)}
            assert supported[code].type in want[type(kind)], (type_name, code, supported[code].type)
