"""Filters to SQL conditions on one aliased resource table.

A clause is answered from the resource table's own column when mappings/bindings.py
binds it (single-valued elements; B-tree friendly), otherwise by a semi-join on the
parameter's side table, on the condition its kind gives (searchparams/kinds). Side-table subqueries name the tenant
by parameter, so PostgreSQL prunes their partitions at plan time as it does the main
table's. Chains join through reference rows; _has is the reverse join.
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.bindings import Code, DateRange, Ref, Tokens, binding
from searchparams import ast, catalog
from searchparams.kinds import reference
from searchparams.kinds.base import any_of as _or
from searchparams.kinds.date import date_point, date_range
from searchparams.sqlgen.params import Aliases, Params


@dataclass
class Scope:
    m: ResourceMapping
    alias: str
    org: str          # placeholder of the tenant's org_id
    p: Params
    names: Aliases
    # part_ts bounds of the searched rows (placeholders), repeated on side tables so that
    # their month partitions are pruned too: PostgreSQL does not carry bounds across a join.
    bounds: tuple[str | None, str | None] = (None, None)

    def inner(self, m: ResourceMapping, alias: str) -> "Scope":
        return Scope(m, alias, self.org, self.p, self.names)


def _bounded(s: str, sc: Scope) -> str:
    """The searched rows' part_ts bounds, repeated on side-table alias `s`."""
    lo, hi = sc.bounds
    return (f" AND {s}.part_ts >= {lo}" if lo else "") + (f" AND {s}.part_ts < {hi}" if hi else "")


def _side(sc: Scope, suffix: str, param: str, body: str | None) -> str:
    """EXISTS a side row of `param` (satisfying `body`) for the scope's resource."""
    s = sc.names.next("s")
    join = f"{s}.org_id = {sc.org} AND {s}.id = {sc.alias}.id"
    if sc.m.time_partitioned:
        join += f" AND {s}.part_ts = {sc.alias}.part_ts" + _bounded(s, sc)
    cond = f" AND ({body.replace('{s}', s)})" if body else ""
    return (f"EXISTS (SELECT 1 FROM {sc.m.side_table(suffix)} {s} WHERE {join} "
            f"AND {s}.param = {sc.p.add(param)}{cond})")


def driving_rows(sc: Scope, c: ast.Clause, lo: str, hi: str) -> str:
    """(id, part_ts) of the rows whose side rows match reference clause `c` with part_ts in
    [lo, hi): what drives one window of a month walk (searchparams/plan.py). OFFSET 0 keeps
    PostgreSQL from flattening it back into a join it would order by the table's rows."""
    prm = catalog.supported(sc.m.resource_type)[c.code]
    s = sc.names.next("s")
    body = _or([prm.kind.match(prm, v, None, sc.p) for v in c.values]).replace("{s}", s)
    return (f"SELECT DISTINCT {s}.id, {s}.part_ts FROM {sc.m.side_table(prm.kind.side.suffix)} {s} "
            f"WHERE {s}.org_id = {sc.org} "
            f"AND {s}.param = {sc.p.add(prm.code)} AND ({body}){_bounded(s, sc)} AND {s}.part_ts >= {lo} "
            f"AND {s}.part_ts < {hi} OFFSET 0")


def _present(sc: Scope, b) -> str:
    a = sc.alias
    if isinstance(b, DateRange):
        return f"({a}.{b.start} IS NOT NULL OR {a}.{b.end} IS NOT NULL)"
    return f"{a}.{b.column} IS NOT NULL"


def _narrowed(sc: Scope, code: str) -> bool:
    """A reference parameter that selects only some targets of its element (`patient` of `subject`)."""
    prm = catalog.supported(sc.m.resource_type)[code]
    return prm.targets != prm.definition.targets


def _in(column: str, values: list[str], p: Params) -> str:
    """`column` is one of `values`. One value is a plain equality: a cached generic plan (chart
    lookups, searchparams/plan.py) estimates `= $n` from the column's statistics but guesses
    for `= ANY($n)`, and a bad guess scanned each month's primary key (10 ms against 1)."""
    if len(values) == 1:
        return f"{column} = {p.add(values[0], 'text')}"
    return f"{column} = ANY({p.add(values, 'text[]')})"


def _token_strings(values) -> list[str] | None:
    """The strings a Tokens column holds for each token value (mappings/extract.py), or None
    for a value it cannot answer (:text)."""
    out = []
    for v in values:
        if not isinstance(v, ast.Token):
            return None
        out.append(f"*|{v.code}" if v.system is None else f"{v.system}|{v.code or ''}")
    return out


def _tokens(sc: Scope, b: Tokens, c: ast.Clause, complete: bool) -> str | None:
    """A Tokens column answers system|code values (GIN, `&&`); a column-only one (`complete`)
    answers every form it holds, :not and :missing too. Otherwise the side table answers the
    other forms, which it keeps exact plans for."""
    col = f"{sc.alias}.{b.column}"
    if c.modifier == "missing" and complete:
        return f"{col} IS NULL" if c.values[0].missing else f"{col} IS NOT NULL"
    if not complete and (c.modifier is not None or any(not isinstance(v, ast.Token) or not v.system
                                                       or v.code is None or v.system == "*" for v in c.values)):
        return None   # "*|code" in the column means "any system": a system named "*" is the side table's
    strings = _token_strings(c.values)
    if strings is None or c.modifier not in (None, "not"):
        return None
    match = f"{col} && {sc.p.add(strings, 'text[]')}"
    return f"({col} IS NULL OR NOT {match})" if c.modifier == "not" else match


def _hot(sc: Scope, b, c: ast.Clause) -> str | None:
    """The clause on the resource table's own column, or None if the binding cannot answer it."""
    a, p = sc.alias, sc.p
    complete = catalog.column_only(sc.m.resource_type, c.code)
    if isinstance(b, Tokens):
        return _tokens(sc, b, c, complete)
    if c.modifier == "missing":
        if isinstance(b, Ref) and _narrowed(sc, c.code):
            return None   # only the side table knows which subjects are, say, Patients
        present = _present(sc, b)
        return f"NOT {present}" if c.values[0].missing else present
    if c.modifier not in (None, "not") or (c.modifier == "not" and not isinstance(b, Code)):
        return None
    if isinstance(b, Code):
        if any(not isinstance(v, ast.Token) for v in c.values) or \
                (not complete and any(v.code is None for v in c.values)):
            return None   # :text, and (where a side table can) system-only tokens
        system = catalog.supported(sc.m.resource_type)[c.code].code_system
        # With a bound system, a value naming another system (or none: "|code") cannot match;
        # "system|" of the bound system matches any code.
        ours = [v for v in c.values if system is None or v.system is None or v.system == system]
        codes = [v.code for v in ours if v.code is not None]
        if len(codes) < len(ours):
            match = f"{a}.{b.column} IS NOT NULL"
        elif not codes:
            return "false" if c.modifier != "not" else "true"
        else:
            match = _in(f"{a}.{b.column}", codes, p)
        return f"({a}.{b.column} IS NULL OR NOT {match})" if c.modifier == "not" else match
    if isinstance(b, Ref):
        return _in(f"{a}.{b.column}", [t for v in c.values for t in v.targets], p)
    cast = sc.m.sql_type(b.start)
    if b.start == b.end:
        if b.coarsest and any(v.end - v.start < b.coarsest for v in c.values):
            return None   # finer than a stored value may be: only its side-table range is exact
        return _or([date_point(f"{a}.{b.start}", v, p, cast) for v in c.values])
    # In these columns NULL is an open end, and both NULL is no value: open-ended prefixes
    # (gt, lt, ne, ...) must not match resources without the element.
    present = f"({a}.{b.start} IS NOT NULL OR {a}.{b.end} IS NOT NULL)"
    ranges = _or([_within(b, v, p, date_range(f"{a}.{b.start}", f"{a}.{b.end}", v, p, cast), a, cast)
                  for v in c.values])
    return f"({ranges} AND {present})"


def _within(b: DateRange, v: ast.Date, p: Params, sql: str, a: str, cast: str) -> str:
    """`sql` (a range's match) and, where the range is at most `b.widest` long, the start
    bound that match implies: "ends after X" alone is no index range on the start column."""
    if b.widest is None or v.prefix in ("ne", "ap"):
        return sql
    lower = {"gt": v.floor_end - b.widest, "ge": min(v.start, v.floor_end - b.widest), "sa": v.end}.get(v.prefix)
    upper = {"lt": v.start, "le": v.end, "eb": v.floor_start, "eq": v.end}.get(v.prefix)
    hint = f"{a}.{b.start} >= {p.add(lower, cast)}" if lower is not None else f"{a}.{b.start} < {p.add(upper, cast)}"
    return f"({sql} AND {hint})"


def _hierarchy(sc: Scope, c: ast.Clause) -> str:
    """SELECT of "Type/id" of the named resources and everything below (or above) them, along
    their type's circular reference (search.html#reference); UNION stops at cycles."""
    by_type: dict[str, list[str]] = {}
    for v in c.values:
        for t in v.targets:
            by_type.setdefault(t.split("/")[0], []).append(t.split("/", 1)[1])
    selects = []
    for type_name, ids in by_type.items():
        if type_name not in MAPPINGS:   # a type not stored here has no links to follow: the named ones only
            selects.append(f"(SELECT {sc.p.add(type_name + '/')} || unnest({sc.p.add(ids, 'text[]')}))")
            continue
        side, h = MAPPINGS[type_name].side_table(reference.TABLE.suffix), sc.names.next("h")
        param, prefix = sc.p.add(catalog.hierarchy(type_name)), sc.p.add(type_name + "/")
        if c.modifier == "below":
            step = f"SELECT x.id FROM {side} x JOIN {h} ON x.target = {prefix} || {h}.id"
        else:
            step = (f"SELECT substr(x.target, length({prefix}) + 1) COLLATE \"C\" FROM {side} x "
                    f"JOIN {h} ON x.id = {h}.id AND starts_with(x.target, {prefix})")
        selects.append(f"(WITH RECURSIVE {h}(id) AS (SELECT unnest({sc.p.add(ids, 'text[]')}) COLLATE \"C\" UNION "
                       f"{step} WHERE x.org_id = {sc.org} AND x.param = {param}) SELECT {prefix} || id FROM {h})")
    return " UNION ALL ".join(selects)


def _clause(sc: Scope, c: ast.Clause) -> str:
    """The bound column answers what it can; otherwise the parameter's kind, over side rows."""
    prm = catalog.supported(sc.m.resource_type)[c.code]
    b = binding(sc.m.resource_type, c.code)
    if b is not None and (sql := _hot(sc, b, c)) is not None:
        return sql
    if catalog.column_only(sc.m.resource_type, c.code):   # parse refuses what the column cannot answer
        raise AssertionError(f"{sc.m.resource_type}.{c.code} is column-only, and its column cannot answer {c}")
    if c.modifier == "missing":
        exists = _side(sc, prm.kind.side.suffix, prm.code, None)
        return f"NOT {exists}" if c.values[0].missing else exists
    return prm.kind.condition(_SideRows(sc), prm, c)


class _SideRows:
    """What a kind needs of the compiler to answer a clause (searchparams.kinds.base.SideRows)."""

    def __init__(self, sc: Scope) -> None:
        self.sc, self.p = sc, sc.p

    def side(self, suffix: str, param: str, body: str | None) -> str:
        return _side(self.sc, suffix, param, body)

    def linked(self, code: str, targets_sql: str) -> str:
        return _linked(self.sc, code, targets_sql)

    def hierarchy(self, clause: ast.Clause) -> str:
        return _hierarchy(self.sc, clause)


def _linked(sc: Scope, code: str, targets_sql: str) -> str:
    """The resource's reference `code` is one of the "Type/id" that `targets_sql` selects."""
    b = binding(sc.m.resource_type, code)
    if isinstance(b, Ref):
        return f"{sc.alias}.{b.column} IN ({targets_sql})"
    return _side(sc, reference.TABLE.suffix, code, f"{{s}}.target IN ({targets_sql})")


def _target_ids(sc: Scope, target_type: str, inner: ast.Filter) -> str:
    """SELECT of "Type/id" strings of the `target_type` resources matching `inner`."""
    m = MAPPINGS[target_type]
    t = sc.names.next("t")
    cond = condition(inner, sc.inner(m, t))
    return f"SELECT {sc.p.add(target_type + '/')} || {t}.id FROM {m.table} {t} WHERE {t}.org_id = {sc.org} AND {cond}"


def _chain(sc: Scope, c: ast.Chain) -> str:
    return _linked(sc, c.code, _target_ids(sc, c.target_type, c.inner))


def _has(sc: Scope, h: ast.Has) -> str:
    m = MAPPINGS[h.source_type]
    x = sc.names.next("h")
    inner = sc.inner(m, x)
    me = f"{sc.p.add(sc.m.resource_type + '/')} || {sc.alias}.id"
    b = binding(h.source_type, h.ref_code)
    link = f"{x}.{b.column} = {me}" if isinstance(b, Ref) else _side(inner, reference.TABLE.suffix, h.ref_code,
                                                                      f"{{s}}.target = {me}")
    where = f"{x}.org_id = {sc.org} AND {link} AND {condition(h.inner, inner)}"
    return f"EXISTS (SELECT 1 FROM {m.table} {x} WHERE {where})"


def condition(f: ast.Filter, sc: Scope) -> str:
    if isinstance(f, ast.Clause):
        return _clause(sc, f)
    if isinstance(f, ast.Chain):
        return _chain(sc, f)
    if isinstance(f, ast.Has):
        return _has(sc, f)
    if isinstance(f, ast.AnyOf):
        return _or([condition(g, sc) for g in f.filters])
    if isinstance(f, ast.AllOf):
        return "(" + " AND ".join(condition(g, sc) for g in f.filters) + ")" if f.filters else "true"
    raise AssertionError(type(f))
