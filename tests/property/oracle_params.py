"""What the search properties search: for each of the six types, the parameters they draw
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
    pass


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
}

# Observation's composite parameters, with the kind of their value part.
COMPOSITES = {"code-value-quantity": "quantity", "code-value-concept": "token", "code-value-date": "date",
              "code-value-string": "string", "component-code-value-quantity": "quantity",
              "component-code-value-concept": "token", "combo-code-value-quantity": "quantity",
              "combo-code-value-concept": "token"}


def _referrers(target: str) -> tuple[tuple[str, str], ...]:
    """(type, reference parameter) of the searched parameters whose R4 definition lets them point
    at `target` (`_has:[type]:[parameter]:...` on `target`)."""
    return tuple((s, code) for s in sorted(BUILDERS) for code, kind in sorted(SEARCHED[s].items())
                 if isinstance(kind, Ref) and target in params_for(s)[code].targets)


REFERRERS = {t: _referrers(t) for t in HAS_TARGETS}
