"""Subsumption and value set expansion over R4's own code systems (searchparams/terminology.py).

Expected sets are read off the published R4 pages (terminology.hl7.org v3-ActCode,
v3-ActReason, ValueSet v3-ActEncounterCode, yesnodontknow), not from the code under test."""

from __future__ import annotations

import pytest

from searchparams import terminology

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def test_below_and_above_follow_nesting():
    assert terminology.below(ACT_CODE, "IMP") == {"IMP", "ACUTE", "NONAC"}
    assert terminology.below(ACT_CODE, "AMB") == {"AMB"}
    assert terminology.above(ACT_CODE, "ACUTE") == {"ACUTE", "IMP", "_ActEncounterCode", "_ActCareProvisionCode"}


def test_the_child_property_adds_parents_beyond_the_nesting():
    # NOUSERPERM is nested under NOPERM and listed as a `child` of three other concepts
    parents = terminology.above(ACT_REASON, "NOUSERPERM") - {"NOUSERPERM"}
    assert {"NOPERM", "_StatusRevisionRefusalReasonCode",
            "_SubstanceAdministrationPermissionRefusalReasonCode"} <= parents
    assert "NOUSERPERM" in terminology.below(ACT_REASON, "_StatusRevisionRefusalReasonCode")


def test_value_sets_expand_from_compose():
    encounter_classes = {c for _, c in terminology.expand("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode")}
    # include is-a _ActEncounterCode, exclude the abstract head itself
    assert encounter_classes == {"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC", "SS", "VR"}
    # an include of another value set plus an enumerated include
    yes_no = terminology.expand("http://hl7.org/fhir/ValueSet/yesnodontknow")
    assert {c for _, c in yes_no} == {"Y", "N", "asked-unknown"}
    assert terminology.expand("http://hl7.org/fhir/ValueSet/yesnodontknow|4.0.1") == yes_no
    vitals = terminology.expand("http://hl7.org/fhir/ValueSet/observation-vitalsignresult")
    assert ("http://loinc.org", "8867-4") in vitals and len(vitals) == 13   # listed: LOINC itself not needed


@pytest.mark.parametrize("call", [
    lambda: terminology.below("http://loinc.org", "8867-4"),
    lambda: terminology.expand("http://hl7.org/fhir/ValueSet/condition-code"),   # SNOMED CT is-a filter
    lambda: terminology.expand("http://example.org/ValueSet/unknown"),
])
def test_what_this_server_cannot_know_is_unknown_not_guessed(call):
    with pytest.raises(terminology.Unknown):
        call()


def test_a_code_outside_its_system_is_a_bad_value():
    with pytest.raises(ValueError):
        terminology.below(ACT_CODE, "NOT-A-CODE")
