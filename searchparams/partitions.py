"""Partition bounds: turn a date clause on the partitioning parameter into part_ts bounds.

Why: PostgreSQL prunes month partitions only on conditions over the partition key
part_ts, but searches constrain the clinical date columns. For the one parameter
whose value files the row whenever it is present (mapping.partition_param), a clause
that forces that value to be present and bounded gives bounds on part_ts:
- a point in time is filed by its start: eq, sa, gt, ge, lt, le, eb bound it;
- a range is filed by its last instant, an open one at the end of time (mappings/base.py):
  eq, sa, gt, ge and eb bound it; lt and le (a range that began before) do not.
ne and ap never do. part_ts is clamped to the months a server id can name; bounds are
clamped alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fhirserver import ids
from mappings.base import ResourceMapping
from mappings.bindings import DateRange, binding
from searchparams import ast

Bounds = tuple[datetime | None, datetime | None]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _value_bounds(v: ast.Date, point: bool) -> Bounds | None:
    # Ranges [lo, hi) filed at hi less a microsecond (searchparams/kinds/date.date_range):
    # eq puts hi in (start, end]; gt and sa need hi > end or open; ge hi > start or open;
    # eb hi <= start. Points filed at their start read the same, plus lt and le. gt and ge
    # take the bounds rounded down, which a value finer than a microsecond has apart.
    since = {"eq": (v.start, v.end), "sa": (v.end, None), "gt": (v.floor_end, None), "ge": (v.floor_start, None),
             "eb": (None, v.start)}
    before = {"lt": (None, v.start), "le": (None, v.end)}
    return since.get(v.prefix) or (before.get(v.prefix) if point else None)


def _hull(bounds: list[Bounds]) -> Bounds:
    lows = [lo for lo, _ in bounds]
    highs = [hi for _, hi in bounds]
    return (None if None in lows else min(lows)), (None if None in highs else max(highs))


def partition_bounds(m: ResourceMapping, search: ast.Search) -> Bounds:
    """[lo, hi) that part_ts of every match lies in; None for an open side."""
    if not m.partition_param:
        return None, None
    b = binding(m.resource_type, m.partition_param)
    lo, hi = None, None
    # An instant is filed by itself (a `widest` range by its start, as an instant with an end).
    point = isinstance(b, DateRange) and (b.start == b.end or b.widest is not None)
    # A client's instant (part_ts) is a range as wide as its precision, at most `coarsest`
    # (or `widest`), and never crosses a whole step (a second): it can match a search starting
    # within its step, after part_ts. Bounds are floored to the step.
    reach = (b.coarsest or b.widest) if point else None
    for clause in search.filters:
        if not isinstance(clause, ast.Clause) or clause.code != m.partition_param or clause.modifier:
            continue
        per_value = [_value_bounds(v, point) for v in clause.values]
        if any(pv is None for pv in per_value):
            continue
        c_lo, c_hi = _hull(per_value)   # OR-ed values: the hull; AND-ed clauses: the intersection
        if reach is not None and c_lo is not None:
            c_lo -= (c_lo - _EPOCH) % reach
        lo = c_lo if lo is None or (c_lo is not None and c_lo > lo) else lo
        hi = c_hi if hi is None or (c_hi is not None and c_hi < hi) else hi
    # part_ts is the clinical time clamped to [PART_TS_MIN, PART_TS_MAX]: clamp the bounds alike.
    if lo is not None and lo <= ids.PART_TS_MIN:
        lo = None
    elif lo is not None and lo > ids.PART_TS_MAX:
        lo = ids.PART_TS_MAX    # later times, open ends included, are all filed at PART_TS_MAX
    if hi is not None and hi > ids.PART_TS_MAX:
        hi = None
    elif hi is not None and hi <= ids.PART_TS_MIN:
        hi = ids.PART_TS_MIN + timedelta(microseconds=1)
    return lo, hi
