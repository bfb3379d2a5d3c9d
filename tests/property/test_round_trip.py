"""Property: any valid generated resource of each stored type round-trips through create and
read unchanged.

For each of the ten seed types and 32 of the types on the shared tables, resources are
generated from the official R4 JSON schema (tests/property/strategies.py). Each is POSTed as
raw bytes (compact, indented, or with non-ASCII characters as \\u escapes); the 201 response
must be exactly the sent JSON (same elements, key order and decimal text) plus the server's
`id` and `meta` (versionId 1, lastUpdated, then any client meta.tag/profile/security/source),
and a read of the new resource must return byte for byte what the create returned.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirserver.outcomes import FhirError
from fhirserver.validation import validate
from tests.property import strategies
from tests.property.support import assert_stored, examples, show, unique_mrn

SETTINGS = settings(max_examples=examples(25), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


@pytest.mark.parametrize("type_name", strategies.STORED_TYPES + strategies.GENERIC_TYPES)
@SETTINGS
@given(data=st.data())
async def test_any_valid_resource_round_trips_through_create_and_read(fhir, type_name, data):
    resource = unique_mrn(data.draw(strategies.documents(type_name), label="resource"))
    if data.draw(st.booleans(), label="with a client id"):
        resource = strategies.with_id(resource, "client-id-ignored")    # create ignores it
    layout = data.draw(st.sampled_from(["compact", "indented", "ascii-escaped"]), label="layout")
    sent = strategies.dumps(resource, indent=layout == "indented", ascii_only=layout == "ascii-escaped")
    try:    # the generator's own contract: the server's validator accepts every resource
        validate(orjson.loads(sent), type_name)
    except FhirError as err:
        pytest.fail(f"generated an invalid {type_name}: {err.issues}\n{show(sent)}")

    created = await fhir.post(f"/{type_name}", content=sent)
    assert created.status_code == 201, f"POST /{type_name}\nsent: {show(sent)}\nreply: {show(created.content)}"
    id_ = assert_stored(created.content, sent, type_name, None, 1, f"POST /{type_name}")
    assert id_ != "client-id-ignored"
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"].endswith(f"/{type_name}/{id_}/_history/1")

    read = await fhir.get(f"/{type_name}/{id_}")
    assert read.status_code == 200, show(read.content)
    assert read.content == created.content, (
        f"read differs from create\ncreate: {show(created.content)}\nread:   {show(read.content)}")
    assert read.headers["ETag"] == 'W/"1"'
