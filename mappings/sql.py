"""The SQL text of every storage statement, generated once per mapping.

Only `$n` placeholders appear; table and column names come from the mapping
declarations, never from a request. Statements for one type differ only by
shape, so asyncpg's prepared-statement cache holds a fixed, small set.

Parameter conventions: $1 org_id, $2 id; time-partitioned statements take the
month bounds [$3, $4) of the partition that holds the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from mappings.base import ResourceMapping
from mappings.generic import STORAGE
from searchparams import catalog
from searchparams.kinds import BY_SUFFIX


@dataclass(frozen=True, slots=True)
class Statements:
    insert: str          # the row and its references, one round trip
    update: str          # archive the current row, diff the references, update: one round trip
    delete: str          # archive, write the delete marker, drop references, delete: one round trip
    locate: str          # version_id, last_updated, part_ts (NULL if untimed) [+ FOR UPDATE]
    locate_for_update: str
    locate_key_share: str
    read: str            # version_id, last_updated, resource
    reindex: str         # rewrite the hot columns and side rows of the current version in place
    refile: str          # time-partitioned: move the row to part_ts $4, dropping its side rows
    history_latest: str  # version_id, deleted, last_updated of the newest history row
    history_version: str
    instance_history: str
    type_history: str
    type_history_of: str        # type_history limited to the ids in $7 (a confined caller's)


def _bounds(m: ResourceMapping, first: int) -> str:
    return f" AND part_ts >= ${first} AND part_ts < ${first + 1}" if m.time_partitioned else ""


def _side_inserts(m: ResourceMapping, first: int, part: str) -> tuple[list[str], int]:
    """One CTE per side table inserting its rows from column arrays starting at $first."""
    ctes, n = [], first
    for kind in catalog.tables(m.resource_type):
        cols = BY_SUFFIX[kind].columns
        arrays = ", ".join(f"${n + i}::{sql}[]" for i, (_, sql) in enumerate(cols))
        head = "org_id, part_ts, id" if m.time_partitioned else "org_id, id"
        values = f"$1, {part}, $2" if m.time_partitioned else "$1, $2"
        names = ", ".join(name for name, _ in cols)
        ctes.append(f"ins_{kind} AS (INSERT INTO {m.side_table(kind)} ({head}, {names}) "
                    f"SELECT {values}, * FROM unnest({arrays}))")
        n += len(cols)
    return ctes, n


def _side_deletes(m: ResourceMapping) -> list[str]:
    where = f"org_id = $1 AND id = $2{_bounds(m, 3)}"
    return [f"del_{kind} AS (DELETE FROM {m.side_table(kind)} WHERE {where})"
            for kind in catalog.tables(m.resource_type)]


def _refs_insert(m: ResourceMapping, a: int) -> str:
    return ("INSERT INTO resource_refs (org_id, source_type, source_id, target_type, target_id) "
            f"SELECT $1, '{m.resource_type}', $2, t, i FROM unnest(${a}::text[], ${a + 1}::text[]) AS x(t, i) "
            "ON CONFLICT DO NOTHING")


def _refs_prune(m: ResourceMapping, a: int) -> str:
    """Drop the references the new version no longer has; kept ones stay (the insert skips them)."""
    return (f"DELETE FROM resource_refs WHERE org_id = $1 AND source_type = '{m.resource_type}' "
            f"AND source_id = $2 AND (target_type, target_id) NOT IN "
            f"(SELECT * FROM unnest(${a}::text[], ${a + 1}::text[]))")


@cache
def statements(m: ResourceMapping) -> Statements:
    """Parameter layouts:
    insert: $1 org, $2 id, [part_ts], version_id, verb, last_updated, resource, columns..., ref types, ref ids,
            then one array per side-table column (searchparams.kinds, in catalog.tables order)
    update: $1 org, $2 id, [$3, $4 month of the current row], then the insert's values from part_ts on
    delete: $1 org, $2 id, [$3, $4], then the delete marker's version_id and last_updated
    verb: 'c' POST create, 'n' created by PUT, 'u' PUT update, 'p' patch, 'd' delete marker
    """
    t, h = m.table, m.history_table
    timed = m.time_partitioned
    fixed = ["org_id", "id"] + (["part_ts"] if timed else []) + ["version_id", "verb", "last_updated", "resource"]
    cols = fixed + list(m.column_names)
    n = len(cols)
    where = f"org_id = $1 AND id = $2{_bounds(m, 3)}"
    part = "part_ts" if timed else "NULL::timestamptz"
    archive = (f"INSERT INTO {h} (org_id, id, version_id, verb, part_ts, last_updated, resource) "
               f"SELECT org_id, id, version_id, verb, {part}, last_updated, resource FROM {t} WHERE {where}")
    values = ", ".join(f"${i}" for i in range(1, n + 1))
    sides, _ = _side_inserts(m, n + 3, "$3")
    insert = (f"WITH {', '.join([f'refs AS ({_refs_insert(m, n + 1)})'] + sides)} "
              f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({values})")
    first = 5 if timed else 3
    sets = ", ".join(f"{c} = ${first + i}" for i, c in enumerate(cols[2:]))
    a = first + n - 2
    sides, _ = _side_inserts(m, a + 2, f"${first}")
    ctes = [f"arch AS ({archive})", f"pruned AS ({_refs_prune(m, a)})", f"refs AS ({_refs_insert(m, a)})",
            *_side_deletes(m), *sides]
    update = f"WITH {', '.join(ctes)} UPDATE {t} SET {sets} WHERE {where}"
    v = first
    delete = (f"WITH arch AS ({archive}), "
              f"mark AS (INSERT INTO {h} (org_id, id, version_id, verb, part_ts, last_updated) "
              f"SELECT org_id, id, ${v}, 'd', {part}, ${v + 1} FROM {t} WHERE {where}), "
              f"refs AS (DELETE FROM resource_refs WHERE org_id = $1 AND source_type = '{m.resource_type}' "
              f"AND source_id = $2)" + "".join(f", {d}" for d in _side_deletes(m)) +
              f" DELETE FROM {t} WHERE {where}")
    locate = f"SELECT version_id, last_updated, {part} AS part_ts FROM {t} WHERE {where}"
    # reindex: $1 org, $2 id, [$3 part_ts], then the columns, then the side arrays
    exact = f"org_id = $1 AND id = $2{' AND part_ts = $3' if timed else ''}"
    first = 4 if timed else 3
    col_sets = ", ".join(f"{c} = ${first + i}" for i, c in enumerate(m.column_names))
    side_ins, _ = _side_inserts(m, first + len(m.column_names), "$3")
    side_del = [f"del_{k} AS (DELETE FROM {m.side_table(k)} WHERE {exact})" for k in catalog.tables(m.resource_type)]
    # A type with no bound columns (every generic type) rewrites its side rows only.
    rewrite = f"UPDATE {t} SET {col_sets} WHERE {exact}" if col_sets else "SELECT 1"
    reindex = f"WITH {', '.join(side_del + side_ins)} {rewrite}"
    # refile: $1 org, $2 id, $3 part_ts, $4 the new part_ts; reindex then writes the side rows there
    refile = f"WITH {', '.join(side_del)} UPDATE {t} SET part_ts = $4 WHERE {exact}" if timed else ""
    return Statements(
        reindex=reindex,
        refile=refile,
        insert=insert,
        update=update,
        delete=delete,
        locate=locate,
        locate_for_update=locate + " FOR UPDATE",
        locate_key_share=locate + " FOR KEY SHARE",
        read=f"SELECT version_id, last_updated, resource, verb FROM {t} WHERE {where}",
        history_latest=(f"SELECT version_id, verb = 'd' AS deleted, last_updated FROM {h} "
                        "WHERE org_id = $1 AND id = $2 ORDER BY version_id DESC LIMIT 1"),
        history_version=(f"SELECT verb, last_updated, resource FROM {h} "
                         "WHERE org_id = $1 AND id = $2 AND version_id = $3"),
        # $3: versions below this (exclusive); $4: _since; $5: limit
        instance_history=(f"SELECT id, version_id, last_updated, verb, resource FROM {h} "
                          "WHERE org_id = $1 AND id = $2 AND version_id < $3 AND last_updated >= $4 "
                          "ORDER BY version_id DESC LIMIT $5"),
        # $2: _since; ($3, $4, $5): keyset (last_updated, id, version_id) to continue below; $6: limit
        type_history=(
            "SELECT id, version_id, last_updated, verb, resource FROM ("
            f"SELECT id, version_id, last_updated, verb, resource FROM {t} "
            "WHERE org_id = $1 AND last_updated >= $2 AND (last_updated, id, version_id) < ($3, $4, $5) "
            "UNION ALL "
            f"SELECT id, version_id, last_updated, verb, resource FROM {h} "
            "WHERE org_id = $1 AND last_updated >= $2 AND (last_updated, id, version_id) < ($3, $4, $5)"
            ") v ORDER BY last_updated DESC, id DESC, version_id DESC LIMIT $6"),
        type_history_of=(
            "SELECT id, version_id, last_updated, verb, resource FROM ("
            f"SELECT id, version_id, last_updated, verb, resource FROM {t} "
            "WHERE org_id = $1 AND id = ANY($7::text[]) AND last_updated >= $2 "
            "AND (last_updated, id, version_id) < ($3, $4, $5) "
            "UNION ALL "
            f"SELECT id, version_id, last_updated, verb, resource FROM {h} "
            "WHERE org_id = $1 AND id = ANY($7::text[]) AND last_updated >= $2 "
            "AND (last_updated, id, version_id) < ($3, $4, $5)"
            ") v ORDER BY last_updated DESC, id DESC, version_id DESC LIMIT $6"),
    )


DIRECTORY_LOOKUP = "SELECT part_ts FROM id_directory WHERE org_id = $1 AND resource_type = $2 AND id = $3"
# Claims the id: a second creator of the same id waits here until the first commits.
DIRECTORY_CLAIM = ("INSERT INTO id_directory (org_id, resource_type, id, part_ts) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (org_id, resource_type, id) DO UPDATE SET part_ts = id_directory.part_ts")
DIRECTORY_SET = ("INSERT INTO id_directory (org_id, resource_type, id, part_ts) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (org_id, resource_type, id) DO UPDATE SET part_ts = EXCLUDED.part_ts")
DIRECTORY_FIND = "SELECT id FROM id_directory WHERE org_id = $1 AND resource_type = $2 AND id = ANY($3)"
DIRECTORY_REMOVE = "DELETE FROM id_directory WHERE org_id = $1 AND resource_type = $2 AND id = $3"
# The generic types a tenant holds current resources of: a loose index scan of the primary
# key, one probe per type held.
GENERIC_TYPES_HELD = ("WITH RECURSIVE t(type) AS ("
                      f"(SELECT resource_type FROM {STORAGE} WHERE org_id = $1 ORDER BY resource_type LIMIT 1) "
                      f"UNION ALL SELECT (SELECT resource_type FROM {STORAGE} WHERE org_id = $1 "
                      "AND resource_type > t.type ORDER BY resource_type LIMIT 1) FROM t WHERE t.type IS NOT NULL) "
                      "SELECT type FROM t WHERE type IS NOT NULL")
# What some resources refer to ($1 org, $2 their types, $3 their ids), by the primary key.
REFS_TARGETS = ("SELECT DISTINCT target_type, target_id FROM resource_refs WHERE org_id = $1 "
                "AND (source_type, source_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))")
# What refers to a resource, from the index alone (resource_refs_target_source, 0010).
REFS_SOURCES = ("SELECT source_type, source_id FROM resource_refs "
                "WHERE org_id = $1 AND target_type = $2 AND target_id = $3")
# A loose index scan: one probe per distinct type, not one row per reference (a large
# record has thousands of references to its patient, from a dozen types).
REFS_SOURCE_TYPES = ("WITH RECURSIVE t(type) AS ("
                     "(SELECT source_type FROM resource_refs WHERE org_id = $1 AND target_type = $2 "
                     "AND target_id = $3 ORDER BY source_type LIMIT 1) UNION ALL "
                     "SELECT (SELECT source_type FROM resource_refs WHERE org_id = $1 AND target_type = $2 "
                     "AND target_id = $3 AND source_type > t.type ORDER BY source_type LIMIT 1) FROM t "
                     "WHERE t.type IS NOT NULL) SELECT type FROM t WHERE type IS NOT NULL")
REFS_INCOMING = ("SELECT source_type, source_id FROM resource_refs "
                 "WHERE org_id = $1 AND target_type = $2 AND target_id = $3 "
                 "AND NOT (source_type = $2 AND source_id = $3) ORDER BY 1, 2 LIMIT 10")

# The history of many generic types at once, from their shared tables (system history):
# $1 org, $2 types, $3 _since, ($4, $5, $6, $7) keyset (last_updated, type, id, version_id)
# to continue below, $8 limit. Newest first, types descending within a moment, as the
# system history orders every type.
_SHARED_BRANCH = ("SELECT resource_type, id, version_id, last_updated, verb, resource FROM {t} "
                  "WHERE org_id = $1 AND resource_type = ANY($2::text[]) AND last_updated >= $3 "
                  "AND (last_updated, resource_type, id, version_id) < ($4, $5, $6, $7)")
SHARED_HISTORY = (f"SELECT * FROM ({_SHARED_BRANCH.format(t=STORAGE)} UNION ALL "
                  f"{_SHARED_BRANCH.format(t=STORAGE + '_history')}) v "
                  "ORDER BY last_updated DESC, resource_type DESC, id DESC, version_id DESC LIMIT $8")
