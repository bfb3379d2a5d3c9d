"""The seed design's high- and medium-frequency queries use an index and prune partitions.

A tenant of its own is filled with enough rows (generated in SQL, in the layouts the write
path produces) for the planner to choose; each query is compiled exactly as the server
compiles it and EXPLAINed as the application role. The test asserts the index it should
use and that only the tenant's partitions, within the query's months, are read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from fhirserver import ids
from fhirserver.db.partitions import create_tenant_partitions
from mappings import MAPPINGS
from searchparams.parse import parse
from searchparams.plan import PageSpec, plan_page
from searchparams.sqlgen.select import compile_page

NOW = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
MONTHS = 24

LOAD = """
INSERT INTO tenants (slug, name) VALUES ('planner', 'Planner') RETURNING org_id
"""


def _scans(plan: dict) -> list[tuple[str, str, str | None]]:
    """(node type, relation, index) of every scan in a plan."""
    out = []

    def walk(node):
        if "Relation Name" in node or "Index Name" in node:
            out.append((node["Node Type"], node.get("Relation Name", ""), node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return out


async def _fill(conn, org: int) -> None:
    """Rows in bulk, shaped like the write path's (main columns + side rows)."""
    start = _shift(-(MONTHS - 1))   # 700 days of data end within the months made below
    future = _shift(-(MONTHS - 4))  # appointments reach three months ahead
    await conn.execute(f"""
    INSERT INTO patients (org_id, id, version_id, verb, last_updated, resource, birth_date,
                          birth_date_end, gender, mrn)
    SELECT {org}, 'p' || i, 1, 'c', now(), '{{}}',
           date '1940-01-01' + (i % 25000), date '1940-01-02' + (i % 25000), 'female', 'urn:mrn|' || i
    FROM generate_series(1, 20000) i;
    INSERT INTO patients_tok (org_id, id, param, system, code)
    SELECT {org}, 'p' || i, 'identifier', 'urn:mrn', 'm' || i FROM generate_series(1, 20000) i;
    INSERT INTO patients_str (org_id, id, param, norm, exact)
    SELECT {org}, 'p' || i, p, v, v FROM generate_series(1, 20000) i,
      LATERAL (VALUES ('family', 'fam' || (i % 5000)), ('given', 'giv' || (i % 700)),
                      ('name', 'fam' || (i % 5000)), ('name', 'giv' || (i % 700))) x(p, v);
    INSERT INTO encounters (org_id, id, part_ts, version_id, verb, last_updated, resource, status, subject,
                            period_start, period_end)
    SELECT {org}, 'e' || i, t + interval '1 hour' - interval '1 microsecond', 1, 'c', now(), '{{}}', 'finished',
           'Patient/p' || (i % 20000), t, t + interval '1 hour'
    FROM generate_series(1, 60000) i, LATERAL (SELECT '{start.isoformat()}'::timestamptz
                                                      + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO observations (org_id, id, part_ts, version_id, verb, last_updated, resource, status, subject,
                              effective_start, effective_end)
    SELECT {org}, 'o' || i, t + interval '1 second' - interval '1 microsecond', 1, 'c', now(), '{{}}', 'final',
           'Patient/p' || (i % 20000), t, t + interval '1 second'
    FROM generate_series(1, 100000) i, LATERAL (SELECT '{start.isoformat()}'::timestamptz
                                                       + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO observations_tok (org_id, part_ts, id, param, system, code)
    SELECT org_id, part_ts, id, 'code', 'http://loinc.org', 'c' || (substr(id, 2)::int % 300)
    FROM observations WHERE org_id = {org};
    INSERT INTO observations_tok (org_id, part_ts, id, param, system, code)
    SELECT org_id, part_ts, id, 'category', 'http://terminology.hl7.org/CodeSystem/observation-category',
           CASE WHEN substr(id, 2)::int % 3 = 0 THEN 'laboratory' ELSE 'vital-signs' END
    FROM observations WHERE org_id = {org};
    INSERT INTO appointments (org_id, id, part_ts, version_id, verb, last_updated, resource, status, start_ts)
    SELECT {org}, 'a' || i, t, 1, 'c', now(), '{{}}', CASE WHEN i % 4 = 0 THEN 'cancelled' ELSE 'booked' END, t
    FROM generate_series(1, 40000) i, LATERAL (SELECT '{future.isoformat()}'::timestamptz
                                                      + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO appointments_ref (org_id, part_ts, id, param, target)
    SELECT org_id, part_ts, id, p, v FROM appointments,
      LATERAL (VALUES ('practitioner', 'Practitioner/d' || (substr(id, 2)::int % 400)),
                      ('actor', 'Practitioner/d' || (substr(id, 2)::int % 400)),
                      ('location', 'Location/l' || (substr(id, 2)::int % 50)),
                      ('actor', 'Location/l' || (substr(id, 2)::int % 50))) x(p, v)
    WHERE org_id = {org};
    INSERT INTO medication_requests (org_id, id, part_ts, version_id, verb, last_updated, resource, status,
                                     intent, subject)
    SELECT {org}, 'm' || i, t, 1, 'c', now(), '{{}}', CASE WHEN i % 5 = 0 THEN 'active' ELSE 'stopped' END,
           'order', 'Patient/p' || (i % 20000)
    FROM generate_series(1, 40000) i, LATERAL (SELECT '{start.isoformat()}'::timestamptz
                                                      + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO claims (org_id, id, part_ts, version_id, verb, last_updated, resource, status, use, patient)
    SELECT {org}, 'c' || i, t, 1, 'c', now(), '{{}}', 'active', 'claim', 'Patient/p' || (i % 20000)
    FROM generate_series(1, 30000) i, LATERAL (SELECT '{start.isoformat()}'::timestamptz
                                                      + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO audit_events (org_id, id, part_ts, version_id, verb, last_updated, resource, action, recorded)
    SELECT {org}, 'v' || i, t, 1, 'c', now(), '{{}}', 'R', t
    FROM generate_series(1, 60000) i, LATERAL (SELECT '{start.isoformat()}'::timestamptz
                                                      + (i % 700) * interval '1 day' AS t) x;
    INSERT INTO audit_events_ref (org_id, part_ts, id, param, target)
    SELECT org_id, part_ts, id, p, v FROM audit_events,
      LATERAL (VALUES ('agent', 'Practitioner/d' || (substr(id, 2)::int % 400)),
                      ('entity', 'Patient/p' || (substr(id, 2)::int % 20000))) x(p, v)
    WHERE org_id = {org};
    """)
    for table in ("patients", "patients_tok", "patients_str", "encounters", "observations", "observations_tok",
                  "appointments", "appointments_ref", "medication_requests", "claims", "audit_events",
                  "audit_events_ref"):
        await conn.execute(f"ANALYZE {table}")


SMALL: set[str] = set()


@pytest.fixture(scope="module")
async def planner(owner) -> int:
    org = await owner.fetchval(LOAD)
    await create_tenant_partitions(owner, org, months_ahead=3)
    for i in range(-MONTHS, 4):
        month = _shift(i)
        for m in MAPPINGS.values():
            if m.time_partitioned:
                await owner.execute("SELECT fhir_ensure_month_partition($1, $2, $3)", m.table, org, month)
    await _fill(owner, org)
    SMALL.update(await _small(owner))
    return org


async def _small(owner) -> frozenset[str]:
    rows = await owner.fetch("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples < 1000")
    return frozenset(r[0] for r in rows)


async def _plan(owner, org: int, resource_type: str, query: list[tuple[str, str]]) -> list:
    m = MAPPINGS[resource_type]
    search = parse(resource_type, query, strict=True)
    q = compile_page(m, search, plan_page(m, search, PageSpec(org, search.count + 1)))
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{org}'")
        return _scans(orjson.loads(await owner.fetchval("EXPLAIN (FORMAT JSON) " + q.sql, *q.params)))


def _assert_plan(scans: list, org: int, index_hint: str, months: tuple[str, ...] | None = None,
                 small: frozenset[str] = frozenset()) -> None:
    """An index named like `index_hint` is used; no sequential scan of a partition holding data
    (the planner rightly reads empty or tiny ones directly); nothing outside tenant and months."""
    assert scans, "no scans"
    assert any(kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") and index_hint in (index or "")
               for kind, _, index in scans), scans
    assert not any(kind == "Seq Scan" and relation not in (small or SMALL) for kind, relation, _ in scans), scans
    for _, relation, index in scans:
        name = relation or index or ""
        assert f"_o{org}" in name, f"{name} is outside the tenant's partitions"
        if months is not None and relation and "_o" in relation and "m" in relation.rsplit("_", 1)[-1]:
            assert relation.rsplit("_", 1)[-1] in months, f"{relation} is outside the query's months"


def _month(ts: datetime) -> str:
    return f"{ts:%Y}m{ts:%m}"


def _shift(months: int) -> datetime:
    return ids.month_start(ids.month_index(NOW) + months)


async def test_patient_by_id(owner, planner):
    _assert_plan(await _plan(owner, planner, "Patient", [("_id", "p42")]), planner, "pkey")


async def test_patient_by_mrn(owner, planner):
    _assert_plan(await _plan(owner, planner, "Patient", [("identifier", "urn:mrn|m42")]), planner,
                 "patients_tok")


async def test_patient_by_name(owner, planner):
    _assert_plan(await _plan(owner, planner, "Patient", [("family", "fam42"), ("given", "giv7")]), planner,
                 "patients_str")


async def test_patient_fuzzy_name_uses_trigrams(owner, planner):
    _assert_plan(await _plan(owner, planner, "Patient", [("name:contains", "am421")]), planner, "norm")


async def test_patient_by_birth_date(owner, planner):
    _assert_plan(await _plan(owner, planner, "Patient", [("birthdate", "1955-03-04")]), planner, "birth_date")


async def test_recent_encounters_of_a_patient(owner, planner):
    scans = await _plan(owner, planner, "Encounter", [("patient", "Patient/p42"), ("_sort", "-date"),
                                                     ("_count", "10")])
    _assert_plan(scans, planner, "subject_period_start")


async def test_encounters_of_a_patient_since_a_date(owner, planner):
    since, months = _since(100)
    scans = await _plan(owner, planner, "Encounter", [("patient", "Patient/p42"), ("date", f"ge{since}")])
    _assert_plan(scans, planner, "subject_period_start", months)


async def test_upcoming_appointments_by_practitioner_and_by_location(owner, planner):
    today = NOW.date().isoformat()
    ahead = tuple(_month(_shift(i)) for i in range(0, 4))
    for who in (("practitioner", "Practitioner/d7"), ("location", "Location/l3")):
        scans = await _plan(owner, planner, "Appointment", [who, ("date", f"ge{today}"), ("status", "booked")])
        _assert_plan(scans, planner, "appointments_ref", ahead)


async def test_active_medication_requests_of_a_patient(owner, planner):
    scans = await _plan(owner, planner, "MedicationRequest", [("patient", "p42"), ("status", "active")])
    _assert_plan(scans, planner, "subject_status")


def _since(days: int) -> tuple[str, tuple[str, ...]]:
    """The date `days` ago, and the months from its own to the last one made (3 ahead)."""
    day = (NOW - timedelta(days=days)).date()
    first = ids.month_index(datetime(day.year, day.month, 1, tzinfo=timezone.utc)) - ids.month_index(NOW)
    return day.isoformat(), tuple(_month(_shift(i)) for i in range(first, 4))


async def test_recent_labs_and_vitals_by_code(owner, planner):
    since, months = _since(60)
    busy = _shift(-2)   # a month with data
    scans = await _plan(owner, planner, "Observation", [("patient", "Patient/p42"), ("code", "http://loinc.org|c7"),
                                                       ("date", f"ge{since}")])
    # A range is filed by its end (mappings/base.py), so "since" prunes the months before it.
    _assert_plan(scans, planner, "subject_effective_start", months)
    scans = await _plan(owner, planner, "Observation", [("code", "http://loinc.org|c7"),
                                                       ("date", f"{busy:%Y-%m}")])
    _assert_plan(scans, planner, "_code_idx", (_month(busy),))   # GIN on the codes column


async def test_claims_of_a_patient(owner, planner):
    _assert_plan(await _plan(owner, planner, "Claim", [("patient", "p42")]), planner, "_patient_idx")


async def test_audit_events_by_agent_entity_and_date(owner, planner):
    day = (NOW - timedelta(days=40)).date().isoformat()
    month = _month(NOW - timedelta(days=40))
    for who in (("agent", "Practitioner/d7"), ("entity", "Patient/p42")):
        scans = await _plan(owner, planner, "AuditEvent", [who, ("date", day)])
        _assert_plan(scans, planner, "audit_events_ref", (month,))
