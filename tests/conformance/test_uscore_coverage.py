"""The US Core group is driven by the Inferno kit's list: every SHALL and SHOULD combination of
every profile in it is a check, and each date parameter in one gets a check per SHALL/SHOULD
comparator too (no server needed)."""

from __future__ import annotations

import conformance.groups  # noqa: F401  (registers the checks)
from conformance.checks import REGISTRY
from conformance.groups.uscore.spec import profiles


def test_every_combination_and_comparator_is_a_check():
    ids = {c.id for c in REGISTRY if c.group == "uscore"}
    wanted = set()
    for profile in profiles():
        for search in profile.searches:
            base = f"uscore.{profile.short}.{'+'.join(search.names)}"
            wanted.add(base)
            wanted |= {f"{base}-{c}" for n in search.names if profile.params[n].kind == "date"
                       for c in profile.params[n].comparators}
    assert wanted == ids
    assert {p.resource for p in profiles() if p.searches} == {
        "AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "Device", "DiagnosticReport", "DocumentReference",
        "Encounter", "Goal", "Immunization", "Location", "MedicationRequest", "Observation", "Organization",
        "Patient", "Practitioner", "PractitionerRole", "Procedure"}
    assert len(ids) == 288
