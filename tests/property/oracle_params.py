"""What the search properties search: for each of the fourteen types, the parameters they draw
clauses over and the kind of value each takes (a string, a token of some kind, a date, a
quantity, a reference, a uri); Observation's composite parameters; and the reference
parameters through which `_has` reaches each type it searches.

Every parameter here is one the server declares supported with this R4 type
(test_every_searched_parameter_is_supported).
"""

from __future__ import annotations

from dataclasses import dataclass

from searchparams.registry import params_for
from tests.property import oracle_pools as pool
from tests.property.oracle import IMPLICIT_SYSTEMS, UCUM
from tests.property.oracle_audit import AUDIT_DATE_QUERIES, AUDIT_TYPE, DCM, RESTFUL
from tests.property.oracle_resources import BUILDERS, HAS_TARGETS
from tests.property.oracle_world import TAG_SYSTEM

# --- kinds of search value ------------------------------------------------------------------------

@dataclass(frozen=True)
class Str:
    words: tuple[str, ...]


@dataclass(frozen=True)
class Phon:
    """A `phonetic` parameter: names and spellings that sound alike, or not."""
    words: tuple[str, ...]


@dataclass(frozen=True)
class Tok:
    """kind: coding (Coding/CodeableConcept), identifier, contact, code (primitive with an implied
    system), boolean, id."""
    kind: str
    systems: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    implicit: str | None = None
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dt:
    """near: half the search dates are derived from the stored values at the edges of their
    precision (tests/property/oracle_audit.near_date), from `queries` otherwise (else the pool's)."""
    near: bool = False
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Qty:
    numbers: tuple[str, ...] = tuple(pool.QTY_QUERIES)
    units: tuple[tuple[str, ...], ...] = tuple(pool.QTY_UNIT_QUERIES)


@dataclass(frozen=True)
class Ref:
    types: tuple[str, ...]


@dataclass(frozen=True)
class Uri:
    uris: tuple[str, ...]


NAME_WORDS = tuple(pool.FAMILIES + pool.GIVENS + pool.NAME_AFFIXES + pool.NAME_TEXTS)
ADDRESS_WORDS = tuple(pool.LINES + pool.CITIES + pool.STATES + pool.POSTAL + pool.COUNTRIES)
CODING = Tok("coding",
             (pool.LOINC, pool.OTHER_CS, pool.CATEGORY_CS, "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
             tuple(pool.CODES) + ("vital-signs", "unknown", "AMB", "IMP", "ACUTE", "wheel", "ATND", "inpatient", "stat",
                                  "oral", "1049502"),
             texts=tuple(pool.CC_TEXTS + pool.DISPLAYS))
IDENTIFIER = Tok("identifier", tuple(pool.ID_SYSTEMS) + ("http://c.test/id",), tuple(pool.ID_VALUES) + ("12",),
                 texts=tuple(t for _, t in pool.ID_TYPES) + ("driver",))
CONTACT = Tok("contact", ("phone", "email"), tuple(v for vs in pool.CP_VALUES.values() for v in vs))
BOOLEAN = Tok("boolean", (), ("true", "false"))


def code_of(type_name: str, param: str, codes: list[str]) -> Tok:
    return Tok("code", ("http://other.test/cs",), tuple(codes), IMPLICIT_SYSTEMS[(type_name, param)])


CLINICIANS = Ref(("Practitioner", "Patient"))
AGE = Qty(tuple(pool.AGE_QUERIES), tuple(pool.AGE_UNIT_QUERIES))


def status_of(system: str, codes: list[str]) -> Tok:
    """A status CodeableConcept of one of R4's code systems (oracle_clinical.status_concept)."""
    return Tok("coding", (system, pool.OTHER_CS), tuple(codes), texts=tuple(pool.DISPLAYS))


COMMON = {"_id": Tok("id"), "_lastUpdated": Dt(), "identifier": IDENTIFIER,
          "_tag": Tok("coding", (pool.TAG_POOL, TAG_SYSTEM), ("a", "b", "A")),
          "_security": Tok("coding", (pool.CONFIDENTIALITY,), ("R", "N", "V")),
          "_profile": Uri(tuple(pool.PROFILES)), "_source": Uri(tuple(pool.SOURCES))}
SEARCHED: dict[str, dict[str, object]] = {
    "Patient": {
        **COMMON, "active": BOOLEAN, "deceased": BOOLEAN,
        "name": Str(NAME_WORDS), "family": Str(tuple(pool.FAMILIES)), "given": Str(tuple(pool.GIVENS)),
        "phonetic": Phon(tuple(pool.FAMILIES + pool.GIVENS)
                         + ("Smithe", "SMYTHE", "Brian", "Dyck", "Joe", "Zoey", "ann")),
        "address": Str(ADDRESS_WORDS), "address-city": Str(tuple(pool.CITIES)),
        "address-state": Str(tuple(pool.STATES)), "address-postalcode": Str(tuple(pool.POSTAL)),
        "address-country": Str(tuple(pool.COUNTRIES)),
        "address-use": code_of("Patient", "address-use", ["home", "work", "temp"]),
        "gender": code_of("Patient", "gender", ["male", "female", "other", "unknown"]),
        "birthdate": Dt(), "death-date": Dt(),
        "telecom": CONTACT, "phone": CONTACT, "email": CONTACT,
        "language": Tok("coding", ("urn:ietf:bcp:47",), ("en", "fr", "de-CH", "EN"), texts=("English", "fr")),
        "organization": Ref(("Organization",)), "general-practitioner": Ref(("Practitioner", "Organization")),
        "link": Ref(("Patient",)),
    },
    "Observation": {
        **COMMON, "status": code_of("Observation", "status", ["final", "preliminary", "amended", "cancelled"]),
        "code": CODING, "category": CODING, "combo-code": CODING, "component-code": CODING, "method": CODING,
        "value-concept": CODING, "combo-value-concept": CODING, "component-value-concept": CODING,
        "data-absent-reason": CODING, "combo-data-absent-reason": CODING, "component-data-absent-reason": CODING,
        "date": Dt(), "value-date": Dt(),
        "value-quantity": Qty(), "combo-value-quantity": Qty(), "component-value-quantity": Qty(),
        "value-string": Str(tuple(pool.CC_TEXTS + pool.FAMILIES)),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "performer": Ref(("Practitioner", "Organization", "Patient")), "focus": Ref(("Patient", "Organization")),
    },
    "Encounter": {
        **COMMON, "status": code_of("Encounter", "status", ["planned", "arrived", "finished", "cancelled"]),
        "class": CODING, "type": CODING, "reason-code": CODING, "special-arrangement": CODING,
        "participant-type": CODING, "date": Dt(), "location-period": Dt(),
        "length": Qty(("30", "30.0", "90", "1.5", "2", "28"), ((), (UCUM, "min"), ("", "min"), ("", "minutes"))),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)),
        "participant": Ref(("Practitioner", "PractitionerRole")), "practitioner": Ref(("Practitioner",)),
        "location": Ref(("Location",)), "service-provider": Ref(("Organization",)), "part-of": Ref(("Encounter",)),
    },
    "Appointment": {
        **COMMON, "status": code_of("Appointment", "status", ["proposed", "booked", "cancelled", "noshow"]),
        "part-status": code_of("Appointment", "part-status", ["accepted", "declined", "tentative"]),
        "appointment-type": CODING, "service-category": CODING, "service-type": CODING, "specialty": CODING,
        "reason-code": CODING, "date": Dt(),
        "actor": Ref(("Patient", "Practitioner", "Location")), "patient": Ref(("Patient",)),
        "practitioner": Ref(("Practitioner",)), "location": Ref(("Location",)),
    },
    "MedicationRequest": {
        **COMMON, "status": code_of("MedicationRequest", "status", ["active", "on-hold", "completed", "stopped"]),
        "intent": code_of("MedicationRequest", "intent", ["proposal", "plan", "order"]),
        "priority": code_of("MedicationRequest", "priority", ["routine", "urgent", "stat"]),
        "category": CODING, "code": Tok("coding", ("http://www.nlm.nih.gov/research/umls/rxnorm", pool.OTHER_CS),
                                        ("1049502", "308136", "abc"), texts=tuple(pool.CC_TEXTS)),
        "intended-performertype": CODING, "authoredon": Dt(), "date": Dt(),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "requester": Ref(("Practitioner", "Organization", "Patient")),
        "intended-performer": Ref(("Practitioner", "Organization", "Patient")),
        "intended-dispenser": Ref(("Organization",)),
    },
    "Claim": {
        **COMMON, "status": code_of("Claim", "status", ["active", "cancelled", "draft"]),
        "use": code_of("Claim", "use", ["claim", "preauthorization"]),
        "priority": CODING, "created": Dt(),
        "patient": Ref(("Patient",)), "provider": Ref(("Practitioner", "Organization")),
        "enterer": Ref(("Practitioner",)), "facility": Ref(("Location",)), "encounter": Ref(("Encounter",)),
        "care-team": Ref(("Practitioner", "Organization")), "payee": Ref(("Practitioner", "Organization", "Patient")),
    },
    "Condition": {
        **COMMON, "clinical-status": status_of(pool.CONDITION_CLINICAL, ["active", "relapse", "inactive", "resolved"]),
        "verification-status": status_of(pool.CONDITION_VERIFICATION, ["unconfirmed", "provisional", "confirmed"]),
        "category": Tok("coding", (pool.CONDITION_CATEGORY, pool.OTHER_CS),
                        ("problem-list-item", "encounter-diagnosis"), texts=tuple(pool.CC_TEXTS)),
        "severity": CODING, "code": CODING, "body-site": CODING, "stage": CODING, "evidence": CODING,
        "onset-date": Dt(), "abatement-date": Dt(), "recorded-date": Dt(), "onset-age": AGE, "abatement-age": AGE,
        "onset-info": Str(tuple(pool.ONSET_TEXTS)), "abatement-string": Str(tuple(pool.ONSET_TEXTS)),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "asserter": CLINICIANS,
    },
    "Procedure": {
        **COMMON, "status": code_of("Procedure", "status", ["preparation", "completed", "stopped", "unknown"]),
        "category": CODING, "code": CODING, "reason-code": CODING, "date": Dt(),
        "instantiates-uri": Uri(tuple(pool.DOC_URLS)), "instantiates-canonical": Ref(("PlanDefinition",)),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "performer": Ref(("Practitioner", "Organization", "Patient")), "location": Ref(("Location",)),
        "based-on": Ref(("ServiceRequest",)), "part-of": Ref(("Procedure", "Observation")),
        "reason-reference": Ref(("Condition", "Observation")),
    },
    "Immunization": {
        **COMMON, "status": code_of("Immunization", "status", ["completed", "not-done", "entered-in-error"]),
        "status-reason": CODING, "vaccine-code": CODING, "reason-code": CODING, "target-disease": CODING,
        "date": Dt(), "reaction-date": Dt(),
        "lot-number": Str(tuple(pool.LOT_NUMBERS)), "series": Str(tuple(pool.SERIES)),
        "patient": Ref(("Patient",)), "location": Ref(("Location",)), "manufacturer": Ref(("Organization",)),
        "performer": Ref(("Practitioner", "Organization")), "reaction": Ref(("Observation",)),
        "reason-reference": Ref(("Condition", "Observation")),
    },
    "AllergyIntolerance": {
        **COMMON, "clinical-status": status_of(pool.ALLERGY_CLINICAL, ["active", "inactive", "resolved"]),
        "verification-status": status_of(pool.ALLERGY_VERIFICATION, ["unconfirmed", "confirmed", "refuted"]),
        "type": code_of("AllergyIntolerance", "type", ["allergy", "intolerance"]),
        "category": code_of("AllergyIntolerance", "category", ["food", "medication", "biologic"]),
        "criticality": code_of("AllergyIntolerance", "criticality", ["low", "high", "unable-to-assess"]),
        "severity": code_of("AllergyIntolerance", "severity", ["mild", "moderate", "severe"]),
        "code": CODING, "manifestation": CODING, "route": CODING, "date": Dt(), "last-date": Dt(), "onset": Dt(),
        "patient": Ref(("Patient",)), "recorder": CLINICIANS, "asserter": CLINICIANS,
    },
    "DiagnosticReport": {
        **COMMON, "status": code_of("DiagnosticReport", "status", ["registered", "partial", "final", "amended"]),
        "category": Tok("coding", (pool.DIAGNOSTIC_SERVICE, pool.OTHER_CS), ("LAB", "RAD", "HM"),
                        texts=tuple(pool.CC_TEXTS)),
        "code": CODING, "conclusion": CODING, "date": Dt(), "issued": Dt(),
        "subject": Ref(("Patient", "Location", "Group")), "patient": Ref(("Patient",)),
        "encounter": Ref(("Encounter",)), "performer": Ref(("Practitioner", "Organization")),
        "results-interpreter": Ref(("Practitioner", "Organization")), "specimen": Ref(("Specimen",)),
        "result": Ref(("Observation",)), "media": Ref(("Media",)),
        "based-on": Ref(("ServiceRequest", "MedicationRequest")),
    },
    "DocumentReference": {
        **COMMON, "status": code_of("DocumentReference", "status", ["current", "superseded", "entered-in-error"]),
        "relation": code_of("DocumentReference", "relation", ["replaces", "transforms", "signs"]),
        "contenttype": code_of("DocumentReference", "contenttype", pool.MIME_TYPES),
        # Attachment.language: a preferred binding only, so no system is implied (oracle.token_match).
        "language": Tok("code", ("urn:ietf:bcp:47",), tuple(pool.LANGUAGES) + ("EN",)),
        "type": CODING, "category": CODING, "event": CODING, "facility": CODING, "setting": CODING,
        "format": CODING, "security-label": Tok("coding", (pool.CONFIDENTIALITY,), ("R", "N", "V")),
        "date": Dt(), "period": Dt(), "description": Str(tuple(pool.DESCRIPTIONS)),
        "location": Uri(tuple(pool.DOC_URLS)),
        "subject": Ref(("Patient", "Practitioner", "Group")), "patient": Ref(("Patient",)),
        "encounter": Ref(("Encounter",)), "author": Ref(("Practitioner", "Organization", "Patient")),
        "authenticator": Ref(("Practitioner", "Organization")), "custodian": Ref(("Organization",)),
        "relatesto": Ref(("DocumentReference",)), "related": Ref(("Patient", "Encounter")),
    },
    "Goal": {
        **COMMON, "lifecycle-status": code_of("Goal", "lifecycle-status", ["proposed", "accepted", "active"]),
        "achievement-status": status_of(pool.GOAL_ACHIEVEMENT, ["in-progress", "improving", "achieved"]),
        "category": CODING, "start-date": Dt(), "target-date": Dt(),
        "subject": Ref(("Patient", "Organization", "Group")), "patient": Ref(("Patient",)),
    },
    # action, outcome, date, type and subtype are column-only (searchparams.catalog.COLUMN_ONLY):
    # every modifier but :text (refused there, a 400; so no `texts`). No `identifier` in R4.
    "AuditEvent": {
        **{k: v for k, v in COMMON.items() if k != "identifier"},
        "action": code_of("AuditEvent", "action", ["C", "R", "U", "D", "E"]),
        "outcome": code_of("AuditEvent", "outcome", ["0", "4", "8", "12"]),
        "date": Dt(near=True, queries=tuple(AUDIT_DATE_QUERIES)),
        "type": Tok("coding", (AUDIT_TYPE, DCM, pool.OTHER_CS), ("rest", "110110", "110112", "nosys", "abc")),
        "subtype": Tok("coding", (RESTFUL, DCM, pool.OTHER_CS),
                       ("read", "vread", "search", "search-type", "history", "create", "110120", "abc")),
        "agent": CLINICIANS, "entity": Ref(("Patient", "Observation")), "patient": Ref(("Patient",)),
    },
}

# Observation's composite parameters, with the kind of their value part.
COMPOSITES = {"code-value-quantity": "quantity", "code-value-concept": "token", "code-value-date": "date",
              "code-value-string": "string", "component-code-value-quantity": "quantity",
              "component-code-value-concept": "token", "combo-code-value-quantity": "quantity",
              "combo-code-value-concept": "token"}


def _referrers(target: str) -> tuple[tuple[str, str], ...]:
    """(type, reference parameter) of the searched parameters whose R4 definition lets them point
    at `target` (`_has:[type]:[parameter]:...` on `target`). Not AuditEvent: the server writes one
    for every request, referring to what the request touched (the candidates too), and the oracle
    does not know those."""
    return tuple((s, code) for s in sorted(BUILDERS) if s != "AuditEvent"
                 for code, kind in sorted(SEARCHED[s].items())
                 if isinstance(kind, Ref) and target in params_for(s)[code].targets)


REFERRERS = {t: _referrers(t) for t in HAS_TARGETS}
