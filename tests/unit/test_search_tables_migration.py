"""Migration 0003 is what mappings/ddl/search_tables.py generates: a catalog change that
would alter the side tables shows up here (and goes into a new migration, since 0003 is
released and applied migrations are immutable)."""

from pathlib import Path

from mappings.ddl.search_tables import generate

MIGRATION = Path(__file__).resolve().parents[2] / "mappings" / "ddl" / "0003_search_index.sql"


def test_migration_0003_is_the_generators_output():
    assert generate() == MIGRATION.read_text()
