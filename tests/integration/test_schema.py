"""The schema's rules, checked against the live catalog after migrations."""

from __future__ import annotations

import asyncpg
import pytest

from fhirserver.db.migrate import available, migrate
from mappings import MAPPINGS, SEED, SUPPORT_TABLES
from mappings.bindings import BY_TYPE, COMMON


class _Rollback(Exception):
    pass


# Small tables Citus would replicate to every node (reference tables), not shard by org_id.
REFERENCE_TABLES = {"tenants", "schema_migrations", "fhir_side_tables", "fhir_index_state"}


async def test_every_primary_key_and_unique_index_includes_org_id(owner):
    """Citus distributes by org_id only if every unique constraint contains it."""
    rows = await owner.fetch("""
        SELECT c.relname AS table_name, i.relname AS index_name,
               array_agg(a.attname::text) AS columns
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(x.indkey)
        WHERE x.indisunique
        GROUP BY 1, 2""")
    assert len(rows) > 50   # parents and every partition
    offenders = [(r["table_name"], r["index_name"]) for r in rows
                 if "org_id" not in r["columns"] and r["table_name"] not in REFERENCE_TABLES]
    assert offenders == []


async def test_every_tenant_table_is_list_partitioned_by_org_id_with_rls(owner):
    rows = await owner.fetch("""
        SELECT c.relname, pg_get_partkeydef(c.oid) AS key, c.relrowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition""")
    tables = {r["relname"]: r for r in rows}
    assert set(tables) - REFERENCE_TABLES == ({m.table for m in SEED.values()}
                                              | {m.history_table for m in SEED.values()}
                                              | set(SUPPORT_TABLES)
                                              | {r[0] for r in await owner.fetch("SELECT side FROM fhir_side_tables")})
    for name, r in tables.items():
        if name in REFERENCE_TABLES:
            continue
        assert r["key"] == "LIST (org_id)", name
        assert r["relrowsecurity"], name


async def test_every_index_of_a_resource_table_leads_with_a_column_a_search_reads(owner):
    """An index no search can use only costs every write (0008 dropped those the seed made):
    a resource table's indexes lead with its key, a bound column (mappings/bindings.py) or
    the MRN that makes a patient unique in its tenant."""
    bound = {t: {c for b in [*BY_TYPE[t].values(), *COMMON.values()] for c in _columns_of(b)} for t in BY_TYPE}
    rows = await owner.fetch("""
        SELECT t.relname AS table_name, i.relname AS index_name, a.attname AS lead
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid AND NOT t.relispartition
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]""")
    tables = {m.table: t for t, m in SEED.items()}
    checked = [r for r in rows if r["table_name"] in tables]
    assert len(checked) > 10
    unread = [(r["table_name"], r["index_name"]) for r in checked
              if r["lead"] not in {"org_id", "id", "part_ts", "last_updated", "mrn"} | bound[tables[r["table_name"]]]]
    assert unread == []


def _columns_of(b) -> set[str]:
    return {getattr(b, f) for f in ("column", "start", "end") if isinstance(getattr(b, f, None), str)}


async def test_time_partitioned_tables_split_by_month_of_part_ts(owner):
    for m in SEED.values():
        key = await owner.fetchval("SELECT pg_get_partkeydef($1::regclass)", f"{m.table}_o1")
        assert key == ("RANGE (part_ts)" if m.time_partitioned else None), m.table


async def test_mapping_columns_match_the_catalog(owner):
    """Every type's table or view has the shared columns and its mapping's bound ones (a
    generic type's view adds its resource_type)."""
    for m in MAPPINGS.values():
        rows = await owner.fetch("""
            SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""", m.table)
        catalog = {r["attname"]: r["type"] for r in rows}
        fixed = {"org_id": "integer", "id": "text", "version_id": "integer", "verb": "\"char\"",
                 "last_updated": "timestamp with time zone", "resource": "text"}
        if m.time_partitioned:
            fixed["part_ts"] = "timestamp with time zone"
        if m.storage:
            fixed["resource_type"] = "text"
        declared = {c.name: {"timestamptz": "timestamp with time zone"}.get(c.sql_type, c.sql_type)
                    for c in m.columns}
        assert catalog == {**fixed, **declared}, m.table


async def test_a_second_migrate_is_a_no_op(dsn):
    conn = await asyncpg.connect(dsn)
    try:
        assert await migrate(conn) == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in versions] == [m.version for m in available()]
    finally:
        await conn.close()


async def test_a_changed_migration_is_refused(dsn):
    conn = await asyncpg.connect(dsn)
    real = await conn.fetchval("SELECT checksum FROM schema_migrations WHERE version = 1")
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(RuntimeError, match="changed after it was applied"):
            await migrate(conn)
    finally:
        await conn.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 1", real)
        await conn.close()


async def test_string_side_tables_keep_their_statistics_target_on_every_partition(owner):
    """Migration 0005: `norm` has 1000 histogram entries on every partition, including those
    created after the migration (tenants and months made by the suite)."""
    rows = await owner.fetch("""
        SELECT c.relname, a.attstattarget FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'norm'
        WHERE c.relname ~ '_str(_o[0-9]+.*)?$' AND c.relkind IN ('r', 'p')""")
    leaves = [r for r in rows if r["relname"].count("_o") and r["relname"].rsplit("_o", 1)[-1][:1].isdigit()]
    assert len(leaves) > 10
    assert {r["attstattarget"] for r in rows} == {1000}, [r for r in rows if r["attstattarget"] != 1000][:5]


async def test_generic_types_are_views_that_keep_rows_to_their_type(owner):
    """A generic type's views read only its rows, and refuse a row of another type, so a
    statement written for one type cannot touch another's (mappings/generic.py)."""
    views = {r[0]: r[1] for r in await owner.fetch(
        "SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relkind = 'v' "
        "AND c.relnamespace = 'public'::regnamespace")}
    for m in MAPPINGS.values():
        if m.storage:
            assert "security_invoker=true" in views[m.table] and m.history_table in views, m.table
    with pytest.raises(_Rollback):
        async with owner.transaction():
            await owner.execute("INSERT INTO conditions (org_id, id, version_id, verb, last_updated, resource) "
                                "VALUES (1, 'v-1', 1, 'c', now(), '{}')")
            assert await owner.fetchval("SELECT resource_type FROM resources WHERE org_id = 1 AND id = 'v-1'") == \
                "Condition"
            assert await owner.fetchval("SELECT count(*) FROM procedures WHERE org_id = 1 AND id = 'v-1'") == 0
            with pytest.raises(asyncpg.WithCheckOptionViolationError):
                await owner.execute("INSERT INTO conditions (resource_type, org_id, id, version_id, verb, "
                                    "last_updated, resource) VALUES ('Procedure', 1, 'v-2', 1, 'c', now(), '{}')")
            raise _Rollback
