"""searchparams.inmemory: the filters a scope's confinement is made of, matched against one
resource in memory (R4 token and reference rules), and everything else failing closed."""

from searchparams.inmemory import matches
from searchparams.parse import parse_filter

LAB = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS = {"resourceType": "Observation", "id": "o1", "status": "final",
       "category": [{"coding": [{"system": LAB, "code": "laboratory"}]}],
       "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
       "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-05-01"}


def _f(code: str, value: str):
    return parse_filter("Observation", code, value)


def test_references_and_tokens_match_as_search_does():
    assert matches(OBS, _f("subject", "Patient/p1"))
    assert matches(OBS, _f("patient", "p1"))
    assert not matches(OBS, _f("subject", "Patient/p2"))
    assert matches(OBS, _f("category", "laboratory"))
    assert matches(OBS, _f("category", f"{LAB}|laboratory"))
    assert matches(OBS, _f("category", f"{LAB}|"))
    assert not matches(OBS, _f("category", "|laboratory"))      # it has a system
    assert not matches(OBS, _f("category", "http://other|laboratory"))
    assert matches(OBS, _f("status", "final"))                   # a code with its implied system
    assert matches(OBS, _f("_id", "o1")) and not matches(OBS, _f("_id", "o2"))


def test_anything_else_fails_closed():
    assert not matches(OBS, _f("date", "2024-05-01"))             # true in SQL, unknown here: hidden
    assert not matches(OBS, _f("category:not", "vital-signs"))
    assert not matches(OBS, parse_filter("Observation", "subject:Patient.family", "Smith"))


def test_decide_says_when_it_cannot_tell():
    from searchparams import ast
    from searchparams.inmemory import decide
    date, mine, theirs = _f("date", "2024-05-01"), _f("subject", "Patient/p1"), _f("subject", "Patient/p2")
    assert decide(OBS, date) is None
    assert decide(OBS, ast.AnyOf((date, mine))) is True      # one True decides an AnyOf
    assert decide(OBS, ast.AnyOf((date, theirs))) is None
    assert decide(OBS, ast.AllOf((date, theirs))) is False   # one False decides an AllOf
    assert decide(OBS, ast.AllOf((date, mine))) is None
    assert decide(OBS, ast.AnyOf(())) is False                # NOTHING
