"""Every official R4 parameter of a stored type is either supported or declared unsupported."""

from __future__ import annotations

from conformance.capability import UNSUPPORTED_EXTENSION, capability_statement
from fhirserver import spec
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


def test_the_catalog_covers_every_stored_r4_type_from_the_official_data():
    assert set(MAPPINGS) == spec.resource_types() - {"Parameters"} and len(MAPPINGS) == 145
    total = sum(len(params_for(t)) for t in MAPPINGS)
    supported = sum(len(catalog.supported(t)) for t in MAPPINGS)
    assert total == 3002   # 145 types x 9 common parameters + 1,697 of their own
    assert total - supported == 145 * 3 + len(DECLINED_OWN)


# Every parameter of its own a type declines, beyond the three no type supports (_content,
# _text, _query). A parameter that starts or stops compiling changes this list on purpose.
DECLINED_OWN = {
    ("Bundle", "composition"), ("Bundle", "message"),            # Bundle.entry[0].resource: an indexer
    ("Location", "near"),                                         # special (geographic)
    ("MolecularSequence", "chromosome-variant-coordinate"),      # composites of three parts
    ("MolecularSequence", "chromosome-window-coordinate"),
    ("MolecularSequence", "referenceseqid-variant-coordinate"),
    ("MolecularSequence", "referenceseqid-window-coordinate"),
    # written for every access to health data: indexed only for BALP's queries (catalog.NOT_INDEXED)
    *(("AuditEvent", code) for code in ("address", "agent-name", "agent-role", "altid", "entity-name",
                                        "entity-role", "entity-type", "policy", "site", "source")),
}


def test_exactly_the_known_parameters_are_declined():
    own = {(t, code) for t in MAPPINGS for code in catalog.declined(t) if code not in ("_content", "_text", "_query")}
    assert own == DECLINED_OWN


def test_condition_onset_and_abatement_in_their_function_form_are_supported():
    """R4 writes them `Condition.onset.as(dateTime)`, not `(Condition.onset as dateTime)`."""
    supported = catalog.supported("Condition")
    for code, kind in [("onset-date", "date"), ("abatement-date", "date"), ("onset-age", "quantity"),
                       ("abatement-age", "quantity"), ("onset-info", "string"), ("abatement-string", "string")]:
        assert supported[code].kind_key == kind
    onset = supported["onset-date"].path
    assert onset([({"resourceType": "Condition", "onsetDateTime": "2020-01-02"}, "Condition")]) == \
        [("2020-01-02", "dateTime")]
    assert onset([({"resourceType": "Condition", "onsetString": "2020-01-02"}, "Condition")]) == []


def test_declined_parameters_say_why():
    for t in MAPPINGS:
        for code, d in catalog.declined(t).items():
            assert d.reason and len(d.reason) > 10, (t, code)


def test_column_only_parameters_are_bound_to_columns_and_write_no_side_rows():
    """A column-only parameter has no side rows to fall back on: its binding must exist, and
    the audit trail's BALP searches (agent, entity, patient by reference) keep theirs."""
    from mappings.bindings import binding
    for type_name, codes in catalog.COLUMN_ONLY.items():
        for code in codes:
            assert code in catalog.supported(type_name) and binding(type_name, code) is not None, (type_name, code)
            assert code not in catalog.indexed(type_name)
    assert set(catalog.indexed("AuditEvent")) == {"agent", "entity", "patient",
                                                   "_tag", "_profile", "_security", "_source"}
    assert catalog.tables("AuditEvent") == ("tok", "ref")
