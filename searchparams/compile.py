"""From `ast.Search` to one parameterised SQL statement over a mapping's table.

Values never enter the SQL text: every one is a `$n` parameter, and the text is a
function of the query's shape alone (asyncpg caches prepared statements by text).
Conditions use only leakproof operators or GIN array operators marked leakproof by
migration 0002, so row-level security never blocks an index (see that file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mappings.base import ResourceMapping
from mappings.bindings import Code, DateRange, Ref, RefArray, TokenArray, binding
from mappings.bindings import Text as TextBinding
from searchparams import ast
from searchparams.partitions import partition_bounds


@dataclass
class Params:
    """Collects bound values; `add` returns the placeholder."""

    values: list = field(default_factory=list)

    def add(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{'::' + cast if cast else ''}"


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    params: tuple


def _token_strings(v: ast.Token) -> list[str]:
    if v.code is None:
        return [f"{v.system}|"]
    return [f"{'*' if v.system is None else v.system}|{v.code}"]


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (C collation)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


def _text(column: str, values: tuple, p: Params) -> str:
    parts = []
    for v in values:
        hi = _successor(v.value)
        lo = f"{column} >= {p.add(v.value)}"
        parts.append(f"({lo} AND {column} < {p.add(hi)})" if hi else f"({lo})")
    return "(" + " OR ".join(parts) + ")"


def _point(column: str, v: ast.Date, p: Params, cast: str) -> str:
    """R4 prefix rules for a value that is one instant (or one day) wide."""
    def bound(ts: datetime) -> str:
        return p.add(_cast(ts, cast), cast)
    if v.prefix == "eq":
        return f"({column} >= {bound(v.start)} AND {column} < {bound(v.end)})"
    if v.prefix == "ne":
        return f"({column} < {bound(v.start)} OR {column} >= {bound(v.end)})"
    if v.prefix == "ap":
        lo, hi = _widen(v)
        return f"({column} >= {bound(lo)} AND {column} < {bound(hi)})"
    op, edge = {"gt": (">=", v.end), "sa": (">=", v.end), "ge": (">=", v.start),
                "lt": ("<", v.start), "eb": ("<", v.start), "le": ("<", v.end)}[v.prefix]
    return f"{column} {op} {bound(edge)}"


def _range(start: str, end: str, v: ast.Date, p: Params, cast: str) -> str:
    """R4 prefix rules (search.html#prefix) for a resource range [start, end); NULL = open."""
    def bound(ts: datetime) -> str:
        return p.add(_cast(ts, cast), cast)

    def eq() -> str:
        return f"({start} >= {bound(v.start)} AND {end} <= {bound(v.end)})"

    def gt() -> str:
        return f"({end} > {bound(v.end)} OR {end} IS NULL)"

    def lt() -> str:
        return f"({start} < {bound(v.start)} OR {start} IS NULL)"

    if v.prefix == "ap":
        lo, hi = _widen(v)
        return f"(({start} < {bound(hi)} OR {start} IS NULL) AND ({end} > {bound(lo)} OR {end} IS NULL))"
    return {
        "eq": eq, "gt": gt, "lt": lt,
        "ge": lambda: f"({gt()} OR {eq()})", "le": lambda: f"({lt()} OR {eq()})",
        "ne": lambda: f"NOT COALESCE({eq()}, false)",
        "sa": lambda: f"{start} >= {bound(v.end)}",
        "eb": lambda: f"{end} <= {bound(v.start)}",
    }[v.prefix]()


def _widen(v: ast.Date) -> tuple[datetime, datetime]:
    """`ap`: the search range widened by 10% of its distance from now (search.html#prefix)."""
    gap = abs(datetime.now(v.start.tzinfo) - v.start) * 0.1
    return v.start - gap, v.end + gap


def _cast(ts: datetime, cast: str) -> datetime | date:
    if cast != "date":
        return ts
    day = ts.date()
    return day if ts == datetime(day.year, day.month, day.day, tzinfo=ts.tzinfo) else day + timedelta(days=1)


def _clause(m: ResourceMapping, clause: ast.Clause, p: Params) -> str:
    b = binding(m.resource_type, clause.code)
    if isinstance(b, TokenArray):
        return f"{b.column} && {p.add([s for v in clause.values for s in _token_strings(v)], 'text[]')}"
    if isinstance(b, Code):
        codes = [v.code for v in clause.values if v.code is not None]
        return f"{b.column} = ANY({p.add(codes, 'text[]')})"
    if isinstance(b, (Ref, RefArray)):
        refs = [f"{t}/{v.id}" for v in clause.values for t in v.types]
        op = "= ANY(" if isinstance(b, Ref) else "&& ("
        return f"{b.column} {op}{p.add(refs, 'text[]')})"
    if isinstance(b, TextBinding):
        return _text(b.column, clause.values, p)
    if isinstance(b, DateRange):
        cast = m.sql_type(b.start)
        if b.start == b.end:
            parts = [_point(b.start, v, p, cast) for v in clause.values]
        else:
            parts = [_range(b.start, b.end, v, p, cast) for v in clause.values]
        return "(" + " OR ".join(parts) + ")"
    raise AssertionError(f"no SQL for {clause.code}")


def where(m: ResourceMapping, search: ast.Search, org_id: int, p: Params) -> str:
    conditions = [f"org_id = {p.add(org_id)}"]
    lo, hi = partition_bounds(m, search)
    if lo is not None:
        conditions.append(f"part_ts >= {p.add(lo)}")
    if hi is not None:
        conditions.append(f"part_ts < {p.add(hi)}")
    conditions += [_clause(m, c, p) for c in search.clauses]
    return " AND ".join(conditions)


def _select(m: ResourceMapping, search: ast.Search, org_id: int, limit: int, columns: str) -> Compiled:
    p = Params()
    sql = f"SELECT {columns} FROM {m.table} WHERE {where(m, search, org_id, p)}"
    if search.after_id is not None:
        sql += f" AND id > {p.add(search.after_id)}"
    sql += f" ORDER BY id LIMIT {p.add(limit)}"
    return Compiled(sql, tuple(p.values))


def compile_ids(m: ResourceMapping, search: ast.Search, org_id: int, limit: int) -> Compiled:
    """Ids of the matches in id order, after the cursor, at most `limit`."""
    return _select(m, search, org_id, limit, "id")


def compile_page(m: ResourceMapping, search: ast.Search, org_id: int, limit: int) -> Compiled:
    """The matching resources themselves, for a searchset page."""
    return _select(m, search, org_id, limit, "id, resource")


def compile_count(m: ResourceMapping, search: ast.Search, org_id: int) -> Compiled:
    p = Params()
    return Compiled(f"SELECT count(*) FROM {m.table} WHERE {where(m, search, org_id, p)}", tuple(p.values))
