"""The audit trail end to end: every FHIR request through the real app leaves exactly one
AuditEvent (refusals included), a failing audit database stops health data from being
served (503 AUDIT-UNAVAILABLE) and loses nothing already accepted, and a SIGTERM'd server
writes every queued event before it exits.

Each test counts only its own events, selected in SQL by the fake client address its
requests came from (or, for the real server, by its unique search query)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import asyncpg
import httpx
import orjson
import pytest_asyncio

from fhirserver.app import create_app
from fhirserver.audit.events import INTERACTION
from fhirserver.settings import Settings
from tests import samples
from tests.integration.test_security import ISSUER, ROOT, Keys, client
from tests.integration.test_serve import _free_port

TRAIL = ("192.0.2.55", 1)     # TEST-NET-1: this module's callers, one address per test
OUTAGE = ("192.0.2.66", 1)


@pytest_asyncio.fixture(scope="module")
async def audited(dsn, tmp_path_factory):
    keys = Keys()
    path = tmp_path_factory.mktemp("audit-auth") / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    application = create_app(Settings(public_base_url=ROOT, auth_issuer=ISSUER, auth_jwks=str(path)), dsn=dsn)
    async with application.lifespan():
        yield application, keys


async def _events(owner, address: str) -> list[dict]:
    rows = await owner.fetch("SELECT resource FROM audit_events WHERE resource::jsonb @> $1::jsonb",
                             json.dumps({"agent": [{"network": {"address": address}}]}))
    return [json.loads(r["resource"]) for r in rows]


def _code(event: dict) -> str | None:
    return event.get("subtype", [{}])[0].get("code")


def _whats(event: dict) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


def _patients(event: dict) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", [])
            if "what" in e and e.get("role", {}).get("code") == "1"]


def _ids(event: dict) -> list[str | None]:
    return [a["who"].get("identifier", {}).get("value") for a in event["agent"]]


async def test_every_interaction_refusal_and_bundle_entry_leaves_exactly_its_audit_event(audited, owner):
    app, keys = audited
    family = f"Trail{uuid.uuid4().hex[:10]}"
    token = keys.token("system/*.cruds", sub="auditor-7", client_id="audit-app")
    statuses: dict[str, int] = {}
    async with client(app, token, TRAIL) as c:
        r = await c.post("/Patient", json=samples.patient(family=family))
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await c.post("/Observation", json=samples.observation(pid))
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        statuses["read"] = (await c.get(f"/Observation/{oid}")).status_code
        statuses["vread"] = (await c.get(f"/Observation/{oid}/_history/1")).status_code
        updated = {**samples.observation(pid), "id": oid, "status": "amended"}
        statuses["update"] = (await c.put(f"/Observation/{oid}", json=updated)).status_code
        statuses["patch"] = (await c.patch(f"/Observation/{oid}", content=json.dumps(
            [{"op": "replace", "path": "/status", "value": "corrected"}]),
            headers={"Content-Type": "application/json-patch+json"})).status_code
        found = await c.get("/Patient", params={"family": family, "_revinclude": "Observation:subject"})
        statuses["search-type"] = found.status_code
        assert [e["resource"]["id"] for e in found.json()["entry"]] == [pid, oid]
        statuses["history-instance"] = (await c.get(f"/Observation/{oid}/_history")).status_code
        statuses["delete"] = (await c.delete(f"/Observation/{oid}")).status_code
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:0f6c1a52-3a4c-4f0e-9a3e-6b1e2f6e7a01",
             "resource": samples.patient(family=family + "T"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": samples.observation(None, subject={
                "reference": "urn:uuid:0f6c1a52-3a4c-4f0e-9a3e-6b1e2f6e7a01"}),
             "request": {"method": "POST", "url": "Observation"}}]}
        tx = await c.post("/", json=bundle)
        statuses["transaction"] = tx.status_code
        assert tx.status_code == 200, tx.text
        tx_refs = ["/".join(e["response"]["location"].removeprefix(f"{ROOT}/acme/").split("/")[:2])
                   for e in tx.json()["entry"]]
    assert set(statuses.values()) <= {200, 201, 204}, statuses
    async with client(app, None, TRAIL) as c:
        assert (await c.get(f"/Patient/{pid}")).status_code == 401
    async with client(app, keys.token("openid fhirUser", sub="scopeless-8", client_id="weak-app"), TRAIL) as c:
        forbidden = await c.get(f"/Patient/{pid}")
        assert forbidden.status_code == 403, forbidden.text
    await asyncio.wait_for(app.state.services.audit.flush(), 15)

    events = await _events(owner, TRAIL[0])
    assert Counter(_code(e) for e in events) == Counter(   # the transaction's two entries are creates too
        {"create": 4, "read": 3, "vread": 1, "update": 1, "patch": 1, "search-type": 1,
         "history-instance": 1, "delete": 1, "transaction": 1}), [(_code(e), e["outcome"]) for e in events]
    for e in events:
        assert {s["system"] for s in e["subtype"]} == {INTERACTION}
        assert e["source"]["site"] == "acme"
    ok = [e for e in events if e["outcome"] == "0"]
    refused = [e for e in events if e["outcome"] != "0"]
    assert len(ok) == 12 and len(refused) == 2
    for e in ok:
        assert _ids(e) == ["auditor-7", "audit-app"], e["agent"]
    by = {}
    for e in ok:
        by.setdefault(_code(e), []).append(e)

    creates = sorted(by["create"], key=lambda e: (len(_whats(e)), bool(set(_whats(e)) & set(tx_refs))))
    assert [_whats(e) for e in creates[0::2]] == [[f"Patient/{pid}"], [f"Observation/{oid}", f"Patient/{pid}"]]
    assert [sorted(_whats(e)) for e in creates[1::2]] == [[tx_refs[0]], sorted(tx_refs)]   # one per entry
    assert [e["action"] for e in creates] == ["C"] * 4
    (read,) = by["read"]
    assert read["action"] == "R" and _whats(read) == [f"Observation/{oid}", f"Patient/{pid}"]
    (search,) = by["search-type"]
    queries = [base64.b64decode(x["query"]).decode() for x in search["entity"] if "query" in x]
    assert queries == [f"family={family}&_revinclude=Observation%3Asubject"]
    assert _patients(search) == [f"Patient/{pid}"]   # whose data came back
    assert _whats(search) == [f"Patient/{pid}"]      # a query is not a list of what it returned (BALP)
    (txe,) = by["transaction"]
    assert [r.split("/")[0] for r in tx_refs] == ["Patient", "Observation"]
    assert sorted(_whats(txe)) == sorted(tx_refs)   # both resources the transaction created

    by_status = {e["outcomeDesc"]: e for e in refused}
    assert set(by_status) == {"HTTP 401", "HTTP 403"}
    for e in by_status.values():
        assert e["outcome"] == "4" and _code(e) == "read"
        assert _whats(e) == [f"Patient/{pid}"]   # what was asked for, though refused
    assert "identifier" not in by_status["HTTP 401"]["agent"][0]["who"]
    assert _ids(by_status["HTTP 403"]) == ["scopeless-8", "weak-app"]
    instance = ("read", "vread", "update", "patch", "history-instance", "delete")
    assert all(len(by[code]) == 1 for code in instance)
    # the Observation touched and the patient its data is about, in every instance-level event
    assert {code: (f"Observation/{oid}" in _whats(by[code][0]), _patients(by[code][0])) for code in instance} == \
        {code: (True, [f"Patient/{pid}"]) for code in instance}


async def test_a_batch_leaves_its_own_event_and_one_per_entry_with_the_entrys_outcome(audited, owner):
    app, keys = audited
    address = ("192.0.2.56", 1)
    token = keys.token("system/*.cruds", sub="batcher-3", client_id="batch-app")
    async with client(app, token, address) as c:
        made = await c.post("/Patient", json=samples.patient(family=f"Batch{uuid.uuid4().hex[:8]}"))
        pid = made.json()["id"]
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
            {"request": {"method": "GET", "url": "Patient/no-such-patient"}},
            {"resource": samples.observation(pid), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": f"Observation?subject=Patient/{pid}"}}]}
        done = await c.post("/", json=batch)
        assert done.status_code == 200, done.text
        assert [e["response"]["status"][:3] for e in done.json()["entry"]] == ["200", "404", "201", "200"]
        oid = done.json()["entry"][2]["response"]["location"].split("/")[-3]
        failed = await c.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": samples.observation(pid), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": "Patient/no-such-patient"}},
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Observation"}}]})
        assert failed.status_code >= 400
    await asyncio.wait_for(app.state.services.audit.flush(), 15)
    events = [e for e in await _events(owner, address[0]) if _code(e) != "create" or _whats(e) != [f"Patient/{pid}"]]
    got = sorted((_code(e), e["outcome"], tuple(sorted(_whats(e)))) for e in events)
    assert got == sorted([
        ("batch", "0", (f"Observation/{oid}", f"Patient/{pid}")),    # the Bundle: everything it touched
        ("read", "0", (f"Patient/{pid}",)),
        ("read", "4", ("Patient/no-such-patient",)),                  # not found: what was asked for
        ("search-type", "0", (f"Patient/{pid}",)),                    # a query names its patients
        ("create", "0", (f"Observation/{oid}", f"Patient/{pid}")),
        ("transaction", "4", ()),                                      # rolled back: one event, nothing touched
    ]), got


async def _until_unhealthy(app, c, pid: str, seconds: float = 10) -> int:
    """Issue reads until the audit log notices the failure; the number served meanwhile."""
    audit, served = app.state.services.audit, 0
    deadline = time.monotonic() + seconds
    while audit.healthy:
        assert time.monotonic() < deadline, "the audit log never noticed the failing writes"
        r = await c.get(f"/Patient/{pid}")
        if r.status_code == 200:
            served += 1
        await asyncio.sleep(0.05)
    return served


async def test_a_failing_audit_database_answers_503_and_serves_no_data(audited, owner):
    app, keys = audited
    audit = app.state.services.audit
    family = f"Outage{uuid.uuid4().hex[:10]}"
    token = keys.token("system/*.cruds", sub="outage-user", client_id="outage-app")
    async with client(app, token, OUTAGE) as c:
        made = await c.post("/Patient", json=samples.patient(family=family))
        assert made.status_code == 201
        pid = made.json()["id"]
        await asyncio.wait_for(audit.flush(), 15)
        assert audit.healthy
        await owner.execute("ALTER TABLE audit_events ADD CONSTRAINT audit_fail CHECK (false) NOT VALID")
        try:
            served = await _until_unhealthy(app, c, pid)
            assert served >= 1   # accepted before anyone knew: held, not dropped
            refused = await c.get(f"/Patient/{pid}")
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["details"]["coding"][0]["code"] == "AUDIT-UNAVAILABLE"
            assert family not in refused.text and pid not in refused.text
            assert refused.headers.get("Retry-After") == "5"
            searched = await c.get("/Patient", params={"family": family})
            assert searched.status_code == 503 and family not in searched.text
            assert audit.queued >= served and audit.failed_batches >= 1
        finally:
            await owner.execute("ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_fail")
        await asyncio.wait_for(audit.flush(), 20)
        assert audit.healthy
        again = await c.get(f"/Patient/{pid}")
        assert again.status_code == 200 and family in again.text
        await asyncio.wait_for(audit.flush(), 15)
    events = await _events(owner, OUTAGE[0])
    # the create, every read served before the log noticed, and the read after: the 503s
    # were never served, so (by design) they have no event.
    assert Counter(_code(e) for e in events) == Counter({"create": 1, "read": served + 1})
    assert all(e["outcome"] == "0" for e in events)


async def test_sigterm_writes_every_queued_event_before_the_server_exits(dsn, owner, tmp_path):
    port = _free_port()
    log_path = tmp_path / "server.log"
    family = f"Sigterm{uuid.uuid4().hex[:10]}"
    n = 200
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fhirserver", "serve", "--port", str(port),
                                 "--data-dir", str(tmp_path / "data")],
                                env={**os.environ, "DATABASE_URL": dsn}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        # Hold the audit writer at its first COPY so that every event is still queued at SIGTERM.
        blocker = await asyncpg.connect(dsn)
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        try:
            sem = asyncio.Semaphore(16)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/default", timeout=30) as c:
                async def one() -> int:
                    async with sem:
                        return (await c.get("/Patient", params={"family": family})).status_code
                codes = await asyncio.gather(*(one() for _ in range(n)))
            assert codes == [200] * n
            query = base64.b64encode(f"family={family}".encode()).decode()
            mine = json.dumps({"entity": [{"query": query}]})
            assert await blocker.fetchval(
                "SELECT count(*) FROM audit_events WHERE resource::jsonb @> $1::jsonb", mine) == 0
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(2)   # the server is closing, its writer still waiting on the lock
            assert proc.poll() is None, "exited with events still queued: " + log_path.read_text()[-3000:]
        finally:
            await tx.rollback()
            await blocker.close()
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline, "server did not exit after SIGTERM"
            await asyncio.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    count = await owner.fetchval("SELECT count(*) FROM audit_events WHERE resource::jsonb @> $1::jsonb", mine)
    assert count == n, log_path.read_text()[-3000:]
    rows = await owner.fetch("SELECT resource FROM audit_events WHERE resource::jsonb @> $1::jsonb", mine)
    for row in rows:
        event = orjson.loads(row["resource"])
        assert _code(event) == "search-type" and event["outcome"] == "0"
        assert event["agent"][0]["network"]["address"] == "127.0.0.1"
        assert event["agent"][0]["who"] == {"display": "anonymous"}
