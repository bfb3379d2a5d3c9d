"""Pure stages of search: parsing rules and the SQL shape (no database)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirserver import ids
from mappings import MAPPINGS
from mappings.bindings import DateRange, binding
from searchparams import ast
from searchparams.parse import parse
from searchparams.partitions import partition_bounds
from searchparams.plan import PageSpec, plan_page
from searchparams.sqlgen.select import Compiled, compile_page

OBS, PAT = MAPPINGS["Observation"], MAPPINGS["Patient"]


def page_sql(m, search: ast.Search, org_id: int, limit: int, months: list[datetime] | None = None) -> Compiled:
    return compile_page(m, search, plan_page(m, search, PageSpec(org_id, limit, months=months)))


def test_token_forms_and_escaping():
    s = parse("Patient", [("identifier", r"urn:a|x\,y,|lone,sys|,code\|bar")], strict=True)
    assert s.clauses[0].values == (ast.Token("urn:a", "x,y"), ast.Token("", "lone"), ast.Token("sys", None),
                                   ast.Token(None, "code|bar"))


def test_printed_ast():
    s = parse("Observation", [("code", "http://loinc.org|1234-5"), ("date", "ge2020")], strict=True)
    assert str(s) == ("(search Observation (and (code (or http://loinc.org|1234-5)) "
                      "(date (or ge[2020-01-01T00:00:00+00:00,2021-01-01T00:00:00+00:00)))))")


def test_values_never_enter_the_sql_text():
    s = parse("Patient", [("family", "O'Brien; DROP TABLE patients"), ("identifier", "x|y")], strict=True)
    q = page_sql(PAT, s, 1, 10)
    assert "Brien" not in q.sql and "DROP" not in q.sql and "x|y" not in q.sql
    assert "o'brien; drop table patients" in q.params


def test_date_eq_on_the_partitioning_parameter_bounds_part_ts():
    q = page_sql(OBS, parse("Observation", [("date", "2021-04")], strict=True), 1, 10)
    assert "a0.part_ts >= $2 AND a0.part_ts < $3" in q.sql


def test_open_ended_prefixes_do_not_bound_part_ts_on_ranges():
    for prefix in ("lt", "le", "ne", "ap"):
        q = page_sql(OBS, parse("Observation", [("date", f"{prefix}2021-04")], strict=True), 1, 10)
        assert "part_ts" not in q.sql, prefix


def test_since_prefixes_bound_part_ts_on_ranges_filed_by_their_end():
    april, may = datetime(2021, 4, 1, tzinfo=timezone.utc), datetime(2021, 5, 1, tzinfo=timezone.utc)
    for prefix, bounds in (("ge", (april, None)), ("gt", (may, None)), ("sa", (may, None)), ("eb", (None, april)),
                           ("eq", (april, may))):
        for type_name in ("Observation", "Encounter", "MedicationRequest", "Claim"):
            code = MAPPINGS[type_name].partition_param
            assert partition_bounds(MAPPINGS[type_name], parse(type_name, [(code, f"{prefix}2021-04")],
                                                                  strict=True)) == bounds, (type_name, prefix)
    # the last month a server id can name holds every later time, open ends included
    assert partition_bounds(OBS, parse("Observation", [("date", "ge9000")], strict=True)) == (ids.PART_TS_MAX, None)


_RANGES = {"Observation": "effectivePeriod", "Encounter": "period"}
_INSTANTS = {"Appointment": "start", "AuditEvent": "recorded"}
_DATE_TIMES = {"MedicationRequest": "authoredOn", "Claim": "created"}


def test_each_partitioning_date_is_filed_by_the_rule_its_search_bounds_assume():
    """A parameter bound to one instant column is filed by that instant; any other by the last
    instant of its range, an open one at the end of time (mappings/base.py)."""
    timed = {t for t, m in MAPPINGS.items() if m.time_partitioned}
    assert timed == set(_RANGES) | set(_INSTANTS) | set(_DATE_TIMES)
    for type_name in timed:
        b = binding(type_name, MAPPINGS[type_name].partition_param)
        instant = isinstance(b, DateRange) and (b.start == b.end or b.widest is not None)
        assert instant == (type_name in _INSTANTS), type_name
    filed = {t: MAPPINGS[t].clinical_time for t in timed}
    at = datetime(2021, 4, 9, 10, 0, 0, tzinfo=timezone.utc)
    for t, element in _INSTANTS.items():
        assert filed[t]({element: "2021-04-09T10:00:00Z"}) == at
    for t, element in _DATE_TIMES.items():
        assert filed[t]({element: "2021-04"}) == datetime(2021, 4, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)
    for t, element in _RANGES.items():
        assert filed[t]({element: {"start": "2019-01-01", "end": "2021-04-09T10:00:00Z"}}) == \
            at + timedelta(seconds=1, microseconds=-1)
        assert ids.clamp(filed[t]({element: {"start": "2019-01-01"}})) == ids.PART_TS_MAX
        assert filed[t]({element: {"end": "2021-04-09"}}) == \
            datetime(2021, 4, 9, 23, 59, 59, 999999, tzinfo=timezone.utc)


def test_one_reference_or_code_is_a_plain_equality_for_generic_plans():
    """A generic plan estimates `col = $n` from the column's statistics but only guesses for
    `col = ANY($n)`; on a rewritten claims table the guess picked a full primary-key scan."""
    one = page_sql(MAPPINGS["Claim"], parse("Claim", [("patient", "p1"), ("status", "active")], strict=True), 1, 10)
    assert "a0.patient = $2::text" in one.sql and "a0.status = $3::text" in one.sql
    two = page_sql(MAPPINGS["Claim"], parse("Claim", [("patient", "p1,p2")], strict=True), 1, 10)
    assert "a0.patient = ANY($2::text[])" in two.sql and two.params[1] == ["Patient/p1", "Patient/p2"]


_values = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122, blacklist_characters="\\,|$"),
                  min_size=1, max_size=12)


@settings(max_examples=60)
@given(prefix=st.sampled_from(["eq", "gt", "le", "sa", "ne", "ap"]), a=st.tuples(_values, _values),
       b=st.tuples(_values, _values))
def test_sql_text_depends_on_the_shape_only(prefix, a, b):
    """Two searches that differ only in values compile to the same SQL text (one prepared statement)."""
    def build(v):
        return page_sql(OBS, parse("Observation", [
            ("code", f"http://loinc.org|{v[0]}"), ("subject", f"Patient/{v[1]}"), ("date", f"{prefix}2021-03-04")],
            strict=True), 7, 20)
    qa, qb = build(a), build(b)
    assert qa.sql == qb.sql
    used = {int(n) for n in re.findall(r"\$(\d+)", qa.sql)}
    assert len(qa.params) == len(qb.params) and used == set(range(1, len(qa.params) + 1))


def test_the_plan_walks_months_from_the_cursor_and_prints_itself():
    from datetime import datetime, timezone

    def utc(*args) -> datetime:
        return datetime(*args, tzinfo=timezone.utc)
    months = [utc(2021, m, 1) for m in range(1, 13)]
    search = parse("Observation", [("code", "http://loinc.org|1234-5"), ("date", "2021")], strict=True)
    first = plan_page(OBS, search, PageSpec(1, 11, months=months[:6]))   # a month list that misses July on
    assert first.order == "months" and first.bounds == (utc(2021, 1, 1), utc(2022, 1, 1))
    assert first.windows[-1] == (utc(2021, 6, 1), utc(2022, 1, 1)) and len(first.windows) == 6
    later = plan_page(OBS, search, PageSpec(1, 11, (utc(2021, 3, 10), "x"), months=months))
    assert later.windows[0] == (utc(2021, 3, 10), utc(2021, 4, 1)) and len(later.windows) == 10
    back = plan_page(OBS, search, PageSpec(1, 11, (utc(2021, 3, 10), "x"), True, months))
    assert back.windows[0][0] == utc(2021, 3, 1) and back.windows[-1] == (utc(2021, 1, 1), utc(2021, 2, 1))
    assert str(later).startswith("(plan Observation (org 1) (part_ts 2021-01-01T00:00:00+00:00 "
                                 "2022-01-01T00:00:00+00:00) (order months) (limit 11) (after 2021-03-10")
    sorted_ = parse("Observation", [("_sort", "-date")], strict=True)
    assert plan_page(OBS, sorted_, PageSpec(1, 11, months=months)).order == "keys"
    assert plan_page(PAT, parse("Patient", [], strict=True), PageSpec(1, 11)).windows == ()


def test_only_a_patients_chart_lookup_uses_generic_plans():
    from searchparams.plan import plan_filter

    def generic(type_name: str, items: list[tuple[str, str]]) -> bool:
        return plan_filter(MAPPINGS[type_name], parse(type_name, items, strict=True), 1).generic
    assert generic("Observation", [("patient", "Patient/p1")])
    assert generic("MedicationRequest", [("patient", "p1"), ("status", "active")])
    assert generic("Encounter", [("patient", "p1"), ("_sort", "-date")])
    assert not generic("Observation", [("patient", "p1"), ("code", "http://loinc.org|1234-5")])   # value-dependent
    assert not generic("Observation", [("patient", "p1"), ("date", "2024")])     # months pruned while planning
    assert not generic("Observation", [("code", "http://loinc.org|1234-5")])
    assert not generic("Patient", [("organization", "Organization/o1")])         # not month-partitioned


def test_a_side_table_reference_drives_each_window_of_the_month_walk():
    from datetime import datetime, timezone

    from searchparams.plan import walks_months

    months = [datetime(2026, m, 1, tzinfo=timezone.utc) for m in range(1, 13)]

    def plan(type_name: str, items: list[tuple[str, str]]):
        return plan_page(MAPPINGS[type_name], parse(type_name, items, strict=True), PageSpec(1, 11, months=months))
    agent = plan("AuditEvent", [("date", "ge2026-01-01"), ("agent", "Practitioner/p1")])
    assert agent.order == "months" and agent.driver == 1 and "(windows driven by filter 1)" in str(agent)
    assert plan("Appointment", [("location", "Location/l1")]).driver == 0
    assert plan("Observation", [("patient", "p1")]).driver is None            # the subject column's index drives
    assert plan("Observation", [("code", "http://loinc.org|1234-5")]).driver is None
    assert not walks_months(MAPPINGS["Encounter"], parse("Encounter", [("_id", "e1")], strict=True))
    search = parse("AuditEvent", [("date", "ge2026-01-01"), ("agent", "Practitioner/p1")], strict=True)
    q = page_sql(MAPPINGS["AuditEvent"], search, 1, 11, months)
    assert "OFFSET 0) d JOIN audit_events a0" in q.sql and q.sql.count("audit_events_ref") == 1
    used = {int(n) for n in re.findall(r"\$(\d+)", q.sql)}
    assert used == set(range(1, len(q.params) + 1))
