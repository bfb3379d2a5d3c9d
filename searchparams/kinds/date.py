"""Date parameters: a stored value is the range [lo, hi) its precision implies, NULL for an
open end; a search date carries its own range, and prefixes compare the two
(search.html#prefix)."""

from __future__ import annotations

from datetime import datetime

from fhirserver.fhirtime import below_microsecond, interval
from searchparams import ast
from searchparams.kinds.base import OWN, Cols, IndexKind, Params, Reading, SideTable, prefixed

TABLE = SideTable("date", (("param", "text"), ("lo", "timestamptz"), ("hi", "timestamptz")),
                  ("(param, lo) INCLUDE (hi, {key})", "(param, hi) INCLUDE (lo, {key})"))


def parse_date(raw: str) -> ast.Date:
    prefix, text = prefixed(raw)
    span = interval(text)
    if span is None:
        raise ValueError(f"'{text}' is not a FHIR date")
    fine = below_microsecond(text)
    if fine is not None:
        start_down, start_up, end_down, end_up = fine
        return ast.Date(prefix, start_up, end_up, start_down, end_down)
    return ast.Date(prefix, *span)


def _widen(v: ast.Date) -> tuple[datetime, datetime]:
    """`ap`: the search range widened by 10% of its distance from now."""
    gap = abs(datetime.now(v.start.tzinfo) - v.start) * 0.1
    return v.start - gap, v.end + gap


def to_date(ts: datetime):
    """The date bound for a `date` column: a range ending mid-day still covers that day."""
    day = ts.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=ts.tzinfo)
    return day if ts == midnight else day.fromordinal(day.toordinal() + 1)


def date_range(lo: str, hi: str, v: ast.Date, p: Params, cast: str = "timestamptz") -> str:
    """A stored range [lo, hi) (NULL = open) against a search date (search.html#prefix).
    Stored bounds are whole microseconds; against a finer search value, `lo >= start` and
    `lo < start` compare with its start rounded up, `hi <= end` and `hi > end` with its end
    rounded down (and `hi <= start` with the start rounded down)."""
    def bound(ts) -> str:
        return p.add(to_date(ts) if cast == "date" else ts, cast)

    def eq() -> str:
        # lo < end is implied (lo <= hi <= end) but lets the planner use an index range on lo.
        return f"({lo} >= {bound(v.start)} AND {lo} < {bound(v.end)} AND {hi} <= {bound(v.floor_end)})"

    def gt() -> str:
        return f"({hi} > {bound(v.floor_end)} OR {hi} IS NULL)"

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
        "eb": lambda: f"{hi} <= {bound(v.floor_start)}",
    }[v.prefix]()


def date_point(column: str, v: ast.Date, p: Params, cast: str = "timestamptz") -> str:
    """A stored instant against a search date: a whole microsecond, so every comparison
    takes a finer search value's bounds rounded up."""
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


def _span(node: tuple) -> tuple | None:
    value, kind = node
    if isinstance(value, str):
        return interval(value)
    if kind == "Period" and isinstance(value, dict):
        lo = interval(value["start"]) if "start" in value else None
        hi = interval(value["end"]) if "end" in value else None
        return (lo[0] if lo else None, hi[1] if hi else None)
    return None


class Date(IndexKind):
    type = "date"
    side = TABLE
    sort_columns = ("lo", "hi")

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        return parse_date(raw)

    def match(self, prm, v: ast.Date, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        return date_range(col("lo"), col("hi"), v, p)

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        value, kind = node
        if kind == "Timing" and isinstance(value, dict):
            spans = [interval(e) for e in value.get("event", ())]
            return [(param, s[0], s[1]) for s in spans if s]
        span = _span(node)
        return [(param, span[0], span[1])] if span and (span[0] or span[1]) else []
