"""Migration 0003 is what mappings/ddl/search_tables.py generates: a catalog change that
would alter the side tables shows up here (and goes into a new migration, since 0003 is
released and applied migrations are immutable)."""

from pathlib import Path

import pytest

from mappings.ddl import generic_tables
from mappings.ddl.search_tables import generate

MIGRATION = Path(__file__).resolve().parents[2] / "mappings" / "ddl" / "0003_search_index.sql"


def test_migration_0003_is_the_generators_output():
    assert generate() == MIGRATION.read_text()


def test_migration_0009_is_the_generators_output():
    assert generic_tables.generate() == (MIGRATION.parent / "0009_generic_storage.sql").read_text()


def test_a_later_generation_goes_out_as_the_statements_it_adds():
    """A new generic type (or kind) is a migration of its own statements; a changed or removed
    statement is refused, to be written by hand as an ALTER or DROP."""
    old = generic_tables.statements()
    new = old[:10] + ["CREATE VIEW made_ups ..."] + old[10:]
    assert generic_tables.delta(old, new) == ["CREATE VIEW made_ups ..."]
    assert generic_tables.delta(old, old) == []
    with pytest.raises(ValueError, match="by hand"):
        generic_tables.delta(old, old[1:])
