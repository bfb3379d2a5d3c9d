"""Small valid R4 resources of every stored type, for tests."""

from __future__ import annotations

import uuid


def mrn() -> str:
    return uuid.uuid4().hex[:12]


def patient(family: str = "Smith", given: str = "Ann", birth: str = "1980-05-01", mrn_value: str | None = None,
            **extra) -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:example:mrn", "value": mrn_value or mrn(),
                            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                 "code": "MR"}]}}],
            "name": [{"family": family, "given": [given]}], "gender": "female", "birthDate": birth, **extra}


def observation(patient_id: str | None = None, when: str = "2023-04-05T10:00:00Z", code: str = "29463-7",
                value: float | str = 72.5, **extra) -> dict:
    res = {"resourceType": "Observation", "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                     "code": "vital-signs"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
           "effectiveDateTime": when,
           "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    if patient_id:
        res["subject"] = {"reference": f"Patient/{patient_id}"}
    return {**res, **extra}


def organization(name: str = "Acme Lab") -> dict:
    return {"resourceType": "Organization", "name": name, "active": True}


def practitioner(family: str = "House") -> dict:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": ["Greg"]}]}


def location(name: str = "Ward 1") -> dict:
    return {"resourceType": "Location", "name": name, "status": "active"}


def encounter(patient_id: str | None = None, start: str = "2022-02-03T08:00:00Z") -> dict:
    res = {"resourceType": "Encounter", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
           "period": {"start": start, "end": start.replace("08:00", "09:00")}}
    if patient_id:
        res["subject"] = {"reference": f"Patient/{patient_id}"}
    return res


def appointment(start: str = "2027-01-10T09:00:00Z") -> dict:
    return {"resourceType": "Appointment", "status": "booked", "start": start,
            "end": start.replace("09:00", "09:30"),
            "participant": [{"status": "accepted", "actor": {"display": "Dr. Who"}}]}


def medication_request(patient_id: str) -> dict:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "316052"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "authoredOn": "2021-06-01"}


def claim(patient_id: str, provider_ref: str) -> dict:
    return {"resourceType": "Claim", "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "professional"}]},
            "use": "claim", "patient": {"reference": f"Patient/{patient_id}"}, "created": "2021-06-02",
            "provider": {"reference": provider_ref}, "priority": {"coding": [{"code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Cigna"}}]}


def audit_event() -> dict:
    return {"resourceType": "AuditEvent",
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
            "action": "R", "recorded": "2025-03-04T05:06:07Z", "outcome": "0",
            "agent": [{"requestor": True, "who": {"display": "app"}}],
            "source": {"observer": {"display": "fhirserver"}}}
