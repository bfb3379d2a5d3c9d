"""Conditions on one side-table row (alias `s`) for each kind of search value.

Each function returns SQL text with `$n` placeholders only; the caller ORs the
conditions of a clause's values. Prefix rules follow search.html#prefix: dates and
numbers carry the range their precision implies, a stored date is [lo, hi) with NULL
for an open end, a stored number is exact.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from searchparams import ast
from searchparams.sqlgen.params import Params


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (C collation)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD7FF <= last < 0xDFFF else 0xE000   # surrogates are no text
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def prefix_match(column: str, prefix: str, p: Params) -> str:
    """`column` starts with `prefix`, as a B-tree range (leakproof, index-friendly, unlike LIKE)."""
    hi = successor(prefix)
    lo = f"{column} >= {p.add(prefix)}"
    return f"({lo} AND {column} < {p.add(hi)})" if hi else f"({lo})"


def token(s: str, v: ast.Token, p: Params, implicit_system: bool, code: str = "code", system: str = "system") -> str:
    """`s`'s `code` and `system` columns against a token value (a composite's part names its own)."""
    parts = []
    if v.code is not None:
        parts.append(f"{s}.{code} = {p.add(v.code)}")
    if v.system == "":
        parts.append(f"{s}.{system} IS NULL")
    elif v.system is not None:
        same = f"{s}.{system} = {p.add(v.system)}"
        parts.append(f"({same} OR {s}.{system} IS NULL)" if implicit_system and v.code is not None else same)
    return "(" + " AND ".join(parts) + ")"


def tokens(s: str, vs: tuple[ast.Token, ...], p: Params, implicit_system: bool) -> list[str]:
    """Conditions for OR-ed token values; system|code values of one system become one
    `code = ANY(...)` (a value set's hundreds of codes stay one index condition)."""
    by_system: dict[str, list[str]] = {}
    out = []
    for v in vs:
        if isinstance(v, ast.Token) and v.system and v.code is not None:
            by_system.setdefault(v.system, []).append(v.code)
        else:
            out.append(token(s, v, p, implicit_system))
    for system, codes in by_system.items():
        if len(codes) == 1:
            out.append(token(s, ast.Token(system, codes[0]), p, implicit_system))
            continue
        match = f"{s}.system = {p.add(system)}"
        match = f"({match} OR {s}.system IS NULL)" if implicit_system else match
        out.append(f"({s}.code = ANY({p.add(codes, 'text[]')}) AND {match})")
    return out


def text(column: str, v: ast.Text, modifier: str | None, p: Params, exact_column: str | None = None) -> str:
    if modifier == "exact":
        return f"{exact_column} = {p.add(v.value)}"
    if modifier == "contains":
        escaped = v.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{column} LIKE {p.add('%' + escaped + '%')}"
    return prefix_match(column, v.value, p)


def _widen(v: ast.Date) -> tuple[datetime, datetime]:
    """`ap`: the search range widened by 10% of its distance from now."""
    gap = abs(datetime.now(v.start.tzinfo) - v.start) * 0.1
    return v.start - gap, v.end + gap


def date_range(lo: str, hi: str, v: ast.Date, p: Params, cast: str = "timestamptz") -> str:
    """A stored range [lo, hi) (NULL = open) against a search date (search.html#prefix)."""
    def bound(ts) -> str:
        return p.add(to_date(ts) if cast == "date" else ts, cast)

    def eq() -> str:
        # lo < end is implied (lo <= hi <= end) but lets the planner use an index range on lo.
        return f"({lo} >= {bound(v.start)} AND {lo} < {bound(v.end)} AND {hi} <= {bound(v.end)})"

    def gt() -> str:
        return f"({hi} > {bound(v.end)} OR {hi} IS NULL)"

    def lt() -> str:
        return f"({lo} < {bound(v.start)} OR {lo} IS NULL)"

    if v.prefix == "ap":
        a, b = _widen(v)
        return f"(({lo} < {bound(b)} OR {lo} IS NULL) AND ({hi} > {bound(a)} OR {hi} IS NULL))"
    return {
        "eq": eq, "gt": gt, "lt": lt,
        "ge": lambda: f"({gt()} OR {eq()})", "le": lambda: f"({lt()} OR {eq()})",
        "ne": lambda: f"NOT COALESCE({eq()}, false)",
        "sa": lambda: f"{lo} >= {bound(v.end)}",
        "eb": lambda: f"{hi} <= {bound(v.start)}",
    }[v.prefix]()


def date_point(column: str, v: ast.Date, p: Params, cast: str = "timestamptz") -> str:
    """A stored instant against a search date."""
    def bound(ts) -> str:
        return p.add(to_date(ts) if cast == "date" else ts, cast)
    if v.prefix == "eq":
        return f"({column} >= {bound(v.start)} AND {column} < {bound(v.end)})"
    if v.prefix == "ne":
        return f"({column} < {bound(v.start)} OR {column} >= {bound(v.end)})"
    if v.prefix == "ap":
        a, b = _widen(v)
        return f"({column} >= {bound(a)} AND {column} < {bound(b)})"
    op, edge = {"gt": (">=", v.end), "sa": (">=", v.end), "ge": (">=", v.start),
                "lt": ("<", v.start), "eb": ("<", v.start), "le": ("<", v.end)}[v.prefix]
    return f"{column} {op} {bound(edge)}"


def to_date(ts: datetime):
    """The date bound for a `date` column: a range ending mid-day still covers that day."""
    day = ts.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=ts.tzinfo)
    return day if ts == midnight else day.fromordinal(day.toordinal() + 1)


def number(column: str, v: ast.Number, p: Params) -> str:
    """A stored exact number against a search number with its implied precision range."""
    if v.prefix == "eq":
        return f"({column} >= {p.add(v.lo)} AND {column} < {p.add(v.hi)})"
    if v.prefix == "ne":
        return f"({column} < {p.add(v.lo)} OR {column} >= {p.add(v.hi)})"
    if v.prefix == "ap":
        # Within 10 % of the value (search.html#prefix recommends it), and never narrower than
        # eq: the implied range of the written precision counts too (ap0 finds 0.3 as eq0 does).
        margin = abs(v.value) * Decimal("0.1")
        lo = min(v.lo, v.value - margin)
        upper = f"{column} <= {p.add(v.value + margin)}" if v.value + margin >= v.hi else f"{column} < {p.add(v.hi)}"
        return f"({column} >= {p.add(lo)} AND {upper})"
    if v.prefix == "sa":   # above the search value's whole implied range (search.html#prefix)
        return f"{column} >= {p.add(v.hi)}"
    if v.prefix == "eb":
        return f"{column} < {p.add(v.lo)}"
    op = {"gt": ">", "lt": "<", "ge": ">=", "le": "<="}[v.prefix]
    return f"{column} {op} {p.add(v.value)}"


def quantity(s: str, v: ast.Number, p: Params, value: str = "value", system: str = "system",
             code: str = "code", unit: str | None = "unit") -> str:
    parts = [number(f"{s}.{value}", v, p)]
    if v.system:
        parts.append(f"{s}.{system} = {p.add(v.system)}")
    if v.code:
        c = p.add(v.code)
        parts.append(f"{s}.{code} = {c}" if v.system or unit is None else f"({s}.{code} = {c} OR {s}.{unit} = {c})")
    return "(" + " AND ".join(parts) + ")"


def uri(column: str, v: ast.Uri, modifier: str | None, p: Params) -> str:
    if modifier == "below":
        return prefix_match(column, v.value, p)
    if modifier == "above":   # stored uris that are a path prefix of the search value
        pieces = v.value.split("/")
        prefixes = ["/".join(pieces[:i]) for i in range(1, len(pieces) + 1) if pieces[i - 1]]
        return f"{column} = ANY({p.add(prefixes, 'text[]')})"
    return f"{column} = {p.add(v.value)}"
