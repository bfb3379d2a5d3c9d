"""How a search parameter is answered from a mapping's columns.

Each binding names the column(s) that hold the parameter's values, in the form the
write path stored them (mappings/extract.py). Parameters without a binding are
reported as unsupported (strict handling: 400; in the CapabilityStatement: absent).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenArray:
    """text[] of "S|C", "*|C", "S|" strings (extract.tokens_of)."""
    column: str


@dataclass(frozen=True, slots=True)
class Code:
    """A scalar code (status, gender): the system is fixed by the element's binding."""
    column: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A scalar "Type/id" reference."""
    column: str


@dataclass(frozen=True, slots=True)
class RefArray:
    column: str


@dataclass(frozen=True, slots=True)
class Text:
    """A normalised (case- and accent-folded) string, matched by prefix."""
    column: str


@dataclass(frozen=True, slots=True)
class DateRange:
    """[start, end) in two columns (the same column twice for a point in time)."""
    start: str
    end: str


Binding = TokenArray | Code | Ref | RefArray | Text | DateRange

COMMON: dict[str, Binding] = {
    "_id": Code("id"),
    "_lastUpdated": DateRange("last_updated", "last_updated"),
}

BY_TYPE: dict[str, dict[str, Binding]] = {
    "Organization": {"identifier": TokenArray("identifiers"), "name": Text("name"),
                     "partof": Ref("partof")},
    "Location": {"identifier": TokenArray("identifiers"), "name": Text("name"), "status": Code("status"),
                 "organization": Ref("organization")},
    "Practitioner": {"identifier": TokenArray("identifiers"), "family": Text("family"),
                     "given": Text("given")},
    "Patient": {"identifier": TokenArray("identifiers"), "family": Text("family"), "given": Text("given"),
                "birthdate": DateRange("birth_date", "birth_date_end"), "gender": Code("gender"),
                "organization": Ref("organization")},
    "Encounter": {"identifier": TokenArray("identifiers"), "status": Code("status"),
                  "subject": Ref("subject"), "patient": Ref("subject"),
                  "practitioner": Ref("practitioner"), "location": Ref("location"),
                  "service-provider": Ref("service_provider"),
                  "date": DateRange("period_start", "period_end")},
    "Observation": {"identifier": TokenArray("identifiers"), "status": Code("status"),
                    "category": TokenArray("category"), "code": TokenArray("code"),
                    "subject": Ref("subject"), "patient": Ref("subject"), "encounter": Ref("encounter"),
                    "date": DateRange("effective_start", "effective_end")},
    "Appointment": {"identifier": TokenArray("identifiers"), "status": Code("status"),
                    "date": DateRange("start_ts", "start_ts"), "patient": Ref("patient"),
                    "practitioner": Ref("practitioner"), "location": Ref("location")},
    "MedicationRequest": {"identifier": TokenArray("identifiers"), "status": Code("status"),
                          "intent": Code("intent"), "code": TokenArray("code"),
                          "subject": Ref("subject"), "patient": Ref("subject"),
                          "encounter": Ref("encounter"), "requester": Ref("requester"),
                          "authoredon": DateRange("authored_on", "authored_on")},
    "Claim": {"identifier": TokenArray("identifiers"), "status": Code("status"), "use": Code("use"),
              "patient": Ref("patient"), "provider": Ref("provider"),
              "created": DateRange("created", "created")},
    "AuditEvent": {"action": Code("action"), "outcome": Code("outcome"),
                   "date": DateRange("recorded", "recorded"), "agent": RefArray("agent"),
                   "entity": RefArray("entity")},
}


def binding(resource_type: str, code: str) -> Binding | None:
    return BY_TYPE.get(resource_type, {}).get(code) or COMMON.get(code)
