"""The rest of a patient's record for bench/generate.py (`--clinical`): the types a Synthea
chart holds beyond the seed's, at Synthea-like volumes per patient (the means of the 37
shared Synthea bundles: 6 conditions, 10 procedures, 14 immunizations, 7 diagnostic reports,
17 explanations of benefit, 5 document references, 2 care plans, 2 goals, a few allergies),
scaled by the patient's own activity factor. A random stream and id counter of its own, so
the seed types' data stay byte for byte what they were without it.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta

SNOMED = "http://snomed.info/sct"
MEANS = {"Condition": 6, "Procedure": 10, "Immunization": 14, "DiagnosticReport": 7, "ExplanationOfBenefit": 17,
         "DocumentReference": 5, "CarePlan": 2, "Goal": 2, "AllergyIntolerance": 0.4}
TYPES = tuple(MEANS)
CONDITIONS = (("44054006", "Diabetes mellitus type 2"), ("38341003", "Hypertensive disorder"),
              ("195662009", "Acute viral pharyngitis"), ("10509002", "Acute bronchitis"),
              ("15777000", "Prediabetes"), ("162864005", "Body mass index 30+ - obesity"),
              ("444814009", "Viral sinusitis"), ("40055000", "Chronic sinusitis"))
PROCEDURES = (("430193006", "Medication reconciliation"), ("710824005", "Assessment of health and social care needs"),
              ("171207006", "Depression screening"), ("428191000124101", "Documentation of current medications"),
              ("73761001", "Colonoscopy"), ("76601001", "Intramuscular injection"))
VACCINES = (("140", "Influenza, seasonal, injectable, preservative free"), ("113", "Td (adult) preservative free"),
            ("133", "Pneumococcal conjugate PCV 13"), ("62", "HPV, quadrivalent"), ("208", "COVID-19, mRNA"))
PANELS = (("51990-0", "Basic metabolic panel"), ("58410-2", "CBC panel"), ("57698-3", "Lipid panel"),
          ("24323-8", "Comprehensive metabolic panel"))
ALLERGENS = (("91936005", "Allergy to penicillin"), ("300913006", "Shellfish allergy"),
             ("232347008", "Dander (animal) allergy"))


class Clinical:
    def __init__(self, seed: int, new_id, timestamp) -> None:
        self.rnd = random.Random(seed * 7919 + 17)
        self._new_id, self._ts = new_id, timestamp   # (kind, when) -> id; when -> text

    def record(self, pid: str, factor: float, encounters: list[tuple[str, datetime]], observations: list[str],
               claims: list[str], practitioners: list[str], when_between) -> list[dict]:
        """`encounters`: (id, start); `when_between(lo)`: a random moment from lo to the end."""
        rnd = self.rnd
        counts = {t: max(0, round(rnd.expovariate(1 / (m * factor)))) for t, m in MEANS.items()}
        out = []

        def at_encounter() -> tuple[str | None, datetime]:
            return rnd.choice(encounters) if encounters else (None, when_between(None))

        def base(kind: str, when: datetime, enc: str | None, subject: str = "subject") -> dict:
            r = {"resourceType": kind, "id": self._new_id(kind, when), subject: {"reference": f"Patient/{pid}"}}
            if enc:
                r["encounter"] = {"reference": f"Encounter/{enc}"}
            return r

        for _ in range(counts["Condition"]):
            enc, when = at_encounter()
            code, display = rnd.choice(CONDITIONS)
            r = base("Condition", when, enc)
            r.update({"clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                            rnd.choice(("active", "active", "resolved"))),
                      "verificationStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                "confirmed"),
                      "category": [_cc("http://terminology.hl7.org/CodeSystem/condition-category",
                                       "encounter-diagnosis")],
                      "code": _cc(SNOMED, code, display), "onsetDateTime": self._ts(when),
                      "recordedDate": self._ts(when)})
            out.append(r)
        for _ in range(counts["Procedure"]):
            enc, when = at_encounter()
            code, display = rnd.choice(PROCEDURES)
            r = base("Procedure", when, enc)
            r.update({"status": "completed", "code": _cc(SNOMED, code, display),
                      "performedPeriod": {"start": self._ts(when), "end": self._ts(when + timedelta(minutes=20))}})
            out.append(r)
        for _ in range(counts["Immunization"]):
            enc, when = at_encounter()
            code, display = rnd.choice(VACCINES)
            r = base("Immunization", when, enc, "patient")
            r.update({"status": "completed", "vaccineCode": _cc("http://hl7.org/fhir/sid/cvx", code, display),
                      "occurrenceDateTime": self._ts(when), "primarySource": True})
            out.append(r)
        for _ in range(counts["DiagnosticReport"]):
            enc, when = at_encounter()
            code, display = rnd.choice(PANELS)
            r = base("DiagnosticReport", when, enc)
            r.update({"status": "final", "category": [_cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB")],
                      "code": _cc("http://loinc.org", code, display), "effectiveDateTime": self._ts(when),
                      "issued": self._ts(when + timedelta(hours=2))})
            if observations:   # FHIR has no empty arrays
                picked = rnd.sample(observations, min(len(observations), 4))
                r["result"] = [{"reference": f"Observation/{o}"} for o in picked]
            out.append(r)
        for _ in range(counts["ExplanationOfBenefit"]):
            enc, when = at_encounter()
            r = base("ExplanationOfBenefit", when, None, "patient")
            r.update({"status": "active", "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type",
                                                      "professional"),
                      "use": "claim", "created": self._ts(when), "outcome": "complete",
                      "insurer": {"display": "Payer"}, "provider": {"reference": f"Practitioner/"
                                                                                  f"{rnd.choice(practitioners)}"},
                      "insurance": [{"focal": True, "coverage": {"display": "Payer"}}],
                      "total": [{"category": _cc("http://terminology.hl7.org/CodeSystem/adjudication", "submitted"),
                                 "amount": {"value": round(rnd.uniform(40, 2500), 2), "currency": "USD"}}]})
            if claims:
                r["claim"] = {"reference": f"Claim/{rnd.choice(claims)}"}
            out.append(r)
        for _ in range(counts["DocumentReference"]):
            enc, when = at_encounter()
            r = base("DocumentReference", when, None)
            note = base64.b64encode(f"Visit note {when.date()}".encode()).decode()
            r.update({"status": "current", "type": _cc("http://loinc.org", "34117-2", "History and physical note"),
                      "date": self._ts(when), "author": [{"reference": f"Practitioner/{rnd.choice(practitioners)}"}],
                      "content": [{"attachment": {"contentType": "text/plain", "data": note}}]})
            if enc:
                r["context"] = {"encounter": [{"reference": f"Encounter/{enc}"}]}
            out.append(r)
        for _ in range(counts["CarePlan"]):
            enc, when = at_encounter()
            r = base("CarePlan", when, enc)
            r.update({"status": rnd.choice(("active", "completed")), "intent": "plan",
                      "category": [_cc(SNOMED, "736353004", "Inpatient care plan")],
                      "period": {"start": self._ts(when)}})
            out.append(r)
        for _ in range(counts["Goal"]):
            _, when = at_encounter()
            r = base("Goal", when, None)
            r.update({"lifecycleStatus": "active", "description": {"text": "Maintain blood pressure below 140/90"},
                      "startDate": when.date().isoformat()})
            out.append(r)
        for _ in range(counts["AllergyIntolerance"]):
            _, when = at_encounter()
            code, display = rnd.choice(ALLERGENS)
            r = base("AllergyIntolerance", when, None, "patient")
            r.update({"clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                            "active"),
                      "type": "allergy", "category": ["environment"], "criticality": "low",
                      "code": _cc(SNOMED, code, display), "recordedDate": self._ts(when)})
            out.append(r)
        return out


def _cc(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": display} if display else {})}
