"""Deterministic ndjson shaped like the seed design, streamed: the data of the benchmarks
and of demos (a tool beside the server, not part of it). Run: `./run generate --patients N`.

Five organisations in the ratio 1000:500:300:150:50; per organisation an Organization,
locations and practitioners; per patient on average 20 encounters, 100 observations
(real LOINC vitals and labs with plausible values, units and reference ranges),
25 appointments (some ahead of the end date), 50 medication requests, 17 claims and
audit events, spread over five years. Activity is skewed (a patient's volume is
multiplied by a heavy-tailed factor, so a few have thousands of observations) and names
repeat as they do in real registries. Output: OUT/<tenant-slug>/<Type>.ndjson, one
resource per line with a deterministic id, written patient by patient (constant memory).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import Path

import orjson
from tqdm import tqdm

from bench.generate_clinical import TYPES as CLINICAL_TYPES
from bench.generate_clinical import Clinical
from fhirserver import ids

ORGS = (
    ("org-1", "Northwind Health", 1000),
    ("org-2", "Contoso Care", 500),
    ("org-3", "Fabrikam Clinics", 300),
    ("org-4", "Adatum Medical", 150),
    ("org-5", "Tailspin Hospital", 50),
)
TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "Patient",
    "Encounter",
    "Observation",
    "Appointment",
    "MedicationRequest",
    "Claim",
    "AuditEvent",
)
LARGE = 20   # activity factor of the patients `generate(large=...)` adds
MEANS = {"Encounter": 20, "Observation": 100, "Appointment": 25, "MedicationRequest": 50, "Claim": 17, "AuditEvent": 40}
YEARS = 5
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# (code, display, unit, mean, sd, low, high, category)
VITALS = (
    ("8867-4", "Heart rate", "/min", 75, 12, 60, 100),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 122, 15, 90, 120),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 78, 10, 60, 80),
    ("8310-5", "Body temperature", "Cel", 36.8, 0.4, 36.1, 37.2),
    ("9279-1", "Respiratory rate", "/min", 16, 3, 12, 20),
    ("29463-7", "Body weight", "kg", 78, 16, None, None),
    ("8302-2", "Body height", "cm", 170, 10, None, None),
    ("39156-5", "Body mass index", "kg/m2", 26.5, 4.5, 18.5, 25),
    ("59408-5", "Oxygen saturation", "%", 97, 1.5, 95, 100),
)
LABS = (
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 105, 25, 70, 99),
    ("2093-3", "Cholesterol [Mass/volume] in Serum", "mg/dL", 195, 35, 125, 200),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 14, 1.6, 12, 17.5),
    ("4548-4", "Hemoglobin A1c", "%", 5.9, 0.9, 4, 5.6),
    ("2160-0", "Creatinine [Mass/volume] in Serum", "mg/dL", 0.95, 0.25, 0.6, 1.2),
    ("6690-2", "Leukocytes [#/volume] in Blood", "10*3/uL", 7, 2, 4.5, 11),
    ("2823-3", "Potassium [Moles/volume] in Serum", "mmol/L", 4.2, 0.4, 3.5, 5.1),
    ("2951-2", "Sodium [Moles/volume] in Serum", "mmol/L", 140, 3, 135, 145),
    ("777-3", "Platelets [#/volume] in Blood", "10*3/uL", 250, 60, 150, 400),
    ("1742-6", "ALT [Enzymatic activity/volume] in Serum", "U/L", 28, 12, 7, 56),
)
MEDICATIONS = (
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("860975", "metformin 500 MG Oral Tablet"),
    ("617314", "atorvastatin 10 MG Oral Tablet"),
    ("310965", "ibuprofen 200 MG Oral Tablet"),
    ("198211", "simvastatin 40 MG Oral Tablet"),
    ("313782", "acetaminophen 325 MG Oral Tablet"),
    ("866924", "metoprolol 25 MG Oral Tablet"),
)
FAMILIES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernández",
    "López",
    "González",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Pérez",
    "Thompson",
    "White",
    "Harris",
    "Sánchez",
    "Clark",
    "Ramírez",
    "Lewis",
    "Robinson",
    "Nguyen",
    "Müller",
    "Kowalski",
    "O'Brien",
    "Okafor",
    "Singh",
    "Kim",
    "Cohen",
    "Rossi",
    "Novak",
)
GIVEN = {
    "male": (
        "James",
        "John",
        "Robert",
        "Michael",
        "William",
        "David",
        "Richard",
        "Joseph",
        "Thomas",
        "Luis",
        "Ahmed",
        "Wei",
        "José",
        "Pavel",
        "Kwame",
    ),
    "female": (
        "Mary",
        "Patricia",
        "Jennifer",
        "Linda",
        "Elizabeth",
        "Barbara",
        "Susan",
        "Jessica",
        "Sarah",
        "María",
        "Fatima",
        "Mei",
        "Zoë",
        "Ingrid",
        "Amara",
    ),
}
ENCOUNTER_CLASSES = (("AMB", "ambulatory", 0.8), ("EMER", "emergency", 0.12), ("IMP", "inpatient encounter", 0.08))
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def _weights(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts]


@dataclass
class Org:
    slug: str
    index: int
    name: str
    patients: int
    locations: list[str]
    practitioners: list[str]


class Generator:
    """One deterministic stream: the same (patients, seed, end) always writes the same bytes."""

    def __init__(self, patients: int, seed: int, end: datetime, clinical: bool = False) -> None:
        self.rnd = random.Random(seed)
        self.seed = seed
        self.end = end
        self.start = end - timedelta(days=365 * YEARS)
        shares = _weights([w for _, _, w in ORGS])
        counts = [int(patients * s) for s in shares]
        counts[0] += patients - sum(counts)
        self.orgs = [Org(slug, i, name, n, [], []) for i, ((slug, name, _), n) in enumerate(zip(ORGS, counts))]
        self.serial = 0
        self.clinical_serial = 0
        self.clinical = Clinical(seed, self._clinical_id, self._ts) if clinical else None

    def _clinical_id(self, kind: str, when: datetime) -> str:
        self.clinical_serial += 1
        return self._id(kind, when, f"c{self.clinical_serial}")

    def _id(self, kind: str, when: datetime, position: str | None = None) -> str:
        """A server-format id (month of `when`) with bits from a hash of the stream position."""
        if position is None:
            self.serial += 1
            position = str(self.serial)
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{position}".encode(), digest_size=16).digest()
        value = int.from_bytes(digest, "big")
        high = (ids.month_index(ids.clamp(when)) << 32) | (value >> 96)
        rand = value & ((1 << 74) - 1)
        full = (high << 80) | (0x8 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        h = f"{full:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _when(self, lo: datetime | None = None, hi: datetime | None = None) -> datetime:
        lo, hi = lo or self.start, hi or self.end
        return lo + timedelta(seconds=self.rnd.uniform(0, (hi - lo).total_seconds()))

    @staticmethod
    def _ts(when: datetime) -> str:
        return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def organisation(self, org: Org) -> list[dict]:
        out = [
            {
                "resourceType": "Organization",
                "id": self._id("Organization", self.start),
                "name": org.name,
                "active": True,
                "identifier": [{"system": "urn:example:org", "value": org.slug}],
            }
        ]
        for i in range(max(2, org.patients // 200)):
            loc = {
                "resourceType": "Location",
                "id": self._id("Location", self.start),
                "status": "active",
                "name": f"{org.name} site {i + 1}",
                "managingOrganization": {"reference": f"Organization/{out[0]['id']}"},
            }
            org.locations.append(loc["id"])
            out.append(loc)
        for _ in range(max(5, org.patients // 50)):
            gender = self.rnd.choice(("male", "female"))
            prac = {
                "resourceType": "Practitioner",
                "id": self._id("Practitioner", self.start),
                "active": True,
                "identifier": [
                    {"system": "http://hl7.org/fhir/sid/us-npi", "value": str(self.rnd.randrange(10**9, 10**10))}
                ],
                "name": [
                    {"family": self.rnd.choice(FAMILIES), "given": [self.rnd.choice(GIVEN[gender])], "prefix": ["Dr."]}
                ],
                "gender": gender,
            }
            org.practitioners.append(prac["id"])
            out.append(prac)
        return out

    def _factor(self) -> float:
        """Heavy-tailed activity with mean about 1: most patients near it, a few far above."""
        return min(self.rnd.lognormvariate(-0.5, 1.0), 60.0)

    def patient(self, org: Org, n: int, factor: float | None = None) -> list[dict]:
        """`factor`: the patient's activity, drawn (heavy-tailed, mean about 1) unless given."""
        rnd = self.rnd
        gender = rnd.choice(("male", "female"))
        birth = self._when(self.end - timedelta(days=365 * 95), self.end - timedelta(days=30))
        pid = self._id("Patient", self.start)
        out = [
            {
                "resourceType": "Patient",
                "id": pid,
                "active": True,
                "gender": gender,
                "identifier": [
                    {"system": f"urn:example:{org.slug}:mrn", "value": f"{org.slug.upper()}-{n:09d}", "type": MR}
                ],
                "name": [{"use": "official", "family": rnd.choice(FAMILIES), "given": [rnd.choice(GIVEN[gender])]}],
                "birthDate": birth.date().isoformat(),
                "telecom": [{"system": "phone", "value": f"555-{rnd.randrange(1000, 9999)}", "use": "home"}],
                "address": [
                    {
                        "city": rnd.choice(("Springfield", "Riverton", "Lakeside", "Fairview", "Greenville")),
                        "postalCode": f"{rnd.randrange(10000, 99999)}",
                        "country": "US",
                    }
                ],
            }
        ]
        factor = self._factor() if factor is None else factor
        counts = {k: max(0, round(rnd.expovariate(1 / (v * factor)))) for k, v in MEANS.items()}
        since = max(self.start, birth)
        encounters = []
        for _ in range(counts["Encounter"]):
            start = self._when(since)
            code, display, _ = rnd.choices(ENCOUNTER_CLASSES, [w for *_, w in ENCOUNTER_CLASSES])[0]
            enc = {
                "resourceType": "Encounter",
                "id": self._id("Encounter", start),
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": code,
                    "display": display,
                },
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"individual": {"reference": f"Practitioner/{rnd.choice(org.practitioners)}"}}],
                "location": [{"location": {"reference": f"Location/{rnd.choice(org.locations)}"}}],
                "period": {
                    "start": self._ts(start),
                    "end": self._ts(start + timedelta(minutes=rnd.randrange(15, 240))),
                },
            }
            encounters.append((enc["id"], start))
            out.append(enc)
        for _ in range(counts["Observation"]):
            out.append(self._observation(pid, encounters, since))
        for _ in range(counts["Appointment"]):
            start = self._when(since, self.end + timedelta(days=90))
            start = start.replace(minute=(start.minute // 15) * 15, second=0)
            out.append(
                {
                    "resourceType": "Appointment",
                    "id": self._id("Appointment", start),
                    "status": "booked"
                    if start > self.end
                    else rnd.choice(("fulfilled", "fulfilled", "noshow", "cancelled")),
                    "start": self._ts(start),
                    "end": self._ts(start + timedelta(minutes=30)),
                    "participant": [
                        {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
                        {"actor": {"reference": f"Practitioner/{rnd.choice(org.practitioners)}"}, "status": "accepted"},
                        {"actor": {"reference": f"Location/{rnd.choice(org.locations)}"}, "status": "accepted"},
                    ],
                }
            )
        for _ in range(counts["MedicationRequest"]):
            enc_id, when = rnd.choice(encounters) if encounters else (None, self._when(since))
            code, display = rnd.choice(MEDICATIONS)
            med = {
                "resourceType": "MedicationRequest",
                "id": self._id("MedicationRequest", when),
                "status": rnd.choice(("active", "completed", "completed", "stopped")),
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [
                        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}
                    ],
                    "text": display,
                },
                "subject": {"reference": f"Patient/{pid}"},
                "authoredOn": self._ts(when),
                "requester": {"reference": f"Practitioner/{rnd.choice(org.practitioners)}"},
            }
            if enc_id:
                med["encounter"] = {"reference": f"Encounter/{enc_id}"}
            out.append(med)
        for _ in range(counts["Claim"]):
            enc_id, when = rnd.choice(encounters) if encounters else (None, self._when(since))
            claim = {
                "resourceType": "Claim",
                "id": self._id("Claim", when),
                "status": "active",
                "use": "claim",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
                },
                "patient": {"reference": f"Patient/{pid}"},
                "created": self._ts(when),
                "provider": {"reference": f"Practitioner/{rnd.choice(org.practitioners)}"},
                "priority": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
                },
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Payer"}}],
                "total": {"value": round(rnd.uniform(40, 2500), 2), "currency": "USD"},
            }
            if enc_id:
                claim["item"] = [
                    {
                        "sequence": 1,
                        "productOrService": {"text": "visit"},
                        "encounter": [{"reference": f"Encounter/{enc_id}"}],
                    }
                ]
            out.append(claim)
        for _ in range(counts["AuditEvent"]):
            when = self._when(max(since, self.end - timedelta(days=365)))
            out.append(
                {
                    "resourceType": "AuditEvent",
                    "id": self._id("AuditEvent", when),
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                    "action": rnd.choice(("R", "R", "R", "U", "C")),
                    "recorded": self._ts(when),
                    "outcome": "0",
                    "agent": [
                        {"requestor": True, "who": {"reference": f"Practitioner/{rnd.choice(org.practitioners)}"}}
                    ],
                    "entity": [{"what": {"reference": f"Patient/{pid}"}}],
                    "source": {"observer": {"display": "ehr"}},
                }
            )
        if self.clinical is not None:
            out += self.clinical.record(
                pid, factor, encounters, [r["id"] for r in out if r["resourceType"] == "Observation"],
                [r["id"] for r in out if r["resourceType"] == "Claim"], org.practitioners,
                lambda lo: self.clinical_when(lo or since))
        return out

    def clinical_when(self, lo: datetime) -> datetime:
        return lo + timedelta(seconds=self.clinical.rnd.uniform(0, (self.end - lo).total_seconds()))

    def _observation(self, pid: str, encounters: list, since: datetime) -> dict:
        rnd = self.rnd
        enc_id, when = rnd.choice(encounters) if encounters and rnd.random() < 0.9 else (None, self._when(since))
        vital = rnd.random() < 0.6
        code, display, unit, mean, sd, low, high = rnd.choice(VITALS if vital else LABS)
        value = round(max(0.1, rnd.gauss(mean, sd)), 1 if mean < 50 else 0)
        obs = {
            "resourceType": "Observation",
            "id": self._id("Observation", when),
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs" if vital else "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": self._ts(when),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
        if enc_id:
            obs["encounter"] = {"reference": f"Encounter/{enc_id}"}
        if low is not None:
            obs["referenceRange"] = [
                {
                    "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                    "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
                }
            ]
            if value < low or value > high:
                obs["interpretation"] = [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                "code": "L" if value < low else "H",
                            }
                        ]
                    }
                ]
        return obs


def generate(out: Path, patients: int, seed: int, end: datetime | None = None, progress=None,
             clinical: bool = False, large: int = 0) -> dict[str, int]:
    """Write the dataset; return resource counts by type. `clinical`: the rest of each record too
    (bench/generate_clinical.py), the seed types' data unchanged. `large`: that many more
    patients in the first organisation, after the others, each LARGE times as active as the mean
    (records of thousands of resources, which a few hundred drawn patients rarely reach)."""
    gen = Generator(patients, seed, end or datetime(2026, 1, 1, tzinfo=timezone.utc), clinical)
    types = TYPES + (CLINICAL_TYPES if clinical else ())
    counts = {t: 0 for t in types}
    for org in gen.orgs:
        folder = out / org.slug
        folder.mkdir(parents=True, exist_ok=True)
        files = {t: open(folder / f"{t}.ndjson", "wb") for t in types}
        try:
            batches = chain([gen.organisation(org)], (gen.patient(org, n) for n in range(org.patients)),
                            (gen.patient(org, org.patients + n, LARGE) for n in range(large if org.index == 0 else 0)))
            for batch in batches:
                for resource in batch:
                    files[resource["resourceType"]].write(orjson.dumps(resource) + b"\n")
                    counts[resource["resourceType"]] += 1
                if progress is not None:
                    progress(len(batch))
        finally:
            for f in files.values():
                f.close()
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="generate",
                                     description="write deterministic ndjson shaped like the seed design")
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="generated")
    parser.add_argument("--end", help="last day of the five years of data (default 2026-01-01T00:00:00+00:00)")
    parser.add_argument("--large", type=int, default=0, help="that many very active patients more in org-1")
    parser.add_argument("--clinical", action="store_true",
                        help="the rest of each record too: conditions, procedures, immunizations, ...")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tqdm(unit=" resources", unit_scale=True, desc="generating") as bar:
        end = datetime.fromisoformat(args.end) if args.end else None
        counts = generate(Path(args.out), args.patients, args.seed, end, bar.update, args.clinical, args.large)
    total = sum(counts.values())
    rate = total / (time.perf_counter() - started)
    print(f"wrote {total} resources ({rate:.0f}/s) to {args.out}: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
