"""Every official R4 parameter of a stored type is either supported or declared unsupported."""

from __future__ import annotations

from conformance.capability import UNSUPPORTED_EXTENSION, capability_statement
from mappings import MAPPINGS
from searchparams import catalog
from searchparams.registry import params_for

COMMON = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}


def test_every_listed_parameter_is_supported_or_declared_unsupported():
    statement = capability_statement("http://x", ["search-type"], ["read"], search_supported=True)
    for entry in statement["rest"][0]["resource"]:
        listed = set(params_for(entry["type"]))
        supported = {p["name"] for p in entry["searchParam"]}
        declined = {e["valueString"].split(":")[0] for e in entry["extension"] if e["url"] == UNSUPPORTED_EXTENSION}
        assert supported | declined == listed, entry["type"]
        assert not supported & declined
        assert COMMON <= supported, entry["type"]


def test_the_catalog_covers_the_ten_stored_types_from_the_official_data():
    assert set(MAPPINGS) == {"Organization", "Location", "Practitioner", "Patient", "Encounter", "Observation",
                             "Appointment", "MedicationRequest", "Claim", "AuditEvent"}
    total = sum(len(params_for(t)) for t in MAPPINGS)
    supported = sum(len(catalog.supported(t)) for t in MAPPINGS)
    assert total == 287 and supported >= 250   # 10 types x 9 common parameters + 197 of their own


def test_declined_parameters_say_why():
    for t in MAPPINGS:
        for code, d in catalog.declined(t).items():
            assert d.reason and len(d.reason) > 10, (t, code)
