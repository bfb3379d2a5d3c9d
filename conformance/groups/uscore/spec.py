"""US Core 3.1.1 as the Inferno US Core test kit lists it (us-core-3.1.1-searches.json, a copy of
/work/shared/spec's, from the kit's generated metadata): per profile its search combinations
(SHALL, SHOULD), each parameter's paths, FHIR type, comparators and listed values. What the group
checks is read from here, and so is how a stored resource is indexed to work out the matches:
a parameter's `paths` from the resource, read as its `type` says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).with_name("us-core-3.1.1-searches.json")
# The combinations and the date comparators the group runs; US Core's MAY ones are left out.
EXPECTATIONS = ("SHALL", "SHOULD")
# The kind of search parameter (search.html) each FHIR type the JSON names is searched as.
KINDS = {"Reference": "reference", "CodeableConcept": "token", "Coding": "token", "Identifier": "token",
         "code": "token", "http://hl7.org/fhirpath/System.String": "token", "string": "string",
         "HumanName": "string", "Address": "string", "date": "date", "dateTime": "date", "instant": "date",
         "Period": "date"}


@dataclass(frozen=True)
class Param:
    name: str
    type: str                      # the FHIR type of the element, as the JSON names it
    paths: tuple[str, ...]
    comparators: tuple[str, ...]   # those US Core marks SHALL or SHOULD, in the JSON's order
    values: tuple[str, ...]        # the values the JSON lists (bound codes, states)

    @property
    def kind(self) -> str:
        return KINDS[self.type]

    @property
    def bare(self) -> bool:
        """Searched by a code alone (`status=final`, `_id=x`), not system|code."""
        return self.type in ("code", "http://hl7.org/fhirpath/System.String")


@dataclass(frozen=True)
class Search:
    names: tuple[str, ...]
    expectation: str


@dataclass(frozen=True)
class Profile:
    name: str                      # us_core_condition
    resource: str                  # Condition
    url: str
    searches: tuple[Search, ...]   # the SHALL and SHOULD ones
    params: dict[str, Param]

    @property
    def short(self) -> str:
        """The name in check ids: us_core_diagnosticreport_lab -> diagnosticreport-lab."""
        return self.name.removeprefix("us_core_").replace("_", "-")

    @property
    def searched(self) -> list[Param]:
        """Every parameter some checked combination uses, in the JSON's order."""
        used = {n for s in self.searches for n in s.names}
        return [p for n, p in self.params.items() if n in used]


@cache
def profiles() -> tuple[Profile, ...]:
    data = json.loads(SOURCE.read_text())
    out = []
    for p in data["profiles"]:
        params = {name: Param(name, d["type"], tuple(d["paths"]),
                              tuple(c for c, e in d["comparators"].items() if e in EXPECTATIONS),
                              tuple(d["values"]))
                  for name, d in p["search_definitions"].items()}
        searches = tuple(Search(tuple(s["names"]), s["expectation"]) for s in p["searches"]
                         if s["expectation"] in EXPECTATIONS)
        out.append(Profile(p["name"], p["resource"], p["profile"], searches, params))
    return tuple(out)
