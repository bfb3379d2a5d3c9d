"""Search parameters answered from a resource table's own columns instead of its side tables.

Single-valued elements qualify where the column holds exactly the one value the
parameter's expression selects (so no match can be missed). A `Tokens` column holds every
"system|code" of a CodeableConcept: it answers `system|code` values (GIN, `&&`); other
forms (code only, `:text`, `:missing`, `:not`) stay with the side tables; counting a common
Observation code this way avoids the side-table semi-join. A date bound to one column
is an `instant` (Appointment.start, meta.lastUpdated): a partial
dateTime is a range and needs its end, so those go to the side tables (or to an end column:
AuditEvent.recorded keeps its precision's end). A client's instant
is precise to the second or finer, so comparing it as a point is exact for search values
precise to the second or coarser; finer search values go to the side tables, which keep
the stored value's precision (`DateRange.coarsest`). They let the seed's hot
queries use composite B-tree indexes (`(subject, period_start DESC)`...) and ORDER BY
LIMIT scans. Every other supported parameter is answered from the side tables
(searchparams/index.py); both give the same results (tests/property checks search).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Code:
    """A scalar code (status, gender): its system is implied by the element's binding."""
    column: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A scalar reference, "Type/id" for local targets."""
    column: str


@dataclass(frozen=True, slots=True)
class Tokens:
    """Every "system|code" of the parameter's codings, in a text[] column."""
    column: str


@dataclass(frozen=True, slots=True)
class DateRange:
    """[start, end) in two columns (the same column twice for a point in time).

    `coarsest`: for a point, the coarsest precision a stored value may have (seconds for a
    client's instant), which the column cannot tell apart; None where the server writes it.
    `widest`: for a range, the most its end may lie after its start (an instant's precision
    is a second or finer), which gives every comparison a range on `start` an index can scan."""
    start: str
    end: str
    coarsest: timedelta | None = None
    widest: timedelta | None = None


Binding = Code | Ref | DateRange | Tokens

COMMON: dict[str, Binding] = {
    "_id": Code("id"),
    "_lastUpdated": DateRange("last_updated", "last_updated"),
}

BY_TYPE: dict[str, dict[str, Binding]] = {
    "Organization": {"partof": Ref("partof")},
    "Location": {"status": Code("status"), "organization": Ref("organization")},
    "Practitioner": {},
    "Patient": {"birthdate": DateRange("birth_date", "birth_date_end"), "gender": Code("gender"),
                "organization": Ref("organization")},
    "Encounter": {"status": Code("status"), "subject": Ref("subject"), "patient": Ref("subject"),
                  "service-provider": Ref("service_provider"), "date": DateRange("period_start", "period_end")},
    "Observation": {"status": Code("status"), "code": Tokens("code"), "subject": Ref("subject"),
                    "patient": Ref("subject"),
                    "encounter": Ref("encounter"), "date": DateRange("effective_start", "effective_end")},
    "Appointment": {"status": Code("status"), "date": DateRange("start_ts", "start_ts", SECOND)},
    "MedicationRequest": {"status": Code("status"), "intent": Code("intent"), "code": Tokens("code"),
                          "subject": Ref("subject"),
                          "patient": Ref("subject"), "encounter": Ref("encounter"),
                          "requester": Ref("requester")},
    "Claim": {"status": Code("status"), "use": Code("use"), "patient": Ref("patient"),
              "provider": Ref("provider")},
    # Column-only (searchparams.catalog.COLUMN_ONLY): these columns answer every search of
    # these parameters, so `recorded` keeps its precision's end (a client's AuditEvent may
    # say only the second) and type/subtype keep every token form.
    "AuditEvent": {"action": Code("action"), "outcome": Code("outcome"),
                   "date": DateRange("recorded", "recorded_end", widest=SECOND), "type": Tokens("type"),
                   "subtype": Tokens("subtype")},
}


def binding(resource_type: str, code: str) -> Binding | None:
    return BY_TYPE.get(resource_type, {}).get(code) or COMMON.get(code)
