"""Records of the US Core result profiles: the twelve Observation profiles (smoking status, lab,
the vital signs, the pediatric percentiles) and DiagnosticReport for lab and for notes. The
profiles of one type share one type's searches, so each search finds the records of every
profile of that type the group has made that meet it."""

from __future__ import annotations

from conformance.groups.uscore.data import Draft, Shape
from conformance.groups.uscore.spec import profiles

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
# Second codes for profiles whose JSON lists one: other vital signs (the first that differs is used).
VITALS = ("8867-4", "9279-1")


def _observation(d: Draft) -> dict:
    resource = {"resourceType": "Observation", "status": d.code("status"), "category": [d.concept("category")],
                "code": d.concept("code"), "subject": d.subject, "effectiveDateTime": d.at()}
    if d.profile.name == "us_core_smokingstatus":
        resource["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "449868002"}]}
    else:
        resource["valueQuantity"] = {"value": 42, "unit": "1", "system": UCUM, "code": "1"}
    return resource


def _report(d: Draft) -> dict:
    return {"resourceType": "DiagnosticReport", "status": d.code("status"), "category": [d.concept("category")],
            "code": d.concept("code"), "subject": d.subject, "effectiveDateTime": d.at(), "issued": d.at(18)}


def _observation_shape(name: str) -> Shape:
    if name == "us_core_smokingstatus":
        return Shape(_observation, coded={"category": (OBSERVATION_CATEGORY, ("social-history", "survey")),
                                          "code": (LOINC, ("11367-0",))})
    if name == "us_core_observation_lab":
        return Shape(_observation, coded={"category": (OBSERVATION_CATEGORY, ("vital-signs",)),
                                          "code": (LOINC, ("2339-0", "718-7"))})
    return Shape(_observation, coded={"category": (OBSERVATION_CATEGORY, ("laboratory",)),
                                      "code": (LOINC, VITALS)})


SHAPES = {p.name: _observation_shape(p.name) for p in profiles() if p.resource == "Observation"}
SHAPES |= {
    "us_core_diagnosticreport_lab": Shape(_report, coded={"category": (V2_0074, ("MB",)),
                                                          "code": (LOINC, ("24323-8", "58410-2"))}),
    "us_core_diagnosticreport_note": Shape(_report, coded={"category": (LOINC, ()),
                                                           "code": (LOINC, ("18748-4", "11502-2"))}),
}
