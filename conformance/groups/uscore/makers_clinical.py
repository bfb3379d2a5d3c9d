"""Records of the patient-owned US Core profiles other than results: AllergyIntolerance,
CarePlan, CareTeam, Condition, Device, DocumentReference, Encounter, Goal, Immunization,
MedicationRequest and Procedure. Each builder sets what its profile searches on (from the draft)
and what R4 requires besides."""

from __future__ import annotations

import base64

from conformance.context import Context
from conformance.groups.uscore.data import IDENTIFIERS, PROBE_DAY, Draft, Shape, Store

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
US_CORE = "http://hl7.org/fhir/us/core/CodeSystem/"
CVX = "http://hl7.org/fhir/sid/cvx"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">US Core conformance</div>'}


def _allergy(d: Draft) -> dict:
    return {"resourceType": "AllergyIntolerance", "patient": d.subject, "clinicalStatus": d.concept("clinical-status"),
            "verificationStatus": {"coding": [{"system": TERMINOLOGY + "allergyintolerance-verification",
                                               "code": "confirmed"}]},
            "code": {"coding": [{"system": SNOMED, "code": "91936005"}]}}


def _careplan(d: Draft) -> dict:
    return {"resourceType": "CarePlan", "text": NARRATIVE, "status": d.code("status"), "intent": "plan",
            "category": [d.concept("category")], "subject": d.subject, "period": d.period}


def _careteam(d: Draft) -> dict:
    return {"resourceType": "CareTeam", "status": d.code("status"), "subject": d.subject,
            "name": d.unique("Uscore care team")}


def _condition(d: Draft) -> dict:
    return {"resourceType": "Condition", "clinicalStatus": d.concept("clinical-status"),
            "verificationStatus": {"coding": [{"system": TERMINOLOGY + "condition-ver-status", "code": "confirmed"}]},
            "category": [d.concept("category")], "code": d.concept("code"), "subject": d.subject,
            "onsetDateTime": d.at()}


def _device(d: Draft) -> dict:
    return {"resourceType": "Device", "patient": d.subject, "type": d.concept("type"),
            "udiCarrier": [{"deviceIdentifier": d.unique("udi")}]}


def _document(d: Draft) -> dict:
    text = base64.b64encode(b"US Core conformance note").decode()
    return {"resourceType": "DocumentReference", "status": d.code("status"), "type": d.concept("type"),
            "category": [d.concept("category")], "subject": d.subject, "date": d.at(),
            "content": [{"attachment": {"contentType": "text/plain", "data": text}}],
            "context": {"period": d.period}}


def _encounter(d: Draft) -> dict:
    return {"resourceType": "Encounter", "identifier": [{"system": IDENTIFIERS, "value": d.unique("enc")}],
            "status": d.code("status"), "class": d.coding("class"), "type": [d.concept("type")],
            "subject": d.subject, "period": d.period}


def _encounters(ctx: Context, store: Store) -> dict[str, list[dict]]:
    """Two encounters of the first patient for medication requests to name."""
    owner = store.people[0]
    return {"encounter": [store.create(ctx, {
        "resourceType": "Encounter", "status": "finished",
        "identifier": [{"system": IDENTIFIERS, "value": ctx.unique("enc")}],
        "class": {"system": TERMINOLOGY + "v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{owner['id']}"},
        "period": {"start": f"{PROBE_DAY}T08:00:00Z", "end": f"{PROBE_DAY}T09:00:00Z"}}) for _ in range(2)]}


def _goal(d: Draft) -> dict:
    return {"resourceType": "Goal", "lifecycleStatus": d.code("lifecycle-status"),
            "description": {"text": "US Core conformance goal"}, "subject": d.subject,
            "target": [{"dueDate": d.day}]}


def _immunization(d: Draft) -> dict:
    return {"resourceType": "Immunization", "status": d.code("status"), "patient": d.subject,
            "vaccineCode": {"coding": [{"system": CVX, "code": "140"}]}, "occurrenceDateTime": d.at(),
            "primarySource": True}


def _medication_request(d: Draft) -> dict:
    return {"resourceType": "MedicationRequest", "status": d.code("status"), "intent": d.code("intent"),
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049502"}]},
            "subject": d.subject, "encounter": d.target("encounter"), "authoredOn": d.at()}


def _procedure(d: Draft) -> dict:
    return {"resourceType": "Procedure", "status": d.code("status"), "code": d.concept("code"),
            "subject": d.subject, "performedDateTime": d.at()}


SHAPES = {
    "us_core_allergyintolerance": Shape(_allergy, coded={
        "clinical-status": (TERMINOLOGY + "allergyintolerance-clinical", ())}),
    "us_core_careplan": Shape(_careplan, coded={"category": (US_CORE + "careplan-category",
                                                             (f"{SNOMED}|734163000",))}),
    "us_core_careteam": Shape(_careteam),
    "us_core_condition": Shape(_condition, coded={
        "category": (US_CORE + "condition-category", (f"{TERMINOLOGY}condition-category|problem-list-item",)),
        "clinical-status": (TERMINOLOGY + "condition-clinical", ()),
        "code": (SNOMED, ("44054006",))}),
    "us_core_implantable_device": Shape(_device, coded={"type": (SNOMED, ("468063009", "706004007"))}),
    "us_core_documentreference": Shape(_document, coded={"type": (LOINC, ()),
                                                         "category": (US_CORE + "us-core-documentreference-category",
                                                                      ())}),
    "us_core_encounter": Shape(_encounter, coded={"class": (TERMINOLOGY + "v3-ActCode", ("AMB", "IMP")),
                                                  "type": (SNOMED, ("185349003", "270427003"))}),
    "us_core_goal": Shape(_goal),
    "us_core_immunization": Shape(_immunization),
    "us_core_medicationrequest": Shape(_medication_request, support=_encounters, needs=("Patient", "Encounter")),
    "us_core_procedure": Shape(_procedure, coded={"code": (SNOMED, ("73761001", "80146002"))}),
}
