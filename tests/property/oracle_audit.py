"""Hypothesis strategies for the AuditEvents the search properties store, and the search dates
that meet their `recorded` instants at the edges of its precision.

AuditEvent's `action`, `outcome`, `date`, `type` and `subtype` are answered from its own columns
only (searchparams.catalog.COLUMN_ONLY), so the stored values differ in the ways those columns must
keep apart: Codings with a system, without one, with a system and no code, or with a display
alone; one coding of a code system with a hierarchy (restful-interaction: `search` over
`search-type`); `recorded` at the precision of a second, of a tenth, a thousandth and a millionth of
one, written in time zones from -12:00 to +14:00, around the ends of days, months and years (so that
the local date differs from the UTC one). References go to the world's pool resources, relative,
absolute, external or by identifier (tests/property/oracle_elements.reference).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from tests.property.oracle import date_interval
from tests.property.oracle_elements import maybe, put, reference
from tests.property.oracle_pools import OTHER_CS
from tests.property.oracle_world import World

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"

# (system, code): None is absent. Codes of R4's code systems only where the system is R4's own
# (the server checks what it knows); "rest" also without a system and in another one.
TYPE_CODINGS = [(AUDIT_TYPE, "rest"), (DCM, "110110"), (DCM, "110112"), (OTHER_CS, "rest"), (None, "rest"),
                (None, "nosys"), (OTHER_CS, "abc")]
SUBTYPE_CODINGS = [(RESTFUL, "read"), (RESTFUL, "vread"), (RESTFUL, "search"), (RESTFUL, "search-type"),
                   (RESTFUL, "history-instance"), (RESTFUL, "create"), (DCM, "110120"), (None, "read"),
                   (OTHER_CS, "read"), (None, "abc"), (OTHER_CS, None)]
TYPE_DISPLAYS = ["RESTful Operation", "Patient Record", "read"]
ACTIONS = ["C", "R", "U", "D", "E"]
OUTCOMES = ["0", "4", "8", "12"]

# `recorded`: moments (UTC) near the ends of days, months and years, and the zones they are written in.
MOMENTS = [datetime(2026, 3, 5, 10, 0, 0), datetime(2026, 3, 5, 10, 0, 0, 500000),
           datetime(2026, 3, 5, 9, 59, 59, 999000), datetime(2026, 3, 31, 23, 59, 59, 999000),
           datetime(2026, 4, 1, 0, 0, 0), datetime(2026, 4, 1, 0, 0, 0, 1), datetime(2026, 2, 28, 22, 30, 0),
           datetime(2025, 12, 31, 23, 59, 59), datetime(2026, 1, 1, 0, 0, 0, 250000),
           datetime(2026, 3, 5, 23, 30, 0, 100000), datetime(2026, 3, 31, 23, 59, 59)]
ZONES = ["Z", "+00:00", "+02:00", "-05:00", "+05:30", "+14:00", "-12:00"]
DIGITS = [0, 1, 3, 6]      # fractional digits: a second, a tenth, a millisecond, a microsecond

# Search dates besides those derived from the stored values (half the time).
AUDIT_DATE_QUERIES = ["2025", "2026", "2026-03", "2026-04", "2025-12-31", "2026-03-05", "2026-03-31", "2026-04-01",
                      "2026-03-05T10:00", "2026-03-05T10:00Z", "2026-03-05T10:00:00Z", "2026-03-05T10:00:00.5Z",
                      "2026-03-05T10:00:00.500Z", "2026-03-05T10:00:00.000Z", "2026-03-05T12:00:00+02:00",
                      "2026-03-31T23:59:59Z", "2026-03-31T23:59:59.999Z", "2026-04-01T00:00:00Z",
                      "2026-04-01T01:59:59.999+02:00", "2026-03-31T19:00:00-05:00"]


def _zone(text: str) -> timezone:
    if text in ("Z", "+00:00"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def write_instant(moment: datetime, zone: str, digits: int) -> str:
    """`moment` (UTC, naive or aware) as an instant in `zone` with `digits` fractional digits
    (truncated: the caller chooses digits that keep the moment exact, or wants it cut)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    local = aware.astimezone(_zone(zone))
    frac = f".{local.microsecond:06d}"[:digits + 1] if digits else ""
    return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone


@st.composite
def recorded(draw) -> str:
    """An instant (seconds or finer, with a zone), exactly one of MOMENTS, at a precision that holds it."""
    moment = draw(st.sampled_from(MOMENTS))
    digits = draw(st.sampled_from([d for d in DIGITS if moment.microsecond % 10 ** (6 - d) == 0]))
    return write_instant(moment, draw(st.sampled_from(ZONES)), digits)




@st.composite
def audit_coding(draw, pairs: list[tuple[str | None, str | None]]) -> dict:
    """A Coding of `pairs`, now and then with a display; rarely a display alone (a valid
    Coding that holds no code: the element is there, with no token in it; its column keeps an
    empty array, not NULL)."""
    if draw(st.integers(0, 14)) == 0:
        return {"display": draw(st.sampled_from(TYPE_DISPLAYS))}
    system, code = draw(st.sampled_from(pairs))
    c = {}
    put(c, "system", system)
    put(c, "code", code)
    put(c, "display", draw(maybe(st.sampled_from(TYPE_DISPLAYS), 0.3)))
    return c


@st.composite
def audit_event(draw, w: World) -> dict:
    """A valid R4 AuditEvent: type, 0-2 subtypes, action, recorded, outcome, 1-2 agents (requestor
    required), a source with its observer, 0-3 entities (sev-1: never both name and query)."""
    r = {"resourceType": "AuditEvent", "type": draw(audit_coding(TYPE_CODINGS))}
    put(r, "subtype", draw(st.lists(audit_coding(SUBTYPE_CODINGS), max_size=2)))
    put(r, "action", draw(maybe(st.sampled_from(ACTIONS), 0.8)))
    r["recorded"] = draw(recorded())
    put(r, "outcome", draw(maybe(st.sampled_from(OUTCOMES), 0.8)))
    if r.get("outcome") not in (None, "0"):
        put(r, "outcomeDesc", draw(maybe(st.just("failed"), 0.5)))
    agents = []
    for _ in range(draw(st.integers(1, 2))):
        agent = {"requestor": draw(st.booleans())}
        put(agent, "who", draw(maybe(reference(w, ("Practitioner", "Patient")), 0.9)))
        if "who" not in agent:
            agent["name"] = "someone"
        agents.append(agent)
    r["agent"] = agents
    r["source"] = {"observer": draw(reference(w, ("Organization", "Practitioner")))}
    entities = []
    for _ in range(draw(st.integers(0, 3))):
        entity = {}
        put(entity, "what", draw(maybe(reference(w, ("Patient", "Observation")), 0.85)))
        if "what" not in entity:
            entity["name"] = "a query"
        entities.append(entity)
    put(r, "entity", entities)
    return r


# --- search dates near the stored instants ---------------------------------------------------------

# A step of each precision a search date may have, to move a derived value just across an edge.
_STEPS = {"year": timedelta(days=365), "month": timedelta(days=31), "day": timedelta(days=1),
          "minute": timedelta(minutes=1), "second": timedelta(seconds=1), 1: timedelta(milliseconds=100),
          3: timedelta(milliseconds=1), 6: timedelta(microseconds=1)}


def _written(moment: datetime, zone: str, precision) -> str:
    local = moment.astimezone(_zone(zone))
    if precision == "year":
        return local.strftime("%Y")
    if precision == "month":
        return local.strftime("%Y-%m")
    if precision == "day":
        return local.strftime("%Y-%m-%d")
    if precision == "minute":
        return local.strftime("%Y-%m-%dT%H:%M") + zone
    return write_instant(moment, zone, 0 if precision == "second" else precision)


@st.composite
def near_date(draw, stored: str) -> str:
    """A search date derived from a stored instant: the same moment (or a step of the chosen
    precision, or a millisecond or microsecond, before or after it) written at a precision from
    the year to the microsecond, in the stored zone, in UTC or in another zone; dates and minutes
    without a zone now and then (read as UTC by this server, as by the oracle)."""
    moment = date_interval(stored)[0]
    precision = draw(st.sampled_from(["year", "month", "day", "minute", "second", "second", 1, 3, 3, 6]))
    shift = draw(st.sampled_from([timedelta(0)] * 4 + [_STEPS[precision], -_STEPS[precision],
                                                       timedelta(milliseconds=1), -timedelta(milliseconds=1),
                                                       timedelta(microseconds=1), -timedelta(microseconds=1)]))
    own = stored[-1] if stored.endswith("Z") else stored[-6:]
    zone = draw(st.sampled_from([own, own, "Z", *ZONES]))
    text = _written(moment + shift, zone, precision)
    if precision == "minute" and draw(st.integers(0, 3)) == 0:
        text = text[:16]
    return text
