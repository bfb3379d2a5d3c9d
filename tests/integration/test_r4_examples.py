"""Every official R4 example (the `hl7.fhir.r4.examples` 4.0.1 package, 5,306 resources of
every type) round-trips exactly through PUT and GET, or is refused with an OperationOutcome
where the official schema itself rejects it.

The package (19 MB) is fetched from the npm registry once and kept, checked against its
published SHA-512, under FHIR_TEST_CACHE (default ~/.cache/fhirserver-tests); without network
and without a kept copy the test is skipped. Referential integrity is off: the examples refer
to resources the package does not hold.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
import urllib.request
from pathlib import Path

import httpx
import orjson
import pytest
import pytest_asyncio

from fhirserver.app import create_app
from fhirserver.routing import APPEND_ONLY
from fhirserver.settings import Settings
from fhirserver.tenants import create_tenant
from fhirserver.validation import dumps_exact, loads_exact

URL = "https://registry.npmjs.org/hl7.fhir.r4.examples/-/hl7.fhir.r4.examples-4.0.1.tgz"
SHA512 = "DXBdIZOeQaSKIgCU7w6HOC7sw/6BzylmipLkBW4f//pT+Bc94x+8LImwTdvaNThPJoOzpBzvxAzNqjeu3X/zLw=="
CACHE = Path(os.environ.get("FHIR_TEST_CACHE") or Path.home() / ".cache" / "fhirserver-tests")

# The examples the official R4 JSON schema rejects, by what it rejects: strings holding a
# no-break space (the string pattern excludes it), `_baseDefinition`/`_profile` (canonical
# elements have no `_` form in the schema), one id longer than 64 characters and the two
# ImplementationGuides that refer to it (a reference's id follows the id rule).
SCHEMA_REJECTS = 42


def _package() -> Path:
    path = CACHE / URL.rsplit("/", 1)[1]
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            data = urllib.request.urlopen(URL, timeout=60).read()
        except OSError as exc:
            pytest.skip(f"the R4 examples package cannot be fetched here ({exc})")
        if base64.b64encode(hashlib.sha512(data).digest()).decode() != SHA512:
            pytest.fail("the R4 examples package does not match its published SHA-512")
        path.write_bytes(data)
    return path


def _examples() -> list[tuple[str, bytes]]:
    with tarfile.open(_package()) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()
                if m.isfile() and m.name.endswith(".json") and "/package/" not in m.name[8:]
                and not m.name.endswith(("package.json", ".index.json"))]


def _canonical(raw: bytes) -> bytes:
    """The resource without what the server owns (meta.versionId, meta.lastUpdated), in
    compact JSON with every number's text as written: equal bytes mean nothing was lost,
    reordered or reformatted."""
    value = loads_exact(raw)
    meta = {k: v for k, v in (value.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    value.pop("meta", None)
    if meta:
        value["meta"] = meta
    return dumps_exact(value)


@pytest_asyncio.fixture(scope="module")
async def examples_client(dsn, owner):
    await create_tenant(owner, "examples", "R4 examples", months_ahead=1)
    settings = Settings(database_url=None, public_base_url="http://fhir.test", max_body_bytes=64 * 1024 * 1024,
                        referential_integrity=False)
    application = create_app(settings, dsn=dsn)
    async with application.lifespan():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://fhir.test/examples",
                                     headers={"Content-Type": "application/fhir+json"}, timeout=120) as client:
            yield client


def _batches(entries: list[dict], limit: int = 3 * 1024 * 1024) -> list[list[dict]]:
    out, size = [[]], 0
    for e in entries:
        n = len(dumps_exact(e))
        if out[-1] and size + n > limit:
            out.append([])
            size = 0
        out[-1].append(e)
        size += n
    return out


async def test_every_official_r4_example_round_trips_exactly(examples_client):
    fhir = examples_client
    examples = _examples()
    assert len(examples) == 5306
    entries, sources = [], []
    for name, raw in examples:
        value = orjson.loads(raw)
        t, id_ = value["resourceType"], value["id"]
        request = {"method": "POST", "url": t} if t in APPEND_ONLY else {"method": "PUT", "url": f"{t}/{id_}"}
        entries.append({"resource": loads_exact(raw), "request": request})
        sources.append((name, raw))
    answers = []
    for batch in _batches(entries):
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": batch}
        r = await fhir.post("", content=dumps_exact(bundle))
        assert r.status_code == 200, r.text[:1000]
        answers += r.json()["entry"]
    refused = [(name, a["response"]) for (name, _), a in zip(sources, answers)
               if not a["response"]["status"].startswith("201")]
    assert all(resp["status"].startswith(("400", "422")) and resp["outcome"]["resourceType"] == "OperationOutcome"
               for _, resp in refused), refused[:5]
    assert len(refused) == SCHEMA_REJECTS, [(n, r["outcome"]["issue"][0]["diagnostics"][:80]) for n, r in refused]
    differ = []
    for (name, raw), answer in zip(sources, answers):
        if not answer["response"]["status"].startswith("201"):
            continue
        location = answer["response"]["location"].split("/_history/")[0]
        read = await fhir.get(location[location.index("/examples/") + len("/examples"):])
        assert read.status_code == 200, (name, read.text[:300])
        mine, theirs = orjson.loads(read.content), orjson.loads(raw)
        if mine["resourceType"] in APPEND_ONLY:   # POSTed: the server chose the id
            theirs["id"] = mine["id"]
            raw = orjson.dumps(theirs)
        if _canonical(read.content) != _canonical(raw):
            differ.append(name)
    assert differ == []
