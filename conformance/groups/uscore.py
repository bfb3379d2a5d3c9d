"""The search combinations US Core 3.1.1 requires of Patient and Observation, as the Inferno
US Core test kit checks them (SHALL, and the SHOULD ones beside them), wherever the server
claims every parameter of a combination. On data this group creates, so every expected match is
exact: three Patients of one run-unique family, and their vital-sign and laboratory Observations.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.checks import check, expect_ids
from conformance.claims import all_of, requires_interactions, requires_param
from conformance.context import Context
from conformance.groups.makers import CATEGORY, LOINC, observation, patient

SECTION = "http://hl7.org/fhir/us/core/STU3.1.1/CapabilityStatement-us-core-server.html"
IDENTIFIERS = "urn:fhir-conformance:us-core"
# The parameters and the kind each is claimed as (US Core 3.1.1's SearchParameters).
KINDS = {"_id": "token", "identifier": "token", "name": "string", "family": "string", "gender": "token",
         "birthdate": "date", "patient": "reference", "category": "token", "code": "token", "date": "date",
         "status": "token"}
WEIGHT, HEIGHT, GLUCOSE = "29463-7", "8302-2", "2339-0"


@dataclass(frozen=True)
class Person:
    id: str
    identifier: str
    family: str
    gender: str
    birth: str


@dataclass(frozen=True)
class Reading:
    id: str
    patient: str
    category: str
    code: str
    day: str       # effectiveDateTime's day
    status: str


def _people(ctx: Context) -> tuple[list[Person], list[Reading]]:
    if "uscore" in ctx.shared:
        return ctx.shared["uscore"]
    family = "Uscore" + "".join(chr(ord("a") + int(c, 16)) for c in ctx.run_id[2:12])   # letters only
    people = []
    for gender, birth in (("female", "1970-01-01"), ("male", "1970-01-01"), ("female", "1985-05-05")):
        value = ctx.unique("usc")
        stored = patient(ctx, identifier=[{"system": IDENTIFIERS, "value": value}], gender=gender, birthDate=birth,
                         name=[{"family": family, "given": [gender.title()]}])
        people.append(Person(stored["id"], value, family, gender, birth))
    readings = []
    for owner, category, code, day, status in ((0, "vital-signs", WEIGHT, "2021-01-01", "final"),
                                               (0, "vital-signs", HEIGHT, "2022-06-01", "final"),
                                               (0, "vital-signs", WEIGHT, "2023-03-03", "amended"),
                                               (0, "laboratory", GLUCOSE, "2022-06-01", "final"),
                                               (1, "vital-signs", WEIGHT, "2022-06-01", "final")):
        stored = observation(ctx, {"resourceType": "Patient", "id": people[owner].id}, (LOINC, code),
                             status=status, effectiveDateTime=f"{day}T10:00:00Z",
                             category=[{"coding": [{"system": CATEGORY, "code": category}]}])
        readings.append(Reading(stored["id"], people[owner].id, category, code, day, status))
    ctx.shared["uscore"] = (people, readings)
    return people, readings


def _claim(resource_type: str, names: tuple[str, ...]):
    return all_of(requires_interactions("Patient", "create", "search-type"),
                  requires_interactions(resource_type, "create", "search-type"),
                  *(requires_param(resource_type, n, KINDS[n]) for n in names))


def _register(resource_type: str, names: tuple[str, ...], suffix: str, query, keep, expectation: str) -> None:
    """One check: `query(people, readings)` gives the parameters, `keep(record, people)` what must match."""
    def run(ctx: Context) -> None:
        people, readings = _people(ctx)
        params = query(people, readings)
        records = people if resource_type == "Patient" else readings
        ids, page = ctx.search_ids(resource_type, params)
        expect_ids(ids, {r.id for r in records if keep(r, people)},
                   f"{resource_type}?" + "&".join(f"{k}={v}" for k, v in params), page)
    name = "+".join(names) + suffix
    check(f"uscore.{resource_type.lower()}.{name}", SECTION, _claim(resource_type, names),
          f"{resource_type}?{'&'.join(names)}{suffix} ({expectation} in US Core 3.1.1)")(run)


# Patient (us-core-patient): _id, identifier, name (SHALL); birthdate+name, gender+name (SHALL);
# birthdate+family, family+gender (SHOULD).
_register("Patient", ("_id",), "", lambda p, r: [("_id", p[1].id)], lambda x, p: x.id == p[1].id, "SHALL")
_register("Patient", ("identifier",), "", lambda p, r: [("identifier", f"{IDENTIFIERS}|{p[2].identifier}")],
          lambda x, p: x.id == p[2].id, "SHALL")
_register("Patient", ("name",), "", lambda p, r: [("name", p[0].family)], lambda x, p: True, "SHALL")
_register("Patient", ("birthdate", "name"), "", lambda p, r: [("birthdate", "1970-01-01"), ("name", p[0].family)],
          lambda x, p: x.birth == "1970-01-01", "SHALL")
_register("Patient", ("gender", "name"), "", lambda p, r: [("gender", "female"), ("name", p[0].family)],
          lambda x, p: x.gender == "female", "SHALL")
_register("Patient", ("birthdate", "family"), "", lambda p, r: [("birthdate", "1985-05-05"), ("family", p[0].family)],
          lambda x, p: x.birth == "1985-05-05", "SHOULD")
_register("Patient", ("family", "gender"), "", lambda p, r: [("family", p[0].family), ("gender", "male")],
          lambda x, p: x.gender == "male", "SHOULD")

# Observation (the vital-signs and laboratory profiles): patient+category, patient+code,
# patient+category+date with gt/ge/lt/le (SHALL); patient+category+status, patient+code+date (SHOULD).
_register("Observation", ("patient", "category"), "", lambda p, r: [("patient", p[0].id), ("category", "vital-signs")],
          lambda x, p: x.patient == p[0].id and x.category == "vital-signs", "SHALL")
_register("Observation", ("patient", "code"), "", lambda p, r: [("patient", p[0].id), ("code", f"{LOINC}|{WEIGHT}")],
          lambda x, p: x.patient == p[0].id and x.code == WEIGHT, "SHALL")
# search.html#date at day precision against effectiveDateTime on 2022-06-01T10:00Z.
_DAY = "2022-06-01"
for prefix, matches in (("gt", lambda d: d > _DAY), ("ge", lambda d: d >= _DAY), ("lt", lambda d: d < _DAY),
                        ("le", lambda d: d <= _DAY)):
    _register("Observation", ("patient", "category", "date"), f"-{prefix}",
              lambda p, r, prefix=prefix: [("patient", p[0].id), ("category", "vital-signs"),
                                           ("date", f"{prefix}{_DAY}")],
              lambda x, p, matches=matches: x.patient == p[0].id and x.category == "vital-signs" and matches(x.day),
              "SHALL")
_register("Observation", ("patient", "category", "status"), "",
          lambda p, r: [("patient", p[0].id), ("category", "vital-signs"), ("status", "final")],
          lambda x, p: x.patient == p[0].id and x.category == "vital-signs" and x.status == "final", "SHOULD")
_register("Observation", ("patient", "code", "date"), "",
          lambda p, r: [("patient", p[0].id), ("code", f"{LOINC}|{WEIGHT}"), ("date", f"ge{_DAY}")],
          lambda x, p: x.patient == p[0].id and x.code == WEIGHT and x.day >= _DAY, "SHOULD")
