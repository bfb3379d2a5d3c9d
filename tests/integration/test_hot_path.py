"""The read and search hot path answers exactly as the general-purpose Starlette code did.

routes.py, responses.py and headers.py take short cuts on every request (the path without
building request.url, the scheme://host remembered per Host header, raw response headers
written directly, links quoted only where needed). These tests hold each short cut to the
Starlette or standard-library code it replaces.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote_plus, urlencode

import httpx
import orjson
import pytest_asyncio
from starlette.datastructures import URL
from starlette.responses import Response

from fhirserver.app import create_app
from fhirserver.settings import Settings
from tests import samples
from tests.integration.test_crud import create


@pytest_asyncio.fixture(scope="module")
async def hostapp(dsn):
    """An app without FHIR_BASE_URL: links and Content-Location come from the request's Host."""
    application = create_app(Settings(database_url=None), dsn=dsn)
    async with application.lifespan():
        yield application


def _client(app, base: str = "http://fhir.test", **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base, **kwargs)


async def test_read_headers_are_those_starlette_would_send(fhir):
    created = await create(fhir, samples.patient(family="Headers"))
    r = await fhir.get(f"/Patient/{created['id']}")
    assert r.status_code == 200
    stamp = datetime.fromisoformat(created["meta"]["lastUpdated"].replace("Z", "+00:00"))
    expected = Response(r.content, headers={
        "ETag": 'W/"1"', "Last-Modified": format_datetime(stamp, usegmt=True),
        "Content-Location": f"http://fhir.test/default/Patient/{created['id']}/_history/1"},
        media_type="application/fhir+json; charset=utf-8")
    assert r.headers.raw == expected.raw_headers


async def test_not_modified_has_no_body_headers(fhir):
    created = await create(fhir, samples.patient(family="NotModified"))
    r = await fhir.get(f"/Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b""
    assert [k for k, _ in r.headers.raw] == [b"etag", b"last-modified"]


async def test_minimal_create_has_a_zero_length_and_no_type(fhir):
    r = await fhir.post("/Patient", content=orjson.dumps(samples.patient()), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["content-length"] == "0" and "content-type" not in r.headers


async def test_base_url_follows_the_host_header_as_starlette_reads_it(hostapp):
    for host in ("example.org:8443", "[::1]:9000", "not a host", "evil/path"):
        async with _client(hostapp, headers={"Host": host}) as client:
            r = await client.post("/default/Patient", content=orjson.dumps(samples.patient(family="Host")),
                                  headers={"Content-Type": "application/fhir+json"})
            assert r.status_code == 201, r.text
            scope = {"type": "http", "scheme": "http", "server": ("fhir.test", None),   # as httpx sends it
                     "path": "/default/Patient", "query_string": b"", "headers": [(b"host", host.encode())]}
            url = URL(scope=scope)
            assert r.headers["Location"].startswith(f"http://{url.netloc}/default/Patient/"), (host, r.headers)


async def test_paths_that_starlette_rewrites_are_routed_as_before(fhir):
    r = await fhir.get("/Patient/a%3Fb")    # the id as request.url.path spells it: a%3Fb
    assert r.status_code == 400 and "'a%3Fb'" in r.text
    r = await fhir.get("/Patient/a%23b")
    assert r.status_code == 400 and "'a%23b'" in r.text


async def test_routes_are_the_same_on_the_second_request(fhir):
    for _ in range(2):
        assert (await fhir.get("/metadata")).status_code == 200
        assert (await fhir.get("/Patient/metadata")).status_code == 404     # an id, not the literal
        assert (await fhir.get("/Patient/_history")).status_code == 200
        assert (await fhir.get("/Patient/$everything")).status_code == 404  # reserved, no route
        r = await fhir.delete("/metadata")
        assert r.status_code == 405 and r.headers["Allow"] == "GET"


async def test_search_links_are_urlencoded(fhir):
    await create(fhir, samples.patient(family="Ünïcode Space"))
    params = [("family", "Ünïcode Space"), ("_count", "1"), ("given:contains", "a&b=c+d~_.-")]
    r = await fhir.get("/Patient", params=params)
    assert r.status_code == 200, r.text
    self_link = next(link["url"] for link in r.json()["link"] if link["relation"] == "self")
    base, _, query = self_link.partition("?")
    assert base == "http://fhir.test/default/Patient"
    items = [item.split("=", 1) for item in query.split("&")]
    assert ("given:contains", "a&b=c+d~_.-") in [(unquote_plus(k), unquote_plus(v)) for k, v in items]
    assert query == urlencode([(unquote_plus(k), unquote_plus(v)) for k, v in items])
