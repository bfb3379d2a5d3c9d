"""Whole statements: a page of matches (sorted, keyset-paged), a count, the ids of matches.

Sort keys (`_sort`) become columns of an inner select; the page continues after the
cursor's key values with a keyset predicate, never OFFSET, so rows inserted while a
client pages through cannot shift or repeat results. NULL sort values come last in
both directions; the resource id breaks ties.

Without `_sort`, a month-partitioned table is paged in (part_ts, id) order, one month
partition at a time (`_month_walk`; why: searchparams/plan.py, which decides it).
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.base import ResourceMapping
from mappings.bindings import Code, DateRange, Ref, Tokens, binding
from searchparams import ast, catalog
from searchparams.plan import Plan
from searchparams.sqlgen.filters import Scope, condition, driving_rows
from searchparams.sqlgen.params import Aliases, Params

ALIAS = "a0"


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    params: tuple
    sort_width: int = 0      # how many sort-key columns follow (id, resource) in each row
    plan: Plan | None = None
    # Run on a cached generic plan (fhirserver/db/tenancy.generic_plans): lookups by id in
    # their own months prune month partitions at run time, and planning every month
    # partition afresh for a handful of ids cost more than running the statement.
    generic: bool = False


def _where(m: ResourceMapping, search: ast.Search, plan: Plan, p: Params, skip: int | None = None
           ) -> tuple[str, Scope]:
    """The WHERE of the searched table (every filter but the `skip`th) and its scope."""
    org = p.add(plan.org_id)
    conditions = [f"{ALIAS}.org_id = {org}"]
    lo, hi = plan.bounds
    lo_p = p.add(lo) if lo is not None else None
    hi_p = p.add(hi) if hi is not None else None
    if lo_p:
        conditions.append(f"{ALIAS}.part_ts >= {lo_p}")
    if hi_p:
        conditions.append(f"{ALIAS}.part_ts < {hi_p}")
    scope = Scope(m, ALIAS, org, p, Aliases(), (lo_p, hi_p))
    conditions += [condition(f, scope) for i, f in enumerate(search.filters) if i != skip]
    return " AND ".join(conditions), scope


def _sort_expression(m: ResourceMapping, key: ast.SortKey, org: str, p: Params) -> str:
    """One sort key: the bound column, or the lowest (ascending) / highest (descending) indexed value."""
    if key.code == "_id":
        return f"{ALIAS}.id"
    b = binding(m.resource_type, key.code)
    if isinstance(b, (Code, Ref)):
        return f"{ALIAS}.{b.column}"
    if isinstance(b, DateRange):
        return f"{ALIAS}.{b.end if key.descending else b.start}"
    if isinstance(b, Tokens) and catalog.column_only(m.resource_type, key.code):   # the codes: its "*|code" strings
        return (f"(SELECT {'max' if key.descending else 'min'}(substr(t, 3)) FROM unnest({ALIAS}.{b.column}) t "
                f"WHERE starts_with(t, '*|'))")
    kind = catalog.supported(m.resource_type)[key.code].kind
    low, high = kind.sort_columns
    agg = f"max(s.{high})" if key.descending else f"min(s.{low})"
    part = f" AND s.part_ts = {ALIAS}.part_ts" if m.time_partitioned else ""
    return (f"(SELECT {agg} FROM {m.side_table(kind.side.suffix)} s WHERE s.org_id = {org} AND s.id = {ALIAS}.id{part} "
            f"AND s.param = {p.add(key.code)})")


def _beyond(keys: list[tuple[str, bool]], cursor: list, p: Params, backward: bool) -> str:
    """Rows after (or, backward, before) the cursor in ORDER BY k1, ..., id (each ASC or DESC,
    NULLS LAST).

    The last key (id) is never NULL: its comparison stays a bare `id > $n`, which
    PostgreSQL can use as an index bound, so each page starts where the last ended
    instead of re-reading every earlier match."""
    alternatives = []
    for i, (expr, desc) in enumerate(keys):
        value = cursor[i]
        equal_before = [_equal(e, cursor[j], p) for j, (e, _) in enumerate(keys[:i])]
        if value is None:   # NULL sorts last in its column: everything non-NULL is before it
            if backward:
                alternatives.append("(" + " AND ".join(equal_before + [f"{expr} IS NOT NULL"]) + ")")
            continue
        beyond = f"{expr} {'<' if desc != backward else '>'} {p.add(value)}"
        if i < len(keys) - 1 and not backward:
            beyond = f"({beyond} OR {expr} IS NULL)"
        alternatives.append("(" + " AND ".join(equal_before + [beyond]) + ")")
    return "(" + " OR ".join(alternatives) + ")" if alternatives else "false"


def _equal(expr: str, value: object, p: Params) -> str:
    return f"{expr} IS NULL" if value is None else f"{expr} = {p.add(value)}"


def compile_page(m: ResourceMapping, search: ast.Search, plan: Plan) -> Compiled:
    """(id, resource, k1.., kn) of the matches after the plan's cursor, in sort order, at most
    its limit; backward: those just before it, in reverse order (a previous page, read from its end)."""
    if plan.order == "months":
        return _month_walk(m, search, plan)
    p = Params()
    where, _ = _where(m, search, plan, p)
    keys = [(_sort_expression(m, k, "$1", p), k.descending) for k in search.sort]
    cols = "".join(f", {e} AS k{i}" for i, (e, _) in enumerate(keys))
    inner = f"SELECT {ALIAS}.id, {ALIAS}.resource{cols} FROM {m.table} {ALIAS} WHERE {where}"
    ordered = [(f"q.k{i}", desc) for i, (_, desc) in enumerate(keys)] + [("q.id", False)]
    nulls = "FIRST" if plan.backward else "LAST"
    order = ", ".join(f"{e}{' DESC' if d != plan.backward else ''} NULLS {nulls}" for e, d in ordered)
    sql = f"SELECT * FROM ({inner}) q"
    if plan.cursor is not None:
        sql += f" WHERE {_beyond(ordered, plan.cursor, p, plan.backward)}"
    sql += f" ORDER BY {order} LIMIT {p.add(plan.limit)}"
    return Compiled(sql, tuple(p.values), len(keys), plan)


def _month_walk(m: ResourceMapping, search: ast.Search, plan: Plan) -> Compiled:
    """(id, resource, part_ts) in (part_ts, id) order: a nested loop over the plan's month
    windows, each a LIMITed lateral subquery that run-time pruning confines to its own
    partition; the outer LIMIT stops the loop once the page is full. Backward: windows and
    rows in reverse."""
    p = Params()
    where, scope = _where(m, search, plan, p, skip=plan.driver)
    source = f"{m.table} {ALIAS}"
    if plan.driver is not None:
        rows = driving_rows(scope, search.filters[plan.driver], "w.lo", "w.hi")
        source = (f"({rows}) d JOIN {m.table} {ALIAS} ON {ALIAS}.org_id = {scope.org} "
                  f"AND {ALIAS}.part_ts = d.part_ts AND {ALIAS}.id = d.id")
    if plan.cursor is not None:
        where += (f" AND ({ALIAS}.part_ts, {ALIAS}.id) {'<' if plan.backward else '>'} "
                  f"({p.add(plan.cursor[0])}, {p.add(plan.cursor[1])})")
    n = p.add(plan.limit)
    desc = " DESC" if plan.backward else ""
    starts, ends = p.add([w[0] for w in plan.windows]), p.add([w[1] for w in plan.windows])
    windows = (f"(SELECT lo, hi, n FROM unnest({starts}::timestamptz[], {ends}::timestamptz[]) "
               f"WITH ORDINALITY AS w(lo, hi, n) ORDER BY n) w")
    month = (f"SELECT {ALIAS}.id, {ALIAS}.resource, {ALIAS}.part_ts AS k0 FROM {source} "
             f"WHERE {where} AND {ALIAS}.part_ts >= w.lo AND {ALIAS}.part_ts < w.hi "
             f"ORDER BY {ALIAS}.part_ts{desc}, {ALIAS}.id{desc} LIMIT {n}")
    sql = (f"SELECT r.* FROM {windows} CROSS JOIN LATERAL ({month}) r "
           f"ORDER BY w.n, r.k0{desc}, r.id{desc} LIMIT {n}")
    return Compiled(sql, tuple(p.values), 1, plan)


def compile_ids(m: ResourceMapping, search: ast.Search, plan: Plan) -> Compiled:
    """Ids of the matches in id order, at most the plan's limit (conditional interactions)."""
    p = Params()
    where, _ = _where(m, search, plan, p)
    return Compiled(f"SELECT {ALIAS}.id FROM {m.table} {ALIAS} WHERE {where} ORDER BY {ALIAS}.id "
                    f"LIMIT {p.add(plan.limit)}", tuple(p.values), plan=plan)


def compile_count(m: ResourceMapping, search: ast.Search, plan: Plan) -> Compiled:
    p = Params()
    where, _ = _where(m, search, plan, p)
    return Compiled(f"SELECT count(*) FROM {m.table} {ALIAS} WHERE {where}", tuple(p.values), plan=plan)
