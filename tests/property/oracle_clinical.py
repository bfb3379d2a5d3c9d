"""Hypothesis strategies for the clinical types the search properties store besides the first six
types: Condition, Procedure, Immunization, AllergyIntolerance, DiagnosticReport, DocumentReference
and Goal (the server keeps them on its shared tables, behind a view per type). Valid R4 resources,
their invariants kept, with values from tests/property/oracle_pools.py and references to the
world's pool resources, so that searches hit.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from tests.property.oracle import UCUM
from tests.property.oracle_elements import (
    coding,
    concept,
    identifier,
    identifiers,
    maybe,
    period,
    put,
    quantity,
    reference,
)
from tests.property.oracle_pools import (
    AGE_UNITS,
    AGE_VALUES,
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    DATE_TIMES,
    DESCRIPTIONS,
    DIAGNOSTIC_SERVICE,
    DOC_URLS,
    GOAL_ACHIEVEMENT,
    INSTANTS,
    LANGUAGES,
    LOT_NUMBERS,
    MIME_TYPES,
    ONSET_TEXTS,
    SERIES,
)
from tests.property.oracle_world import OTHER, World

# `date`-typed elements (Goal.start[x], Goal.target.due[x]) take the pool's dateTimes without a time.
DAYS = [d for d in DATE_TIMES if "T" not in d]
CLINICIANS = ("Practitioner", "Patient")


def age():
    return quantity(AGE_VALUES, AGE_UNITS)


@st.composite
def age_range(draw) -> dict:
    """A Range of two ages in one unit, low not above high (rng-2); now and then one end only."""
    unit = draw(st.sampled_from(AGE_UNITS))
    low, high = sorted(draw(st.lists(st.sampled_from(AGE_VALUES), min_size=2, max_size=2)), key=Decimal)
    ends = {"low": draw(quantity([low], [unit])), "high": draw(quantity([high], [unit]))}
    keep = draw(st.sampled_from([("low", "high"), ("low",), ("high",)]))
    return {k: ends[k] for k in keep}


@st.composite
def choice(draw, name: str, kinds: list[str | None]) -> dict:
    """`name`[x] as one of `kinds` (None: absent): a dateTime, Period, Age, Range or string."""
    kind = draw(st.sampled_from(kinds))
    if kind is None:
        return {}
    return {name + kind: draw({"DateTime": st.sampled_from(DATE_TIMES), "Period": period(), "Age": age(),
                               "Range": age_range(), "String": st.sampled_from(ONSET_TEXTS)}[kind])}


def status_concept(system: str, codes: list[str]):
    """A status CodeableConcept: a coding of R4's system (now and then a second one elsewhere)."""
    return st.builds(lambda code, more: {"coding": [{"system": system, "code": code}, *more]},
                     st.sampled_from(codes), st.lists(coding(), max_size=1))


@st.composite
def condition(draw, w: World) -> dict:
    r = {"resourceType": "Condition"}
    put(r, "identifier", draw(identifiers()))
    abated = draw(st.booleans())
    # con-4: an abated condition is inactive, remission or resolved (by a coding of that system);
    # con-5: no clinicalStatus when entered-in-error, which is never drawn.
    clinical = ["inactive", "remission", "resolved"] + ([] if abated else ["active", "recurrence", "relapse"])
    put(r, "clinicalStatus", draw(status_concept(CONDITION_CLINICAL, clinical)) if abated else
        draw(maybe(status_concept(CONDITION_CLINICAL, clinical), 0.8)))
    put(r, "verificationStatus", draw(maybe(status_concept(
        CONDITION_VERIFICATION, ["unconfirmed", "provisional", "differential", "confirmed", "refuted"]))))
    put(r, "category", draw(st.lists(concept(["problem-list-item", "encounter-diagnosis"],
                                             (CONDITION_CATEGORY, None)), max_size=1)))
    put(r, "severity", draw(maybe(concept(), 0.3)))
    put(r, "code", draw(maybe(concept(), 0.8)))
    put(r, "bodySite", draw(st.lists(concept(), max_size=1)))
    r["subject"] = draw(reference(w, ("Patient",), ("Group",)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    # No Range: what a quantity search makes of one R4 leaves open (oracle.quantity_match), and one
    # Range among the example's resources would leave every onset-age search uncompared.
    r.update(draw(choice("onset", [None, "DateTime", "DateTime", "Period", "Age", "String"])))
    if abated:
        r.update(draw(choice("abatement", ["DateTime", "Period", "Age", "String"])))
    put(r, "recordedDate", draw(maybe(st.sampled_from(DATE_TIMES))))
    put(r, "recorder", draw(maybe(reference(w, CLINICIANS), 0.3)))
    put(r, "asserter", draw(maybe(reference(w, CLINICIANS), 0.3)))
    put(r, "stage", [{"summary": c} for c in draw(st.lists(concept(), max_size=1))])
    put(r, "evidence", [{"code": [c]} for c in draw(st.lists(concept(), max_size=2))])
    return r


@st.composite
def procedure(draw, w: World) -> dict:
    r = {"resourceType": "Procedure"}
    put(r, "identifier", draw(identifiers()))
    put(r, "instantiatesCanonical", draw(st.lists(st.just(f"{OTHER}/PlanDefinition/x1"), max_size=1)))
    put(r, "instantiatesUri", draw(st.lists(st.sampled_from(DOC_URLS), max_size=2, unique=True)))
    put(r, "basedOn", draw(st.lists(reference(w, ("ServiceRequest",)), max_size=1)))
    put(r, "partOf", draw(st.lists(reference(w, ("Procedure", "Observation")), max_size=1)))
    r["status"] = draw(st.sampled_from(["preparation", "in-progress", "completed", "stopped", "unknown"]))
    put(r, "category", draw(maybe(concept())))
    put(r, "code", draw(maybe(concept(), 0.8)))
    r["subject"] = draw(reference(w, ("Patient",), ("Group",)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    r.update(draw(choice("performed", [None, "DateTime", "DateTime", "Period", "Period", "Age", "Range", "String"])))
    put(r, "performer", [{"actor": ref} for ref in draw(st.lists(
        reference(w, ("Practitioner", "Organization", "Patient")), max_size=2))])
    put(r, "location", draw(maybe(reference(w, ("Location",)))))
    put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    put(r, "reasonReference", draw(st.lists(reference(w, ("Condition", "Observation")), max_size=1)))
    return r


@st.composite
def immunization(draw, w: World) -> dict:
    r = {"resourceType": "Immunization"}
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["completed", "not-done", "entered-in-error"]))
    put(r, "statusReason", draw(maybe(concept(), 0.3)))
    r["vaccineCode"] = draw(concept())
    r["patient"] = draw(reference(w, ("Patient",)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    kind = draw(st.sampled_from(["DateTime", "DateTime", "DateTime", "String"]))
    r["occurrence" + kind] = draw(st.sampled_from(DATE_TIMES if kind == "DateTime" else ONSET_TEXTS))
    put(r, "location", draw(maybe(reference(w, ("Location",)))))
    put(r, "manufacturer", draw(maybe(reference(w, ("Organization",)))))
    put(r, "lotNumber", draw(maybe(st.sampled_from(LOT_NUMBERS))))
    put(r, "performer", [{"actor": ref} for ref in draw(st.lists(
        reference(w, ("Practitioner", "Organization")), max_size=2))])
    put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    put(r, "reasonReference", draw(st.lists(reference(w, ("Condition", "Observation")), max_size=1)))
    reactions = []
    for _ in range(draw(st.integers(0, 2))):
        reaction = {}
        put(reaction, "date", draw(maybe(st.sampled_from(DATE_TIMES), 0.7)))
        put(reaction, "detail", draw(maybe(reference(w, ("Observation",)))))
        reactions.append(reaction or {"reported": True})
    put(r, "reaction", reactions)
    applied = []
    for _ in range(draw(st.integers(0, 2))):
        dose = {"doseNumberPositiveInt": draw(st.integers(1, 3))}
        put(dose, "series", draw(maybe(st.sampled_from(SERIES))))
        put(dose, "targetDisease", draw(st.lists(concept(), max_size=1)))
        applied.append(dose)
    put(r, "protocolApplied", applied)
    return r


@st.composite
def allergy_intolerance(draw, w: World) -> dict:
    r = {"resourceType": "AllergyIntolerance"}
    put(r, "identifier", draw(identifiers()))
    # ait-1/ait-2: clinicalStatus present unless entered-in-error, which is never drawn.
    r["clinicalStatus"] = draw(status_concept(ALLERGY_CLINICAL, ["active", "inactive", "resolved"]))
    put(r, "verificationStatus", draw(maybe(status_concept(ALLERGY_VERIFICATION,
                                                           ["unconfirmed", "confirmed", "refuted"]))))
    put(r, "type", draw(maybe(st.sampled_from(["allergy", "intolerance"]))))
    put(r, "category", draw(st.lists(st.sampled_from(["food", "medication", "environment", "biologic"]),
                                     max_size=2, unique=True)))
    put(r, "criticality", draw(maybe(st.sampled_from(["low", "high", "unable-to-assess"]))))
    put(r, "code", draw(maybe(concept(), 0.8)))
    r["patient"] = draw(reference(w, ("Patient",)))
    put(r, "recordedDate", draw(maybe(st.sampled_from(DATE_TIMES))))
    put(r, "recorder", draw(maybe(reference(w, CLINICIANS), 0.3)))
    put(r, "asserter", draw(maybe(reference(w, CLINICIANS), 0.3)))
    put(r, "lastOccurrence", draw(maybe(st.sampled_from(DATE_TIMES), 0.3)))
    reactions = []
    for _ in range(draw(st.integers(0, 2))):
        reaction = {"manifestation": draw(st.lists(concept(), min_size=1, max_size=2))}
        put(reaction, "substance", draw(maybe(concept(), 0.3)))
        put(reaction, "onset", draw(maybe(st.sampled_from(DATE_TIMES))))
        put(reaction, "severity", draw(maybe(st.sampled_from(["mild", "moderate", "severe"]))))
        put(reaction, "exposureRoute", draw(maybe(concept(), 0.3)))
        reactions.append(reaction)
    put(r, "reaction", reactions)
    return r


@st.composite
def diagnostic_report(draw, w: World) -> dict:
    r = {"resourceType": "DiagnosticReport"}
    put(r, "identifier", draw(identifiers()))
    put(r, "basedOn", draw(st.lists(reference(w, ("ServiceRequest", "MedicationRequest")), max_size=1)))
    r["status"] = draw(st.sampled_from(["registered", "partial", "preliminary", "final", "amended", "corrected"]))
    put(r, "category", draw(st.lists(concept(["LAB", "RAD", "HM"], (DIAGNOSTIC_SERVICE, None)), max_size=2)))
    r["code"] = draw(concept())
    put(r, "subject", draw(maybe(reference(w, ("Patient", "Location"), ("Group",)), 0.8)))
    put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    r.update(draw(choice("effective", [None, "DateTime", "DateTime", "Period"])))
    put(r, "issued", draw(maybe(st.sampled_from(INSTANTS))))
    put(r, "performer", draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=2)))
    put(r, "resultsInterpreter", draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=1)))
    put(r, "specimen", draw(st.lists(reference(w, ("Specimen",)), max_size=1)))
    put(r, "result", draw(st.lists(reference(w, ("Observation",)), max_size=2)))
    put(r, "media", [{"link": ref} for ref in draw(st.lists(reference(w, ("Media",)), max_size=1))])
    put(r, "conclusionCode", draw(st.lists(concept(), max_size=1)))
    return r


@st.composite
def attachment(draw) -> dict:
    a = {}
    put(a, "contentType", draw(maybe(st.sampled_from(MIME_TYPES), 0.7)))
    put(a, "language", draw(maybe(st.sampled_from(LANGUAGES))))
    put(a, "url", draw(maybe(st.sampled_from(DOC_URLS), 0.7)))
    return a or {"title": "empty"}


@st.composite
def document_reference(draw, w: World) -> dict:
    r = {"resourceType": "DocumentReference"}
    put(r, "masterIdentifier", draw(maybe(identifier(), 0.3)))
    put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["current", "superseded", "entered-in-error"]))
    put(r, "type", draw(maybe(concept(), 0.7)))
    put(r, "category", draw(st.lists(concept(), max_size=1)))
    put(r, "subject", draw(maybe(reference(w, ("Patient", "Practitioner"), ("Group",)), 0.8)))
    put(r, "date", draw(maybe(st.sampled_from(INSTANTS))))
    put(r, "author", draw(st.lists(reference(w, ("Practitioner", "Organization", "Patient")), max_size=2)))
    put(r, "authenticator", draw(maybe(reference(w, ("Practitioner", "Organization")), 0.3)))
    put(r, "custodian", draw(maybe(reference(w, ("Organization",)), 0.3)))
    put(r, "relatesTo", [{"code": code, "target": ref} for code, ref in draw(st.lists(st.tuples(
        st.sampled_from(["replaces", "transforms", "signs", "appends"]), reference(w, ("DocumentReference",))),
        max_size=2))])
    put(r, "description", draw(maybe(st.sampled_from(DESCRIPTIONS))))
    put(r, "securityLabel", draw(st.lists(concept(["R", "N"], (
        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", None)), max_size=1)))
    contents = []
    for _ in range(draw(st.integers(1, 2))):
        content = {"attachment": draw(attachment())}
        put(content, "format", draw(maybe(coding(), 0.3)))
        contents.append(content)
    r["content"] = contents
    if draw(st.booleans()):
        context = {}
        put(context, "encounter", draw(st.lists(reference(w, ("Encounter",)), max_size=1)))
        put(context, "event", draw(st.lists(concept(), max_size=1)))
        put(context, "period", draw(maybe(period())))
        put(context, "facilityType", draw(maybe(concept(), 0.3)))
        put(context, "practiceSetting", draw(maybe(concept(), 0.3)))
        put(context, "related", draw(st.lists(reference(w, ("Patient", "Encounter")), max_size=1)))
        r["context"] = context or {"event": [draw(concept())]}
    return r


@st.composite
def goal(draw, w: World) -> dict:
    r = {"resourceType": "Goal"}
    put(r, "identifier", draw(identifiers()))
    r["lifecycleStatus"] = draw(st.sampled_from(["proposed", "planned", "accepted", "active", "on-hold",
                                                 "completed", "cancelled"]))
    put(r, "achievementStatus", draw(maybe(status_concept(GOAL_ACHIEVEMENT, [
        "in-progress", "improving", "no-change", "achieved", "sustaining", "not-achieved"]))))
    put(r, "category", draw(st.lists(concept(), max_size=1)))
    r["description"] = draw(concept())
    r["subject"] = draw(reference(w, ("Patient", "Organization"), ("Group",)))
    start = draw(st.sampled_from([None, "Date", "Date", "CodeableConcept"]))
    if start is not None:
        r["start" + start] = draw(st.sampled_from(DAYS) if start == "Date" else concept())
    targets = []
    for _ in range(draw(st.integers(0, 2))):
        # gol-1 (a measure whenever a detail is given): no detail is drawn.
        target = {}
        put(target, "measure", draw(maybe(concept(), 0.3)))
        due = draw(st.sampled_from(["Date", "Date", "Duration"]))
        target["due" + due] = draw(st.sampled_from(DAYS) if due == "Date" else
                                   quantity(["7", "30"], [("d", UCUM, "d")]))
        targets.append(target)
    put(r, "target", targets)
    return r


CLINICAL = {"Condition": condition, "Procedure": procedure, "Immunization": immunization,
            "AllergyIntolerance": allergy_intolerance, "DiagnosticReport": diagnostic_report,
            "DocumentReference": document_reference, "Goal": goal}
