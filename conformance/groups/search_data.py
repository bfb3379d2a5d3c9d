"""The data the search checks run on, and what each query must find in it.

Made once per run, from the seed: seven Patients and four Observations. The expected matches
of every query are computed here from the data itself, so each check knows them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from conformance.context import Context, instant

SYSTEM_A = "urn:fhir-conformance:system-a"
SYSTEM_B = "urn:fhir-conformance:system-b"
UCUM = "http://unitsofmeasure.org"
# Chosen to test prefix, case and accent folding, :exact and :contains (search.html#string).
FAMILIES = ("Chalmers", "Chalmersson", "Ébert", "Van Chalmers", "Okafor", "Lindqvist", "Nakamura")


@dataclass(frozen=True)
class Patient:
    id: str
    family: str
    birth: date
    identifier: tuple[str | None, str]
    last_updated: str


@dataclass(frozen=True)
class Observation:
    id: str
    subject: str        # a Patient id
    kg: float


@dataclass(frozen=True)
class Dataset:
    patients: tuple[Patient, ...]
    observations: tuple[Observation, ...]
    shared_code: str    # the identifier value three patients carry, in system A, B and none

    def patient_ids(self, keep=lambda p: True) -> set[str]:
        return {p.id for p in self.patients if keep(p)}

    def observation_ids(self, keep=lambda o: True) -> set[str]:
        return {o.id for o in self.observations if keep(o)}

    def pivot_birth(self) -> date:
        return sorted(p.birth for p in self.patients)[len(self.patients) // 2]

    def pivot_updated(self) -> str:
        return sorted(self.patients, key=lambda p: instant(p.last_updated))[len(self.patients) // 2].last_updated


def _identifiers(ctx: Context, shared: str) -> list[tuple[str | None, str]]:
    own = [(SYSTEM_A, ctx.unique("id")) for _ in FAMILIES[3:]]
    return [(SYSTEM_A, shared), (SYSTEM_B, shared), (None, shared), *own]


def _births(ctx: Context) -> list[date]:
    days = ctx.rng.sample(range(0, 80 * 365), len(FAMILIES))   # distinct days, 1930 onwards
    return [date(1930, 1, 1) + timedelta(days=d) for d in days]


def build(ctx: Context) -> Dataset:
    """Create the data (once per run) and describe it. Fails the check that asked on any refusal."""
    if "search" in ctx.shared:
        return ctx.shared["search"]
    shared = f"{ctx.rng.randrange(10 ** 8):08d}"
    patients = []
    for family, birth, (system, value) in zip(FAMILIES, _births(ctx), _identifiers(ctx, shared)):
        identifier = {"value": value, **({"system": system} if system else {})}
        _, stored = ctx.create({"resourceType": "Patient", "identifier": [identifier],
                                "name": [{"family": family, "given": ["Search"]}], "birthDate": birth.isoformat()})
        patients.append(Patient(stored["id"], family, birth, (system, value), stored["meta"]["lastUpdated"]))
    base = ctx.rng.randint(40, 60)
    observations = []
    for owner, kg in ((0, base), (0, base + 12.5), (0, base + 30), (1, base + 50)):
        subject = patients[owner].id
        _, stored = ctx.create({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": f"Patient/{subject}"}, "effectiveDateTime": "2024-03-05T10:00:00Z",
            "valueQuantity": {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"}})
        observations.append(Observation(stored["id"], subject, kg))
    ctx.shared["search"] = Dataset(tuple(patients), tuple(observations), shared)
    return ctx.shared["search"]


# search.html#date: at day precision the resource's range is [b, b+1d) and the parameter's [v, v+1d),
# so each prefix reduces to a comparison of days.
DATE_PREFIXES = {
    "eq": lambda b, v: b == v, "ne": lambda b, v: b != v,
    "gt": lambda b, v: b > v, "lt": lambda b, v: b < v,
    "ge": lambda b, v: b >= v, "le": lambda b, v: b <= v,
    "sa": lambda b, v: b > v, "eb": lambda b, v: b < v,
}
