"""Hypothesis strategies for the resources the search properties store: one builder per type
(the six types searched first, the seven clinical types of tests/property/oracle_clinical.py,
AuditEvent (tests/property/oracle_audit.py), and the named types reverse chains search), built from the data types of
tests/property/oracle_elements.py and the pools of tests/property/oracle_pools.py.
"""

from __future__ import annotations

from functools import partial

from hypothesis import strategies as st

from tests.property.oracle import UCUM, date_interval
from tests.property.oracle_audit import audit_event
from tests.property.oracle_clinical import CLINICAL
from tests.property.oracle_elements import (
    address,
    coding,
    concept,
    contact_point,
    human_name,
    identifiers,
    maybe,
    period,
    put,
    quantity,
    reference,
)
from tests.property.oracle_pools import ACT_CODE, CATEGORY_CS, CC_TEXTS, DATE_TIMES, DATES, FAMILIES, INSTANTS, OTHER_CS
from tests.property.oracle_world import OTHER, World

# The smallest valid bodies of two types, for the close-ups and the regression tests.
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
MEDICATION_REQUEST = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                      "medicationCodeableConcept": {"text": "m"}, "subject": {"reference": f"{OTHER}/Patient/x1"}}


# --- resources, one builder per type -----------------------------------------------------------

@st.composite
def patient(draw, w: World) -> dict:
    r = {"resourceType": "Patient"}
    put(r, "identifier", draw(identifiers()))
    put(r, "active", draw(maybe(st.booleans())))
    put(r, "name", draw(st.lists(human_name(), max_size=2)))
    put(r, "telecom", draw(st.lists(contact_point(), max_size=2)))
    put(r, "gender", draw(maybe(st.sampled_from(["male", "female", "other", "unknown"]), 0.7)))
    put(r, "birthDate", draw(maybe(st.sampled_from(DATES), 0.7)))
    deceased = draw(st.sampled_from([None, None, "boolean", "dateTime"]))
    if deceased == "boolean":
        r["deceasedBoolean"] = draw(st.booleans())
    elif deceased == "dateTime":
        r["deceasedDateTime"] = draw(st.sampled_from(DATE_TIMES))
    put(r, "address", draw(st.lists(address(), max_size=2)))
    put(r, "managingOrganization", draw(maybe(reference(w, ("Organization",)))))
    put(r, "generalPractitioner", draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=2)))
    langs = draw(st.lists(concept(["en", "fr", "de-CH"], ("urn:ietf:bcp:47", None), ["English", "French"]),
                          max_size=2))
    put(r, "communication", [{"language": c} for c in langs])
    put(r, "link", [{"other": ref, "type": "seealso"}
                     for ref in draw(st.lists(reference(w, ("Patient",)), max_size=1))])
    return r


@st.composite
def observation(draw, w: World) -> dict:
    r = {"resourceType": "Observation"}
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["final", "preliminary", "amended", "cancelled"]))
    put(r, "category", draw(st.lists(concept(["vital-signs", "laboratory"], (CATEGORY_CS, None)), max_size=1)))
    r["code"] = draw(concept())
    put(r, "subject", draw(maybe(reference(w, ("Patient",), ("Group",)), 0.7)))
    put(r, "focus", draw(st.lists(reference(w, ("Patient", "Organization")), max_size=1)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    effective = draw(st.sampled_from([None, "dateTime", "Period", "instant", "Timing"]))
    if effective == "dateTime":
        r["effectiveDateTime"] = draw(st.sampled_from(DATE_TIMES))
    elif effective == "instant":
        r["effectiveInstant"] = draw(st.sampled_from(INSTANTS))
    elif effective == "Period":
        r["effectivePeriod"] = draw(period())
    elif effective == "Timing":
        r["effectiveTiming"] = {"event": draw(st.lists(st.sampled_from(DATE_TIMES), min_size=1, max_size=2,
                                                       unique=True))}
    put(r, "issued", draw(maybe(st.sampled_from(INSTANTS), 0.3)))
    put(r, "performer", draw(st.lists(reference(w, ("Practitioner", "Organization", "Patient")), max_size=2)))
    value = draw(st.sampled_from([None, "Quantity", "Quantity", "CodeableConcept", "string", "dateTime", "Period"]))
    if value == "Quantity":
        r["valueQuantity"] = draw(quantity())
    elif value == "CodeableConcept":
        r["valueCodeableConcept"] = draw(concept())
    elif value == "string":
        r["valueString"] = draw(st.sampled_from(CC_TEXTS + FAMILIES))
    elif value == "dateTime":
        r["valueDateTime"] = draw(st.sampled_from(DATE_TIMES))
    elif value == "Period":
        r["valuePeriod"] = draw(period())
    else:
        put(r, "dataAbsentReason", draw(maybe(concept(["unknown", "masked"], (None,)), 0.3)))
    put(r, "method", draw(maybe(concept(), 0.3)))
    components = []
    for _ in range(draw(st.integers(0, 2))):
        c = {"code": draw(concept())}
        kind = draw(st.sampled_from(["Quantity", "CodeableConcept", "absent"]))
        if kind == "Quantity":
            c["valueQuantity"] = draw(quantity())
        elif kind == "CodeableConcept":
            c["valueCodeableConcept"] = draw(concept())
        else:
            put(c, "dataAbsentReason", draw(maybe(concept(["unknown", "masked"], (None,)))))
        components.append(c)
    put(r, "component", components)
    return r


@st.composite
def encounter(draw, w: World) -> dict:
    r = {"resourceType": "Encounter"}
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["planned", "arrived", "in-progress", "finished", "cancelled"]))
    r["class"] = draw(coding(["AMB", "IMP", "ACUTE", "EMER"], (ACT_CODE, None), ["ambulatory", "inpatient"]))
    put(r, "type", draw(st.lists(concept(), max_size=2)))
    put(r, "subject", draw(maybe(reference(w, ("Patient",), ("Group",)), 0.7)))
    participants = []
    for _ in range(draw(st.integers(0, 2))):
        p = {}
        put(p, "type", draw(st.lists(concept(["ATND", "CON"], ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                                None)), max_size=1)))
        put(p, "individual", draw(maybe(reference(w, ("Practitioner",), ("PractitionerRole",)), 0.8)))
        put(p, "period", draw(maybe(period(), 0.3)))
        participants.append(p or {"individual": draw(reference(w, ("Practitioner",)))})
    put(r, "participant", participants)
    put(r, "period", draw(maybe(period(), 0.7)))
    put(r, "length", draw(maybe(quantity(["30", "30.0", "90", "1.5", "28", "34"],
                                          [("min", UCUM, "min"), ("h", UCUM, "h"), ("minutes", None, None)]))))
    put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    if draw(st.booleans()):
        r["hospitalization"] = {"specialArrangement": draw(st.lists(
            concept(["wheel", "int"], ("http://terminology.hl7.org/CodeSystem/encounter-special-arrangements", None)),
            min_size=1, max_size=2))}
    locations = draw(st.lists(st.tuples(reference(w, ("Location",)), maybe(period(), 0.5)), max_size=2))
    put(r, "location", [{"location": ref, **({"period": p} if p else {})} for ref, p in locations])
    put(r, "serviceProvider", draw(maybe(reference(w, ("Organization",)))))
    put(r, "partOf", draw(maybe(reference(w, ("Encounter",)), 0.3)))
    return r


@st.composite
def appointment(draw, w: World) -> dict:
    r = {"resourceType": "Appointment"}
    put(r, "identifier", draw(identifiers()))
    status = draw(st.sampled_from(["proposed", "pending", "booked", "cancelled", "noshow"]))
    r["status"] = status
    put(r, "serviceCategory", draw(st.lists(concept(), max_size=1)))
    put(r, "serviceType", draw(st.lists(concept(), max_size=1)))
    put(r, "specialty", draw(st.lists(concept(), max_size=1)))
    put(r, "appointmentType", draw(maybe(concept())))
    put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    if status not in ("proposed", "cancelled") or draw(st.booleans()):   # app-3
        a, b = sorted(draw(st.lists(st.sampled_from(INSTANTS), min_size=2, max_size=2)),
                      key=lambda d: date_interval(d)[0])
        r["start"], r["end"] = a, b
    r["participant"] = [
        {"actor": draw(reference(w, ("Patient", "Practitioner", "Location"))),
         "status": draw(st.sampled_from(["accepted", "declined", "tentative", "needs-action"]))}
        for _ in range(draw(st.integers(1, 2)))]
    return r


@st.composite
def medication_request(draw, w: World) -> dict:
    r = {"resourceType": "MedicationRequest"}
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["active", "on-hold", "completed", "stopped"]))
    r["intent"] = draw(st.sampled_from(["proposal", "plan", "order"]))
    put(r, "category", draw(st.lists(concept(["inpatient", "outpatient"], (None, OTHER_CS)), max_size=1)))
    put(r, "priority", draw(maybe(st.sampled_from(["routine", "urgent", "stat"]))))
    r["medicationCodeableConcept"] = draw(concept(["1049502", "308136", "abc"],
                                                  ("http://www.nlm.nih.gov/research/umls/rxnorm", None)))
    r["subject"] = draw(reference(w, ("Patient",), ("Group",)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    put(r, "authoredOn", draw(maybe(st.sampled_from(DATE_TIMES), 0.7)))
    put(r, "requester", draw(maybe(reference(w, ("Practitioner", "Organization", "Patient")))))
    put(r, "performer", draw(maybe(reference(w, ("Practitioner", "Organization", "Patient")))))
    put(r, "performerType", draw(maybe(concept(), 0.3)))
    dosage = [{"timing": {"event": draw(st.lists(st.sampled_from(DATE_TIMES), min_size=1, max_size=2, unique=True))}}
              for _ in range(draw(st.integers(0, 2)))]
    put(r, "dosageInstruction", dosage)
    if draw(st.booleans()):
        r["dispenseRequest"] = {"performer": draw(reference(w, ("Organization",)))}
    return r


@st.composite
def claim(draw, w: World) -> dict:
    r = {"resourceType": "Claim"}
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["active", "cancelled", "draft"]))
    r["type"] = draw(concept(["oral", "pharmacy"], ("http://terminology.hl7.org/CodeSystem/claim-type", None)))
    r["use"] = draw(st.sampled_from(["claim", "preauthorization", "predetermination"]))
    r["patient"] = draw(reference(w, ("Patient",)))
    r["created"] = draw(st.sampled_from(DATE_TIMES))
    put(r, "enterer", draw(maybe(reference(w, ("Practitioner",), ("PractitionerRole",)))))
    r["provider"] = draw(reference(w, ("Practitioner", "Organization")))
    r["priority"] = draw(concept(["stat", "normal"], ("http://terminology.hl7.org/CodeSystem/processpriority", None)))
    if draw(st.booleans()):
        r["payee"] = {"type": {"coding": [{"code": "provider"}]},
                      "party": draw(reference(w, ("Practitioner", "Organization", "Patient")))}
    put(r, "facility", draw(maybe(reference(w, ("Location",)))))
    put(r, "careTeam", [{"sequence": i + 1, "provider": ref} for i, ref in enumerate(
        draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=2)))])
    r["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"reference": f"{OTHER}/Coverage/c1"}}]
    items = []
    for i in range(draw(st.integers(0, 2))):
        item = {"sequence": i + 1, "productOrService": draw(concept())}
        put(item, "encounter", draw(st.lists(reference(w, ("Encounter",)), max_size=1)))
        items.append(item)
    put(r, "item", items)
    return r


BUILDERS = {"Patient": patient, "Observation": observation, "Encounter": encounter, "Appointment": appointment,
            "MedicationRequest": medication_request, "Claim": claim, **CLINICAL, "AuditEvent": audit_event}


@st.composite
def named(draw, type_name: str, w: World) -> dict:
    """A Practitioner (a HumanName), Organization or Location (a name), now and then identifiers."""
    r = {"resourceType": type_name}
    if type_name == "Practitioner":
        r["name"] = [draw(human_name())]
    else:
        r["name"] = draw(st.sampled_from(["Org A", "Ward 1", "Zed"]))
    put(r, "identifier", draw(identifiers()))
    return r


# The types a _has search returns here (the ones the builders' references point at), with a
# builder of candidates for each.
HAS_TARGETS = {"Patient": patient, "Encounter": encounter,
               **{t: partial(named, t) for t in ("Practitioner", "Organization", "Location")}}
