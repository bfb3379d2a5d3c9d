"""The data the US Core group owns: three Patients of one run-unique family, and for each profile
a handful of records around one probe (the record every query of the profile is made from).

A profile's records differ from the probe in one way each, so that every parameter of a
combination has something to exclude: one a day earlier and one a day later (where the profile
has a date parameter), one per coded parameter with its second value, one per reference with
another target, one of the second patient. A profile's `Shape` (makers_*.py) builds the resource
from a `Draft` that says which value of each parameter to use; the coded values come from the
JSON's listed values first, then from the shape's own where the JSON lists fewer than two.

Everything created of a type is remembered, so the expected matches of a search are every record
of that type the group has created so far (another profile's included) that meets the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from conformance.context import Context
from conformance.groups.makers import ref
from conformance.groups.uscore import index
from conformance.groups.uscore.spec import Param, Profile

DAYS = ("2021-03-04", "2022-06-01", "2023-09-10")   # before, the probe's, after
PROBE_DAY = DAYS[1]
IDENTIFIERS = "urn:fhir-conformance:us-core"


@dataclass
class Store:
    people: list[dict]
    by_type: dict[str, list[dict]] = field(default_factory=dict)
    probes: dict[str, dict] = field(default_factory=dict)

    def add(self, stored: dict) -> dict:
        self.by_type.setdefault(stored["resourceType"], []).append(stored)
        return stored

    def create(self, ctx: Context, resource: dict) -> dict:
        return self.add(ctx.create(resource)[1])


@dataclass(frozen=True)
class Shape:
    """How a profile's records are made. `build(draft)` gives the resource; `coded` gives, per
    coded parameter, the code system of the JSON's listed values and further values to use after
    them ("code" in that system or "system|code"); `support(ctx, store)` creates what the records
    refer to besides the patient (per reference parameter, the targets to choose from); `needs`
    are the types created besides the profile's own; `records` replaces the variants altogether."""
    build: Callable[[Draft], dict] | None = None
    coded: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    support: Callable[[Context, Store], dict[str, list[dict]]] | None = None
    needs: tuple[str, ...] = ("Patient",)
    records: Callable[[Context, Store], list[dict]] | None = None


@dataclass(frozen=True)
class Draft:
    ctx: Context
    profile: Profile
    shape: Shape
    owner: dict | None
    day: str
    picks: dict[str, int]
    targets: dict[str, list[dict]]

    def code(self, name: str) -> str:
        """The chosen value of a `code` (or string) parameter the JSON lists values for."""
        return choices(self.profile.params[name], self.shape)[self.picks.get(name, 0)][1]

    def coding(self, name: str) -> dict:
        system, code = choices(self.profile.params[name], self.shape)[self.picks.get(name, 0)]
        return {"system": system, "code": code}

    def concept(self, name: str) -> dict:
        return {"coding": [self.coding(name)]}

    def target(self, name: str) -> dict:
        return {"reference": ref(self.targets[name][self.picks.get(name, 0)])}

    @property
    def subject(self) -> dict:
        return {"reference": ref(self.owner)}

    def at(self, hour: int = 12) -> str:
        return f"{self.day}T{hour:02d}:00:00Z"

    @property
    def period(self) -> dict:
        return {"start": self.at(8), "end": self.at(16)}

    def unique(self, prefix: str) -> str:
        return self.ctx.unique(prefix)


def choices(param: Param, shape: Shape) -> list[tuple[str | None, str]]:
    """The values a parameter can take in the group's data, the probe's first."""
    system, extra = shape.coded.get(param.name, (None, ()))
    out = [(system, v) for v in param.values]
    out += [tuple(e.split("|", 1)) if "|" in e else (system, e) for e in extra]
    return list(dict.fromkeys(out))


def variants(profile: Profile, shape: Shape, targets: dict[str, list[dict]]) -> list[tuple[int, str, dict]]:
    """(owner index, day, picks) of each record; the probe first."""
    out = [(0, PROBE_DAY, {})]
    if any(p.kind == "date" for p in profile.searched):
        out += [(0, DAYS[0], {}), (0, DAYS[2], {})]
    for param in profile.searched:
        if param.kind in ("token", "string") and len(choices(param, shape)) > 1 or len(targets.get(param.name, ())) > 1:
            out.append((0, PROBE_DAY, {param.name: 1}))
    out.append((1, PROBE_DAY, {}))   # another patient's, or where there is none a second of the same
    return out


def people(ctx: Context, store: Store) -> list[dict]:
    return store.people


def load(ctx: Context) -> Store:
    """The Patients, made once per run."""
    if "uscore" not in ctx.shared:
        family = "Uscore" + "".join(chr(ord("a") + int(c, 16)) for c in ctx.run_id[2:12])   # letters only
        made = []
        for gender, birth in (("female", "1970-01-01"), ("male", "1970-01-01"), ("female", "1985-05-05")):
            made.append(ctx.create({"resourceType": "Patient", "gender": gender, "birthDate": birth,
                                    "identifier": [{"system": IDENTIFIERS, "value": ctx.unique("usc")}],
                                    "name": [{"family": family, "given": [gender.title()]}]})[1])
        store = Store(made)
        for person in made:
            store.add(person)
        ctx.shared["uscore"] = store
    return ctx.shared["uscore"]


def probe(ctx: Context, profile: Profile, shape: Shape) -> tuple[Store, dict]:
    """The store and the profile's probe, its records made on first use."""
    store = load(ctx)
    if profile.name not in store.probes:
        if shape.records:
            made = shape.records(ctx, store)
        else:
            targets = shape.support(ctx, store) if shape.support else {}
            made = []
            for owner, day, picks in variants(profile, shape, targets):
                owner_ref = store.people[owner] if "patient" in profile.params else None
                draft = Draft(ctx, profile, shape, owner_ref, day, picks, targets)
                made.append(store.create(ctx, shape.build(draft)))
        store.probes[profile.name] = made[0]
    return store, store.probes[profile.name]


def expected(store: Store, profile: Profile, query: list[tuple[Param, object, str]]) -> set[str]:
    """The ids of every record of the profile's type that meets each (parameter, probe value, prefix)."""
    return {r["id"] for r in store.by_type.get(profile.resource, [])
            if all(index.matches(p, index.values(r, p), v, prefix) for p, v, prefix in query)}
