"""FHIR date, dateTime and instant values as half-open UTC intervals.

A FHIR date is an interval at its own precision: "2013-01" is all of January 2013
(search.html#date). We keep [start, end) with `end` exclusive. Values without a
time zone (dates, partial dateTimes) are read as UTC; the server documents this.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_DT = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?")
_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
OPEN_END = _MAX   # the end of a range that has not ended (a Period without `end`)


def _add_months(ts: datetime, months: int) -> datetime:
    total = ts.year * 12 + ts.month - 1 + months
    if total // 12 > 9999:
        return _MAX
    return ts.replace(year=total // 12, month=total % 12 + 1)


@lru_cache(maxsize=1024)   # a resource's times are read for its columns, its index and its partition
def interval(value: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a date/dateTime/instant string; None if it does not parse."""
    m = _DT.fullmatch(value)
    if not m:
        return None
    g = m.groupdict()
    try:
        if g["H"] is None:
            start = datetime(int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), tzinfo=timezone.utc)
            if g["d"]:
                return start, min(start + timedelta(days=1), _MAX) if start.year < 9999 else _MAX
            return start, _add_months(start, 1 if g["m"] else 12)
        tz = timezone.utc
        if g["tz"] and g["tz"] != "Z":
            sign = 1 if g["tz"][0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6])))
        frac = g["f"] or ""
        micros = int((frac + "000000")[:6])
        second = int(g["S"] or 0)
        leap = second == 60  # a leap second is read as the last instant of the minute
        start = datetime(int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                         59 if leap else second, micros, tzinfo=tz).astimezone(timezone.utc)
        if g["S"] is None:
            step = timedelta(minutes=1)
        elif frac:
            step = timedelta(microseconds=10 ** max(0, 6 - len(frac))) if len(frac) <= 6 else timedelta(microseconds=1)
        else:
            step = timedelta(seconds=1)
        return start, start + step
    except (ValueError, OverflowError):
        return None


def below_microsecond(value: str) -> tuple[datetime, datetime, datetime, datetime] | None:
    """For a value finer than a microsecond (more than six fractional digits), its bounds
    rounded to the microsecond both ways, which PostgreSQL needs to compare it exactly:
    (start down, start up, end down, end up). None for any other value: `interval` is exact.
    (`interval` rounds such a value's start down, which is right for a stored value, whose
    range must contain the true one, and wrong for a search value: `lt` then missed values
    just below it.)"""
    m = _DT.fullmatch(value)
    if not m or not m["f"] or len(m["f"]) <= 6 or (span := interval(value)) is None:
        return None
    below = m["f"][6:]                       # the digits under the microsecond
    start, one = span[0], timedelta(microseconds=1)
    rest, unit = int(below), 10 ** len(below)   # the start's part under `start`, and one microsecond
    end_down = start + one if rest + 1 == unit else start
    return start, start if rest == 0 else start + one, end_down, start + one


def instant_text(ts: datetime) -> str:
    """How the server writes meta.lastUpdated: UTC with milliseconds."""
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds")
