"""What storing every R4 type costs the catalog: three layouts side by side, in one run.

- "ten types": the schema before every type was stored (migrations 0001-0008);
- "shared" (what the server does, mappings/generic.py): 0001-0009, the 135 other types on
  shared tables behind views;
- "per type" (the alternative): 0001-0008, then a table, a history table and the side tables
  it needs for each of the 135 types, shaped like the seed's untimed tables.
For each: relations (tables, partitions, indexes, views) and catalog bytes before any tenant
and per tenant; the time to create a tenant; the time `fhirserver serve` takes to answer
/healthz on it with five tenants; and planning time of a Condition search (the compiled SQL
of `Condition?patient=..&code=..`, EXPLAIN without running it, 300 times). The ten-type
schema plans no Condition search: it has no such table.

Run: .venv/bin/python bench/catalog.py [--tenants 5]
Writes bench/results/catalog.json and catalog.md (--scratch: prints only). The ten-type schema's
server runs from a git worktree of the commit before (bench/common.worktree).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, Server, free_port, machine, worktree  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import available  # noqa: E402
from fhirserver.db.reindex import ensure_current  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402
from mappings import MAPPINGS  # noqa: E402
from mappings.ddl.search_tables import _columns  # noqa: E402
from searchparams import catalog, pipeline  # noqa: E402
from searchparams.kinds import BY_SUFFIX  # noqa: E402

DATA = Path(__file__).resolve().parent / ".data-catalog"
BEFORE = "d24e451"   # main before migration 0009
GENERIC = sorted(t for t, m in MAPPINGS.items() if m.storage)
_RLS = "org_id = nullif(current_setting('fhir.org_id', true), '')::integer"
CATALOG_BYTES = ("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                 "WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r'")
RELATIONS = ("SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
             "AND c.relkind IN ('r', 'p', 'i', 'I', 'v')")


def per_type_ddl() -> list[str]:
    """The alternative: the 135 types as tables of their own, as the seed's untimed ones are."""
    out = []
    for t in GENERIC:
        m = MAPPINGS[t]
        head = 'org_id integer NOT NULL, id text COLLATE "C" NOT NULL'
        out.append(f'CREATE TABLE {m.table} ({head}, version_id integer NOT NULL, verb "char" NOT NULL, '
                   'last_updated timestamptz NOT NULL, resource text NOT NULL, PRIMARY KEY (org_id, id)) '
                   'PARTITION BY LIST (org_id)')
        out.append(f"CREATE INDEX ON {m.table} (last_updated)")
        out.append(f'CREATE TABLE {m.history_table} ({head}, version_id integer NOT NULL, verb "char" NOT NULL, '
                   'part_ts timestamptz, last_updated timestamptz NOT NULL, resource text, '
                   'PRIMARY KEY (org_id, id, version_id)) PARTITION BY LIST (org_id)')
        out.append(f"CREATE INDEX ON {m.history_table} (last_updated)")
        for suffix in catalog.tables(t):
            side, table = m.side_table(suffix), BY_SUFFIX[suffix]
            out.append(f"CREATE TABLE {side} ({head}, {_columns(table)}) PARTITION BY LIST (org_id)")
            out += [f"CREATE INDEX ON {side} {spec.format(key='id')}" for spec in table.indexes]
            out.append(f"CREATE INDEX ON {side} (id)")
            out.append(f"INSERT INTO fhir_side_tables VALUES ('{m.table}', '{side}')")
        for name in [m.table, m.history_table] + [m.side_table(s) for s in catalog.tables(t)]:
            out += [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO fhir_app",
                    f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
                    f"CREATE POLICY tenant_isolation ON {name} USING ({_RLS}) WITH CHECK ({_RLS})"]
    return out


async def build(admin_dsn: str, layout: str, tenants: int) -> dict:
    name = f"cat_{layout.replace(' ', '_')}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()
    dsn = await ensure_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        upto = 9 if layout == "shared" else 8
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                           "name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        t0 = time.perf_counter()
        for m in available()[:upto]:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   m.version, m.name, m.checksum)
        if layout == "per type":
            async with conn.transaction():
                for statement in per_type_ddl():
                    await conn.execute(statement)
        for m in available()[9:] if layout != "ten types" else ():   # the later ones, not about layout
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   m.version, m.name, m.checksum)
        schema_s = time.perf_counter() - t0
        before = await conn.fetchval(RELATIONS), await conn.fetchval(CATALOG_BYTES)
        tenant_s = []
        for i in range(tenants):
            t0 = time.perf_counter()
            org = (await create_tenant(conn, f"org-{i + 1}", months_ahead=1)).org_id
            if layout == "per type":   # create_tenant partitions the shared tables, not these
                for t in GENERIC:
                    m = MAPPINGS[t]
                    for name in [m.table, m.history_table]:
                        await conn.execute("SELECT fhir_create_org_partition($1, $2, false)", name, org)
            tenant_s.append(time.perf_counter() - t0)
        after = await conn.fetchval(RELATIONS), await conn.fetchval(CATALOG_BYTES)
        if layout == "shared":
            await ensure_current(conn)
        plan = await _planning(conn) if layout != "ten types" else None
    finally:
        await conn.close()
    return {"layout": layout, "dsn": dsn, "schema_s": schema_s, "relations_before": before[0],
            "catalog_bytes_before": int(before[1]), "relations_per_tenant": (after[0] - before[0]) / tenants,
            "catalog_bytes_per_tenant": int((after[1] - before[1]) / tenants),
            "tenant_create_ms": statistics.median(tenant_s) * 1000, "planning_ms": plan}


async def _planning(conn: asyncpg.Connection) -> dict:
    org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = 'org-1'")
    query = (("patient", "p-1"), ("code", "http://snomed.info/sct|44054006"))
    request = pipeline.SearchRequest(MAPPINGS["Condition"], org, query)
    compiled = await pipeline.page_statement(conn, pipeline.prepare(request))
    times = []
    for _ in range(300):
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON, SUMMARY) {compiled.sql}", *compiled.params)
        times.append(json.loads(plan)[0]["Planning Time"])
    times.sort()
    return {"median": statistics.median(times), "p95": times[int(len(times) * 0.95)]}


def startup_s(dsn: str, tree: Path | None = None) -> float:
    """Seconds until /healthz answers; `tree`: the server's code from another checkout."""
    env = {"PYTHONPATH": str(tree)} if tree else {}
    t0 = time.perf_counter()
    server = Server(dsn, 1, env, cwd=tree)
    elapsed = time.perf_counter() - t0
    server.stop()
    return elapsed


def report(rows: list[dict], meta: dict) -> str:
    lines = [f"# Catalog cost of storing every R4 type ({meta['date']})", "",
             f"One run, {meta['tenants']} tenants, embedded PostgreSQL; {meta['machine']}.", "",
             "| layout | relations before tenants | catalog MB before | relations per tenant | catalog kB per tenant "
             "| create a tenant (ms) | serve: first /healthz (s) | plan Condition search, median / p95 (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        plan = f"{r['planning_ms']['median']:.3f} / {r['planning_ms']['p95']:.3f}" if r["planning_ms"] else "n/a"
        start = f"{r['startup_s']:.2f}" if r.get("startup_s") is not None else "n/a"
        lines.append(f"| {r['layout']} | {r['relations_before']} | {r['catalog_bytes_before'] / 1e6:.1f} | "
                     f"{r['relations_per_tenant']:.0f} | {r['catalog_bytes_per_tenant'] / 1e3:.0f} | "
                     f"{r['tenant_create_ms']:.0f} | {start} | {plan} |")
    lines += ["", "Relations: tables, partitions, indexes and views of the public schema. Serve: "
              "`fhirserver serve` started as a subprocess until /healthz answers; the ten-type schema is "
              f"served by the code of {BEFORE} (main before migration 0009), the per-type layout is not "
              "served (no code of this server expects it)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--scratch", action="store_true")
    args = parser.parse_args()
    cluster = EmbeddedPostgres(DATA / "pg", port=free_port())
    admin = cluster.start()
    try:
        rows = [asyncio.run(build(admin, layout, args.tenants)) for layout in ("ten types", "shared", "per type")]
        for r in rows:
            r["startup_s"] = (startup_s(r["dsn"]) if r["layout"] == "shared" else
                              startup_s(r["dsn"], worktree(BEFORE)) if r["layout"] == "ten types" else None)
    finally:
        cluster.stop()
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tenants": args.tenants,
            "machine": machine()}
    text = report(rows, meta)
    print(text)
    if not args.scratch:
        (RESULTS / "catalog.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
        (RESULTS / "catalog.md").write_text(text)


if __name__ == "__main__":
    main()
