"""Generates migration 0009: the shared tables of every non-seed R4 type and a view set per type.

Run `python -m mappings.ddl.generic_tables > mappings/ddl/0009_generic_storage.sql`; a test
fails when the checked-in file differs from what this prints. The layout and why it is
shared are in mappings/generic.py. Once 0009 is released, a change here (a new kind, a new
type) goes out as a new migration holding only the difference: `delta(old, new)` below
writes it from the statements of two generations.

Every key leads with (org_id, resource_type): a tenant's partition holds all its generic
types, and an index probe for one type reads that type's entries only. The views carry
`security_invoker`, so the row-level security of the shared tables applies to the caller,
not to the view's owner (who bypasses it).
"""

from __future__ import annotations

import sys

from mappings import MAPPINGS
from mappings.generic import STORAGE
from searchparams import catalog
from searchparams.kinds import TABLES, SideTable

_C = ' COLLATE "C"'
_RLS = ("org_id = nullif(current_setting('fhir.org_id', true), '')::integer")
HEAD = f'org_id integer NOT NULL, resource_type text{_C} NOT NULL, id text{_C} NOT NULL'
MAIN = ['version_id integer NOT NULL', 'verb "char" NOT NULL', 'last_updated timestamptz NOT NULL']


def _column(table: SideTable, name: str, sql: str) -> str:
    collate = _C if sql == "text" and name not in table.natural else ""
    return f"{name} {sql}{collate}{' NOT NULL' if name in table.required else ''}"


def _shared_index(spec: str) -> str:
    """A kind's index on the shared table: led by the type where it is a btree on `param`."""
    return spec.replace("(param", "(resource_type, param", 1).format(key="id")


def _secure(table: str) -> list[str]:
    return [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO fhir_app;",
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;",
            f"CREATE POLICY tenant_isolation ON {table} USING ({_RLS}) WITH CHECK ({_RLS});"]


def shared_tables() -> list[str]:
    h = f"{STORAGE}_history"
    out = [f"CREATE TABLE {STORAGE} ({HEAD}, {', '.join(MAIN)}, resource text NOT NULL, "
           f"PRIMARY KEY (org_id, resource_type, id)) PARTITION BY LIST (org_id);",
           f"CREATE INDEX ON {STORAGE} (resource_type, last_updated);",
           f"CREATE INDEX ON {STORAGE} (last_updated);",
           *_secure(STORAGE),
           f"CREATE TABLE {h} ({HEAD}, {', '.join(MAIN)}, part_ts timestamptz, resource text, "
           f"PRIMARY KEY (org_id, resource_type, id, version_id)) PARTITION BY LIST (org_id);",
           f"CREATE INDEX ON {h} (resource_type, last_updated);",
           f"CREATE INDEX ON {h} (last_updated);",
           *_secure(h)]
    for table in TABLES:
        side = f"{STORAGE}_{table.suffix}"
        cols = ", ".join(_column(table, name, sql) for name, sql in table.columns)
        out.append(f"CREATE TABLE {side} ({HEAD}, {cols}) PARTITION BY LIST (org_id);")
        out += [f"CREATE INDEX ON {side} {_shared_index(spec)};" for spec in table.indexes]
        out.append(f"CREATE INDEX ON {side} (resource_type, id);")
        if table.suffix == "str":   # as 0005 gives the seed's: stable LIKE '%..%' estimates
            out.append(f"ALTER TABLE {side} ALTER COLUMN norm SET STATISTICS 1000;")
        out.append(f"INSERT INTO fhir_side_tables VALUES ('{STORAGE}', '{side}');")
        out += _secure(side)
    return out


def _view(name: str, source: str, resource_type: str, columns: list[str]) -> list[str]:
    return [f"CREATE VIEW {name} WITH (security_invoker = true) AS SELECT resource_type, "
            f"{', '.join(columns)} FROM {source} WHERE resource_type = '{resource_type}' WITH LOCAL CHECK OPTION;",
            f"ALTER VIEW {name} ALTER COLUMN resource_type SET DEFAULT '{resource_type}';"]


def type_views() -> list[str]:
    """The views of every generic type: its table, its history and the side tables it uses."""
    kinds = {t.suffix: t for t in TABLES}
    out = []
    for t, m in sorted(MAPPINGS.items()):
        if m.storage != STORAGE:
            continue
        names = [m.table, m.history_table]
        out += _view(m.table, STORAGE, t, ["org_id", "id", "version_id", "verb", "last_updated", "resource"])
        out += _view(m.history_table, f"{STORAGE}_history", t,
                     ["org_id", "id", "version_id", "verb", "part_ts", "last_updated", "resource"])
        for suffix in catalog.tables(t):
            names.append(m.side_table(suffix))
            out += _view(names[-1], f"{STORAGE}_{suffix}", t, ["org_id", "id", *kinds[suffix].names])
        out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(names)} TO fhir_app;")
    return out


EXISTING_TENANTS = f"""-- Existing tenants get their partitions of the shared tables.
DO $$
DECLARE o integer; t text;
BEGIN
  FOR o IN SELECT org_id FROM tenants LOOP
    FOREACH t IN ARRAY ARRAY['{STORAGE}', '{STORAGE}_history'] || ARRAY(
        SELECT side FROM fhir_side_tables WHERE parent = '{STORAGE}' ORDER BY side) LOOP
      PERFORM fhir_create_org_partition(t, o, false);
    END LOOP;
  END LOOP;
END $$;"""


def statements() -> list[str]:
    return shared_tables() + type_views()


def delta(old: list[str], new: list[str]) -> list[str]:
    """The statements of `new` that `old` lacks, in `new`'s order: what a later generation adds.
    A statement that changed, or one `new` no longer has, needs a hand-written step (ALTER,
    DROP): refused here rather than guessed."""
    gone = [s for s in old if s not in set(new)]
    if gone:
        raise ValueError("statements changed or removed; write that step by hand:\n" + "\n".join(gone))
    have = set(old)
    return [s for s in new if s not in have]


def generate() -> str:
    lines = ["-- 0009: shared storage for every R4 type without a table of its own, and a set of",
             "-- updatable views per type (GENERATED by mappings/ddl/generic_tables.py; do not edit).",
             "", *statements(), "", EXISTING_TENANTS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
