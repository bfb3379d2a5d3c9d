"""Records of the US Core profiles no patient owns: Patient itself (the group's three people),
Practitioner, PractitionerRole, Organization and Location. Their names, identifiers and address
lines are run-unique, so a query made from the probe's finds only the group's records."""

from __future__ import annotations

from conformance.context import Context
from conformance.groups.uscore.data import Draft, Shape, Store, people

NPI = "http://hl7.org/fhir/sid/us-npi"
NUCC = "http://nucc.org/provider-taxonomy"


def _practitioner(draft: Draft) -> dict:
    return {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": draft.unique("npi")}],
            "name": [{"family": draft.unique("Uscoredoc"), "given": ["Conformance"]}]}


def _practitioners(ctx: Context, store: Store) -> dict[str, list[dict]]:
    return {"practitioner": [store.create(ctx, {"resourceType": "Practitioner",
                                                "identifier": [{"system": NPI, "value": ctx.unique("npi")}],
                                                "name": [{"family": ctx.unique("Uscorerole")}]})
                             for _ in range(2)]}


def _role(draft: Draft) -> dict:
    return {"resourceType": "PractitionerRole", "practitioner": draft.target("practitioner"),
            "specialty": [draft.concept("specialty")]}


def _address(draft: Draft) -> dict:
    return {"line": [f"{draft.unique('usc')} Main Street"], "city": draft.unique("Uscorecity"),
            "state": draft.code("address-state") if "address-state" in draft.profile.params else "MA",
            "postalCode": "01234", "country": "US"}


def _organization(draft: Draft) -> dict:
    return {"resourceType": "Organization", "active": True, "name": draft.unique("Uscore organization"),
            "address": [_address(draft)], "identifier": [{"system": NPI, "value": draft.unique("npi")}]}


def _location(draft: Draft) -> dict:
    return {"resourceType": "Location", "status": "active", "name": draft.unique("Uscore location"),
            "address": _address(draft)}


SHAPES = {
    "us_core_patient": Shape(records=people, needs=()),
    "us_core_practitioner": Shape(_practitioner, needs=()),
    "us_core_practitionerrole": Shape(_role, coded={"specialty": (NUCC, ("208D00000X", "207Q00000X"))},
                                      support=_practitioners, needs=("Practitioner",)),
    "us_core_organization": Shape(_organization, needs=()),
    "us_core_location": Shape(_location, needs=()),
}
