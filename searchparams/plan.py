"""The plan of one page: the decisions between the AST and the SQL text, made once, printable.

- Partition bounds: [lo, hi) on part_ts from the partitioning date clause (partitions.py), so
  PostgreSQL prunes month partitions while planning; the SQL repeats them on side tables.
- Order: "keys" (the `_sort` keys, then id) or "months": without `_sort` a month-partitioned
  type is read in (part_ts, id) order one month partition at a time, so a page reads only the
  months it spans (PostgreSQL makes an ordered Append only for orders that the partitions'
  indexes give, so ORDER BY id over a common code re-reads every earlier match each page).
  Not when `_id` names the rows. With a reference answered by a side table (an Appointment's
  practitioner or location, an AuditEvent's agent), that side table drives each window
  (`driver`): PostgreSQL cannot estimate a window's rows (its bounds are run-time values),
  and left to itself it read every row of the month to semi-join the few that match.
- The keyset: the cursor's values and the direction (a previous page reads backward).
- For "months": the [start, end) windows to walk, cut at the tenant's month starts and
  narrowed by the bounds and the cursor. Any list of month starts gives the same rows; a
  month missing from it (made since it was read) is read with its neighbour.
- Generic or custom PostgreSQL plans (`generic`): a patient's chart lookup on a month-
  partitioned type (its reference, perhaps a status, no date bounds) would spend most of its
  time planning every month x side tables afresh; a cached generic plan prunes at run time
  instead. Everything else keeps custom plans: plan-time pruning by date, and plans that
  depend on the values (counts over common codes, chains), which a generic plan gets wrong
  (bench/README.md has the measurements).
`str(plan)` is what `_explain` shows beside the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fhirserver import ids
from mappings.base import ResourceMapping
from mappings.bindings import Code, Ref, binding
from searchparams import ast, catalog
from searchparams.partitions import Bounds, partition_bounds

_END = ids.PART_TS_MAX + timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Plan:
    resource_type: str
    org_id: int
    bounds: Bounds
    order: str = "keys"                  # "keys" | "months"
    limit: int | None = None
    cursor: tuple | None = None
    backward: bool = False
    windows: tuple[tuple[datetime, datetime], ...] = ()
    generic: bool = False
    driver: int | None = None            # months: the filter whose side rows drive each window

    def __str__(self) -> str:
        def ts(t: datetime | None) -> str:
            return t.isoformat() if t is not None else "open"
        parts = [f"(plan {self.resource_type} (org {self.org_id}) (part_ts {ts(self.bounds[0])} {ts(self.bounds[1])})",
                 f"(order {self.order}{' backward' if self.backward else ''})"]
        if self.limit is not None:
            parts.append(f"(limit {self.limit})")
        if self.cursor is not None:
            parts.append(f"(after {' '.join(str(v) for v in self.cursor)})")
        if self.windows:
            parts.append(f"(windows {len(self.windows)} {ts(self.windows[0][0])} .. {ts(self.windows[-1][1])})")
        if self.driver is not None:
            parts.append(f"(windows driven by filter {self.driver})")
        if self.generic:
            parts.append("(generic)")
        return " ".join(parts) + ")"


def walks_months(m: ResourceMapping, search: ast.Search) -> bool:
    return m.time_partitioned and not search.sort and \
        not any(isinstance(f, ast.Clause) and f.code == "_id" for f in search.filters)


def side_driver(m: ResourceMapping, search: ast.Search) -> int | None:
    """The first filter that is a plain reference answered by a side table, if any: in a month
    walk its side rows of the window, found by (param, target), lead to the resources: a
    window's bounds are run-time values, so PostgreSQL cannot estimate its rows, and joining
    each window itself it read every row of the month to semi-join the few that match."""
    for i, f in enumerate(search.filters):
        if isinstance(f, ast.Clause) and f.modifier is None and \
                catalog.supported(m.resource_type)[f.code].type == "reference" and \
                not isinstance(binding(m.resource_type, f.code), Ref):
            return i
    return None


def chart_lookup(m: ResourceMapping, search: ast.Search, bounds: Bounds) -> bool:
    """A patient's rows of a month-partitioned type: one reference on the table's own column,
    otherwise only scalar codes, no date bounds (see `generic` above)."""
    if not m.time_partitioned or bounds != (None, None):
        return False
    kinds = []
    for f in search.filters:
        if not isinstance(f, ast.Clause) or f.modifier is not None:
            return False
        b = binding(m.resource_type, f.code)
        if not isinstance(b, (Ref, Code)) or f.code == "_id":
            return False
        kinds.append(type(b))
    return kinds.count(Ref) == 1


@dataclass(frozen=True, slots=True)
class PageSpec:
    """What a page's plan needs besides the search: whose rows, how many, from where."""

    org_id: int
    limit: int
    cursor: tuple | None = None      # decoded sort keys (then id) of the row the page follows
    backward: bool = False           # the page that ends just before `cursor` instead
    months: list[datetime] | None = None   # starts of the tenant's month partitions, when known


def plan_filter(m: ResourceMapping, search: ast.Search, org_id: int, limit: int | None = None) -> Plan:
    """The plan of a statement over all matches (a count; at most `limit` ids)."""
    bounds = partition_bounds(m, search)
    return Plan(m.resource_type, org_id, bounds, limit=limit, generic=chart_lookup(m, search, bounds))


def plan_page(m: ResourceMapping, search: ast.Search, page: PageSpec) -> Plan:
    """Any list of `page.months` gives the same rows; None: not known, no month walk."""
    bounds = partition_bounds(m, search)
    key, backward, org_id, limit = page.cursor, page.backward, page.org_id, page.limit
    generic = chart_lookup(m, search, bounds)
    if page.months is None or not walks_months(m, search):
        return Plan(m.resource_type, org_id, bounds, "keys", limit, key, backward, generic=generic)
    lo, hi = bounds
    if key is not None:
        if backward:
            at = key[0] + timedelta(microseconds=1)
            hi = at if hi is None else min(hi, at)
        else:
            lo = key[0] if lo is None else max(lo, key[0])
    start, end = lo or ids.PART_TS_MIN, hi or _END
    cuts = sorted({mo for mo in page.months if start < mo < end})
    windows = tuple(zip([start, *cuts], [*cuts, end]))
    return Plan(m.resource_type, org_id, bounds, "months", limit, key, backward,
                windows[::-1] if backward else windows, generic, side_driver(m, search))
