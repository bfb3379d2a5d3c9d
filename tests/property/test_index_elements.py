"""Property: the shortcuts of the index builder give exactly the rows of the plain evaluation.

`index_rows` evaluates only the parameters that read a key the resource has
(fhirpath.roots); `element_rows` computes one top-level element's rows, and a resource's rows
are the union of its elements' (the audit log caches them per repeated element). Both are
checked against evaluating every parameter of the type on the whole resource, for generated
resources of the stored types and some generic ones, and for the audit log's own events.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirserver.audit.events import ACTIONS, Access, Actor, audit_event
from fhirserver.audit.log import _columns as audit_columns
from fhirserver.audit.log import _index as audit_index
from mappings import MAPPINGS
from searchparams.index import _plan, _rows, _sorted, element_rows, index_rows, whole_rows
from tests.property import strategies
from tests.property.support import examples

BASE = "http://fhir.test/org-a"
TYPES = (*strategies.STORED_TYPES, "Condition", "Procedure", "DiagnosticReport", "Immunization")
SETTINGS = settings(max_examples=examples(40), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _every_parameter(resource: dict) -> dict[str, list[tuple]]:
    return _sorted(_rows(resource, _plan(resource["resourceType"]), BASE))


def _as_sets(rows: dict[str, list[tuple]]) -> dict[str, set[tuple]]:
    return {kind: set(r) for kind, r in rows.items()}


def _by_elements(resource: dict) -> dict[str, set[tuple]]:
    out = _as_sets(whole_rows(resource, BASE))
    for key, value in resource.items():
        if key != "resourceType":
            for kind, rows in element_rows(resource["resourceType"], key, value, BASE).items():
                out[kind] |= set(rows)
    return out


@pytest.mark.parametrize("type_name", TYPES)
@SETTINGS
@given(data=st.data())
def test_pruned_and_element_wise_rows_equal_every_parameter_on_the_whole(type_name, data):
    resource = data.draw(strategies.documents(type_name), label="resource")
    expected = _every_parameter(resource)
    assert index_rows(resource, BASE) == expected
    assert _by_elements(resource) == _as_sets(expected)


_ids = st.from_regex(r"[A-Za-z0-9\-.]{1,12}", fullmatch=True)
_refs = st.tuples(st.sampled_from(["Patient", "Observation", "Encounter", "Claim"]), _ids).map("/".join)
actors = st.builds(Actor, st.none() | _ids, st.none() | _ids, st.none() | _refs.map(lambda r: "Practitioner/" + r[-5:]),
                   st.none() | st.sampled_from(["127.0.0.1", "10.0.0.7", "::1"]), st.booleans(),
                   st.none() | st.sampled_from(["https://idp.test", "urn:fhirserver:local-issuer"]))
accesses = st.builds(Access, st.none() | st.sampled_from(sorted(ACTIONS)), st.none() | st.just("Observation"),
                     st.lists(_refs, max_size=4).map(tuple), st.none() | st.just("code=1234-5&_count=10"),
                     st.lists(_ids.map(lambda i: f"Patient/{i}"), max_size=3).map(tuple),
                     st.sampled_from([200, 201, 401, 403, 404, 500]), st.just("org-a"), st.just(BASE))


@SETTINGS
@given(actor=actors, access=accesses, repeat=st.booleans())
def test_the_audit_logs_cached_rows_equal_index_rows(actor, access, repeat):
    event = audit_event(actor, access, datetime.now(timezone.utc))
    if repeat:   # a second event like it: this time from the cache
        audit_index(event, BASE)
    assert _as_sets(audit_index(event, BASE)) == _as_sets(index_rows(event, BASE))
    assert audit_columns(event, BASE) == MAPPINGS["AuditEvent"].column_values(event, BASE)
