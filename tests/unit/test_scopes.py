"""SMART scope grammar (SMART App Launch 2.0.0, scopes-and-launch-context.html)."""

from __future__ import annotations

import pytest

from fhirserver.auth.access import NOTHING, Access, Principal
from fhirserver.auth.scopes import is_admin, parse_scope, parse_scopes


@pytest.mark.parametrize("scope,letters", [
    ("patient/Observation.read", "rs"),      # v1 read = v2 rs
    ("user/*.write", "cud"),
    ("system/*.*", "cruds"),
    ("patient/Observation.rs", "rs"),
    ("user/Encounter.cruds", "cruds"),
    ("user/Encounter.cd", "cd"),
])
def test_permissions(scope, letters):
    assert parse_scope(scope).permissions == frozenset(letters)


@pytest.mark.parametrize("scope", [
    "patient/Observation.sr",          # out of order
    "patient/Observation.rr",          # repeated
    "patient/Observation.x",
    "patient/Observation.read?category=laboratory",   # v1 takes no query
    "patient/Observation.rs?",         # empty query
    "practitioner/Observation.rs",     # no such context
    "patient/observation.rs",          # not a type
    "openid", "fhirUser", "launch/patient", "offline_access",
])
def test_non_grants(scope):
    assert parse_scope(scope) is None


def test_a_constraint_is_kept_and_printed():
    g = parse_scope("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
    assert g.constraint == (("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),)
    assert str(g).startswith("patient/Observation.rs?category=")


def test_admin_needs_unconstrained_system_writes():
    assert is_admin(parse_scopes("system/*.cud"))
    assert is_admin(parse_scopes("system/*.write"))
    assert not is_admin(parse_scopes("user/*.cruds system/Patient.cud"))


def test_patient_grants_need_a_patient_and_confine_by_compartment():
    grants = parse_scopes("patient/*.rs")
    assert not Access(Principal(), grants).allows("Observation", "r")
    access = Access(Principal(patient="p1"), grants)
    assert str(access.confinement("Patient", "r")) == "(_id (or *|p1))"
    assert "Patient/p1" in str(access.confinement("Observation", "s"))
    assert access.confinement("Practitioner", "s") == NOTHING   # outside the compartment


def test_grants_are_ored_and_an_unrestricted_one_wins():
    both = Access(Principal(patient="p1"), parse_scopes("patient/Observation.rs user/Observation.rs"))
    assert both.confinement("Observation", "s") is None
    unknown = Access(Principal(patient="p1"), parse_scopes("patient/Observation.rs?nonsense=1"))
    assert unknown.confinement("Observation", "s") == NOTHING   # a constraint we cannot read grants nothing
