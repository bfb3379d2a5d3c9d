"""AuditEvent resources for accesses to health data, in the shape of IHE BALP.

Pure functions: the request path describes who called (`Actor`) and what happened
(`Access`); `audit_event` turns that into an R4 (4.0.1) AuditEvent, and `patients_in`
finds the patients a stored resource is about. The shape follows IHE Basic Audit Log
Patterns (BALP) so that an auditor's tools read it, and every value a BALP query needs
sits where an official AuditEvent search parameter indexes it:

    agent   AuditEvent.agent.who       the user (fhirUser; :identifier for the token's sub)
                                       and the client application
    entity  AuditEvent.entity.what     the resources touched, the patients
    patient ...what.where(resolve() is Patient)
    type, subtype, outcome, action, date (recorded): the event's own columns

The client's address, the tenant (source.site) and the roles are in every event but not
indexed (searchparams.catalog.NOT_INDEXED): each index row is paid on every request.

A search records its query (entity.query, base64Binary in R4) and the patients whose
data came back; it does not list every resource returned (BALP does not either, and a
page of 1,000 results would make a 1,000-entity event).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from fhirserver.fhirtime import instant_text

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
OBSERVER = "fhirserver"

# BALP: a read is R, a query (search, and listing histories of many resources) is E
# ("execute"), writes are C/U/D, operations and Bundles are E.
ACTIONS: dict[str, str] = {
    "read": "R", "vread": "R", "history-instance": "R",
    "search-type": "E", "search-system": "E", "history-type": "E", "history-system": "E",
    "create": "C", "update": "U", "patch": "U", "delete": "D",
    "transaction": "E", "batch": "E", "operation": "E",
}
# The codings that search parameters index (type, entity-type, entity-role) carry no display:
# each display is one more index row (for :text) on every event, about a tenth of what an
# event costs to write; the codes are the standard ones, and their displays are the code
# systems'. The agents' codings, which nothing indexes, keep theirs.
_SYSTEM_OBJECT = {"system": ENTITY_TYPE, "code": "2"}     # System Object
_PERSON = {"system": ENTITY_TYPE, "code": "1"}            # Person
_ROLE_PATIENT = {"system": OBJECT_ROLE, "code": "1"}      # Patient
_ROLE_QUERY = {"system": OBJECT_ROLE, "code": "24"}       # Query
_REST = {"system": EVENT_TYPE, "code": "rest"}            # RESTful Operation
_APPLICATION = {"system": DCM, "code": "110150", "display": "Application"}
_RECIPIENT = {"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}
_AUTHOR = {"system": PARTICIPATION, "code": "AUT", "display": "author (originator)"}

# A reference to a Patient in stored JSON (compact, as the server writes it, or spaced):
# relative, absolute (any base), or versioned. Group 1 is the id.
_PATIENT_REF = re.compile(
    r'"reference"\s*:\s*"(?:[^"]*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^"]*)?"')


@dataclass(frozen=True, slots=True)
class Actor:
    """Who called: the token's claims, and where the request came from."""

    sub: str | None
    client_id: str | None
    fhir_user: str | None          # "Practitioner/123", or absolute under this server's base
    address: str | None            # the client's IP address
    anonymous: bool = False        # no token at all (a server allowed to run without auth)
    issuer: str | None = None      # the token's `iss`: a `sub` is unique only per issuer


@dataclass(frozen=True, slots=True)
class Access:
    """What happened: one FHIR interaction and its answer."""

    interaction: str | None        # a restful-interaction code (ACTIONS); None: refused before routing
    resource_type: str | None
    ids: tuple[str, ...]           # resources touched, "Type/id"
    query: str | None              # the query string, for searches
    patients: tuple[str, ...]      # "Patient/id" whose data came back or was touched
    status: int                    # the HTTP status answered
    tenant: str                    # the tenant's slug
    base_url: str                  # the tenant's base URL


def outcome_of(status: int) -> str:
    """R4 AuditEvent.outcome: 0 success, 4 minor failure (refused, invalid), 8 serious (server)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def audit_event(actor: Actor, access: Access, recorded: datetime) -> dict:
    """The AuditEvent for one access (no id or meta: the audit log assigns them)."""
    action = ACTIONS.get(access.interaction or "", "E")
    event: dict = {
        "resourceType": "AuditEvent",
        "type": _REST,
        "action": action,
        "recorded": instant_text(recorded),
        "outcome": outcome_of(access.status),
    }
    if access.interaction is not None:
        event["subtype"] = [{"system": INTERACTION, "code": access.interaction}]
    if event["outcome"] != "0":
        event["outcomeDesc"] = f"HTTP {access.status}"
    event["agent"] = _agents(actor, action in ("R", "E"), access.base_url)
    event["source"] = _source(access.tenant, access.base_url)
    entities = _entities(access)
    if entities:
        event["entity"] = entities
    return event


def _relative(reference: str, base_url: str) -> str:
    prefix = base_url.rstrip("/") + "/"
    return reference[len(prefix):] if base_url and reference.startswith(prefix) else reference


# The elements that repeat from one event to the next are built once and shared by the
# events (nothing changes an event after it is built; the audit log only serializes it).
@lru_cache(maxsize=1024)
def _source(tenant: str, base_url: str) -> dict:
    return {"site": tenant, "observer": {"identifier": {"system": "urn:ietf:rfc:3986", "value": base_url},
                                         "display": OBSERVER},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]}


@lru_cache(maxsize=4096)
def _agents(actor: Actor, receives: bool, base_url: str) -> list[dict]:
    """The user (the requestor) and, when the token names one, the client application."""
    user: dict = {"type": {"coding": [_RECIPIENT if receives else _AUTHOR]}, "requestor": True}
    who: dict = {}
    if actor.fhir_user:
        who["reference"] = _relative(actor.fhir_user, base_url)
    if actor.sub:
        who["identifier"] = {"value": actor.sub, **({"system": actor.issuer} if actor.issuer else {})}
    if not who:   # nobody identified: say which kind of nobody
        who["display"] = user["name"] = "anonymous" if actor.anonymous else "unidentified"
    user["who"] = who
    if actor.address:
        user["network"] = {"address": actor.address, "type": "2"}   # 2 = IP address
    agents = [user]
    if actor.client_id:
        agents.append({"type": {"coding": [_APPLICATION]}, "requestor": False,
                       "who": {"identifier": {"value": actor.client_id}, "display": actor.client_id}})
    return agents


def _entities(access: Access) -> list[dict]:
    out: list[dict] = []
    if access.query is not None:
        out.append({"type": _SYSTEM_OBJECT, "role": _ROLE_QUERY,
                    "query": base64.b64encode(access.query.encode()).decode("ascii")})
    # A touched Patient is one entity, in the Patient role, not a second System Object.
    patients = dict.fromkeys([*access.patients, *(r for r in access.ids if r.startswith("Patient/"))])
    out += [{"what": {"reference": ref}, "type": _SYSTEM_OBJECT}
            for ref in dict.fromkeys(access.ids) if ref not in patients]
    out += [{"what": {"reference": ref}, "type": _PERSON, "role": _ROLE_PATIENT} for ref in patients]
    return out


def patients_in(resource_type: str, id_: str, text: str) -> set[str]:
    """The patients a stored resource (its JSON text) is about: every Patient reference in
    it, and the resource itself if it is a Patient. A regex, not a parse: this runs for
    every resource a search returns. It may also count a reference to a patient of another
    server, or a patient merely mentioned (a link); for an audit, more is the safe side."""
    found = {f"Patient/{m}" for m in _PATIENT_REF.findall(text)}
    if resource_type == "Patient":
        found.add(f"Patient/{id_}")
    return found
