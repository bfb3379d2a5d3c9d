"""The statements of `_include` and `_revinclude`: one round of following references from
(or to) the resources found so far. Each round's ids come from the previous round's rows,
so the rounds run one after another (searchparams/pipeline.py); each statement is built
here like every other one, values only as `$n`.

A reference a mapping binds to a column is read from that column; any other from the
type's reference side table (`<table>_ref`), matched on the month too where the type is
month-partitioned, so its partitions are paired.

Rows of a month-partitioned type are looked up by id in their own month (`rows_by_id`): the
month a server id names, or the id directory's for the others, as a read by id finds them.
`id = ANY(ids)` alone probes every month partition of the tenant for every id: on five years
of observations, 60 index probes where one does.
"""

from __future__ import annotations

from fhirserver import ids as server_ids
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.bindings import Ref, binding
from searchparams import ast
from searchparams.sqlgen.params import Params
from searchparams.sqlgen.select import Compiled


def rows_by_id(m: ResourceMapping, alias: str, ids: list[str], org: str, p: Params) -> tuple[str, str]:
    """(FROM item, condition) selecting the rows `alias` of `m` whose ids are `ids`; for a
    month-partitioned type each id probes its own month (PostgreSQL prunes the partitions
    per id, at run time)."""
    if not m.time_partitioned:
        return f"{m.table} {alias}", f"{alias}.org_id = {org} AND {alias}.id = ANY({p.add(ids)})"
    months = [server_ids.month_of(i) for i in ids]
    starts = [server_ids.month_start(n) if n is not None else None for n in months]
    source = (f"unnest({p.add(ids)}::text[], {p.add(starts)}::timestamptz[]) u(id, named) "
              f"LEFT JOIN id_directory d ON d.org_id = {org} AND d.resource_type = {p.add(m.resource_type)} "
              f"AND d.id = u.id CROSS JOIN LATERAL (SELECT coalesce(d.part_ts, u.named) AS lo) w "
              f"JOIN {m.table} {alias} ON {alias}.org_id = {org} AND {alias}.id = u.id "
              f"AND {alias}.part_ts >= w.lo AND {alias}.part_ts < w.lo + interval '1 month'")
    return source, "true"


def side_refs(m: ResourceMapping, codes, org: str, p: Params) -> tuple[list[tuple[str, str]], str | None]:
    """Where the reference parameters `codes` of the rows `a` of `m` are: (code, column) of those
    a mapping binds to a column, and the condition on the side rows `s` of the others (None
    if there are none)."""
    bound, side = [], []
    for code in dict.fromkeys(codes):
        b = binding(m.resource_type, code)
        if isinstance(b, Ref):
            bound.append((code, b.column))
        else:
            side.append(code)
    if not side:
        return bound, None
    month = " AND s.part_ts = a.part_ts" if m.time_partitioned else ""
    return bound, f"s.org_id = {org} AND s.id = a.id{month} AND s.param = ANY({p.add(side)})"


def references_from_all(incs: list[ast.Include], ids: list[str], org_id: int) -> Compiled:
    """(parameter, "Type/id") of the references of several forward includes of one source
    type, in one statement: `Observation:*` names a dozen parameters, and one statement per
    parameter was a round trip each."""
    source = MAPPINGS[incs[0].source_type]
    p = Params()
    org = p.add(org_id)
    rows, where = rows_by_id(source, "a", ids, org, p)
    bound, side = side_refs(source, [inc.code for inc in incs], org, p)
    branches = [f"SELECT {p.add(code)}::text, a.{column}" for code, column in bound]
    if side:
        branches.append(f"SELECT s.param, s.target FROM {source.side_table('ref')} s WHERE {side}")
    # Each row is found once, then unpivoted: its bound columns and its side rows.
    return Compiled(f"SELECT v.param, v.target FROM {rows} CROSS JOIN LATERAL ({' UNION ALL '.join(branches)}) "
                    f"v(param, target) WHERE {where} AND v.target IS NOT NULL", tuple(p.values),
                    generic=source.time_partitioned)


def referring(inc: ast.Include, targets: list[str], org_id: int, limit: int) -> Compiled:
    """(id, resource) of `inc`'s source resources that refer to any of `targets` ("Type/id")
    through its reference, in id order, at most `limit` (reverse include)."""
    source = MAPPINGS[inc.source_type]
    b = binding(source.resource_type, inc.code)
    p = Params()
    org, wanted, most = p.add(org_id), p.add(targets), p.add(limit)
    if isinstance(b, Ref):
        return Compiled(f"SELECT id, resource FROM {source.table} WHERE org_id = {org} "
                        f"AND {b.column} = ANY({wanted}) ORDER BY id LIMIT {most}", tuple(p.values))
    month = " AND s.part_ts = a.part_ts" if source.time_partitioned else ""
    return Compiled(f"SELECT a.id, a.resource FROM {source.table} a WHERE a.org_id = {org} AND EXISTS ("
                    f"SELECT 1 FROM {source.side_table('ref')} s WHERE s.org_id = {org} AND s.id = a.id{month} "
                    f"AND s.param = {p.add(inc.code)} AND s.target = ANY({wanted})) ORDER BY a.id LIMIT {most}",
                    tuple(p.values))


def by_id(m: ResourceMapping, ids: list[str], org_id: int) -> Compiled:
    """(id, resource) of the resources `ids` of type `m`, in id order (forward include's targets)."""
    p = Params()
    rows, where = rows_by_id(m, "a", ids, p.add(org_id), p)
    return Compiled(f"SELECT a.id, a.resource FROM {rows} WHERE {where} ORDER BY a.id", tuple(p.values),
                    generic=m.time_partitioned)
