"""The statements of `_include` and `_revinclude`: one round of following references from
(or to) the resources found so far. Each round's ids come from the previous round's rows,
so the rounds run one after another (searchparams/pipeline.py); each statement is built
here like every other one, values only as `$n`.

A reference a mapping binds to a column is read from that column; any other from the
type's reference side table (`<table>_ref`), matched on the month too where the type is
month-partitioned, so its partitions are paired.
"""

from __future__ import annotations

from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.bindings import Ref, binding
from searchparams import ast
from searchparams.sqlgen.params import Params
from searchparams.sqlgen.select import Compiled


def references_from(inc: ast.Include, ids: list[str], org_id: int) -> Compiled:
    """The "Type/id" values of `inc`'s reference in the source resources `ids` (forward include)."""
    source = MAPPINGS[inc.source_type]
    b = binding(source.resource_type, inc.code)
    p = Params()
    org, wanted = p.add(org_id), p.add(ids)
    if isinstance(b, Ref):
        return Compiled(f"SELECT {b.column} FROM {source.table} WHERE org_id = {org} AND id = ANY({wanted}) "
                        f"AND {b.column} IS NOT NULL", tuple(p.values))
    return Compiled(f"SELECT target FROM {source.table}_ref WHERE org_id = {org} AND id = ANY({wanted}) "
                    f"AND param = {p.add(inc.code)}", tuple(p.values))


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
                    f"SELECT 1 FROM {source.table}_ref s WHERE s.org_id = {org} AND s.id = a.id{month} "
                    f"AND s.param = {p.add(inc.code)} AND s.target = ANY({wanted})) ORDER BY a.id LIMIT {most}",
                    tuple(p.values))


def by_id(m: ResourceMapping, ids: list[str], org_id: int) -> Compiled:
    """(id, resource) of the resources `ids` of type `m`, in id order (forward include's targets)."""
    p = Params()
    return Compiled(f"SELECT id, resource FROM {m.table} WHERE org_id = {p.add(org_id)} "
                    f"AND id = ANY({p.add(ids)}) ORDER BY id", tuple(p.values))
