"""The US Core searches of the types on the shared tables read the patient's index entries.

A tenant of its own gets 5,000 patients' Conditions, Procedures and Immunizations (20,000 of
each type, generated in SQL in the layout the write path produces), beside a tenant holding
as many rows of another type, so that the planner chooses on a realistic shared table. Each
US Core 3.1.1 SHALL combination of these types is compiled exactly as the server compiles it
and EXPLAINed as the application role: the plan must start from the reference side table's
(resource_type, param, target) index, the patient's entries, and read nothing of another
tenant (mappings/generic.py: every key leads with the type after the tenant).
"""

from __future__ import annotations

import orjson
import pytest

from fhirserver.db.partitions import create_tenant_partitions
from mappings import MAPPINGS
from searchparams.parse import parse
from searchparams.plan import PageSpec, plan_page
from searchparams.sqlgen.select import compile_page
from tests.integration.test_seed_query_plans import _scans

# $1 the tenant, $2 the types: 20,000 resources of each, their patients' references, half of
# them under one common code per token parameter, dates over two years.
FILL = [
    """INSERT INTO resources (org_id, resource_type, id, version_id, verb, last_updated, resource)
       SELECT $1, t, t || i, 1, 'c', now(), '{}' FROM generate_series(1, 20000) i, unnest($2::text[]) t""",
    """INSERT INTO resources_ref (org_id, resource_type, id, param, target)
       SELECT $1, t, t || i, p, 'Patient/p' || (i % 5000) FROM generate_series(1, 20000) i, unnest($2::text[]) t,
         unnest(ARRAY['patient', 'subject']) p WHERE (t = 'Immunization') = (p = 'patient')""",
    """INSERT INTO resources_tok (org_id, resource_type, id, param, system, code)
       SELECT $1, t, t || i, p, 'http://example.org', CASE WHEN i % 2 = 0 THEN 'common' ELSE 'c' || (i % 50) END
       FROM generate_series(1, 20000) i, unnest($2::text[]) t,
         unnest(ARRAY['category', 'clinical-status', 'status', 'code']) p""",
    """INSERT INTO resources_date (org_id, resource_type, id, param, lo, hi)
       SELECT $1, t, t || i, p, now() - (i % 700) * interval '1 day', now() - (i % 700) * interval '1 day'
       FROM generate_series(1, 20000) i, unnest($2::text[]) t, unnest(ARRAY['date', 'onset-date']) p""",
]
TYPES = ["Condition", "Procedure", "Immunization"]
# US Core 3.1.1's SHALL combinations of these types (us-core-3.1.1-searches.json).
SEARCHES = [
    ("Condition", [("patient", "Patient/p42")]),
    ("Condition", [("patient", "Patient/p42"), ("category", "http://example.org|common")]),
    ("Condition", [("patient", "Patient/p42"), ("clinical-status", "http://example.org|common")]),
    ("Condition", [("patient", "Patient/p42"), ("onset-date", "ge2025-01-01")]),
    ("Condition", [("patient", "Patient/p42"), ("code", "http://example.org|common")]),
    ("Procedure", [("patient", "Patient/p42")]),
    ("Procedure", [("patient", "Patient/p42"), ("date", "ge2025-01-01")]),
    ("Procedure", [("patient", "Patient/p42"), ("code", "http://example.org|common"), ("date", "ge2025-01-01")]),
    ("Procedure", [("patient", "Patient/p42"), ("status", "common")]),
    ("Immunization", [("patient", "Patient/p42")]),
    ("Immunization", [("patient", "Patient/p42"), ("date", "ge2025-01-01")]),
    ("Immunization", [("patient", "Patient/p42"), ("status", "common")]),
]


@pytest.fixture(scope="module")
async def shared(owner):
    orgs = []
    for slug in ("shared-planner", "shared-other"):
        org = await owner.fetchval("INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING org_id", slug)
        await create_tenant_partitions(owner, org, months_ahead=1)
        orgs.append(org)
    for statement in FILL:
        await owner.execute(statement, orgs[0], TYPES)
        await owner.execute(statement, orgs[1], ["Goal"])   # another tenant, another type, as many rows
    tables = ("resources", "resources_ref", "resources_tok", "resources_date")
    for table in tables:
        await owner.execute(f"ANALYZE {table}")
    yield orgs[0]
    for table in tables:   # rows made beneath the API, not resources: gone before a reindex walks them
        await owner.execute(f"DELETE FROM {table} WHERE org_id = ANY($1)", orgs)


@pytest.mark.parametrize("type_name,query", SEARCHES, ids=[f"{t}:{'+'.join(k for k, _ in q)}" for t, q in SEARCHES])
async def test_a_patients_search_starts_from_the_patients_reference_entries(owner, shared, type_name, query):
    m = MAPPINGS[type_name]
    search = parse(type_name, query, strict=True)
    q = compile_page(m, search, plan_page(m, search, PageSpec(shared, search.count + 1)))
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE fhir_app; SET LOCAL fhir.org_id = '{shared}'")
        plan = await owner.fetchval("EXPLAIN (FORMAT JSON) " + q.sql, *q.params)
    scans = _scans(orjson.loads(plan))
    entries = f"resources_ref_o{shared}_resource_type_param_target"
    assert any(index and index.startswith(entries) for _, _, index in scans), scans
    assert not any(kind == "Seq Scan" for kind, _, _ in scans), scans
    assert all(f"_o{shared}" in (relation or index) for _, relation, index in scans), scans
