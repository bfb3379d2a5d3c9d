"""The audit log: BALP-shaped AuditEvents, written in batches by COPY, searchable like any
AuditEvent, flushed on close, and held (never dropped) through a database outage."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import pytest

from fhirserver.audit import Access, Actor, AuditLog, AuditUnavailable, audit_event, patients_in
from fhirserver.audit.events import ACTIONS, INTERACTION
from fhirserver.db.partitions import PartitionCache
from fhirserver.db.pools import open_database
from fhirserver.tenants import create_tenant
from fhirserver.validation import validate
from tests import samples

BASE = "http://fhir.test"
DOCTOR = Actor("sub-doc", "client-ehr", "Practitioner/doc-1", "10.1.2.3", issuer="https://idp.test")
STRANGER = Actor(None, None, None, "10.9.9.9", anonymous=True)


def _access(slug: str, interaction: str | None, *, ids: tuple[str, ...] = (), query: str | None = None,
            patients: tuple[str, ...] = (), status: int = 200, rtype: str | None = "Observation") -> Access:
    return Access(interaction, rtype, ids, query, patients, status, slug, f"{BASE}/{slug}")


async def _tenant(owner, slug: str) -> int:
    return (await create_tenant(owner, slug, months_ahead=0)).org_id


async def _audit_log(dsn: str, **kwargs):
    db = await open_database(dsn, min_size=1, max_size=2)
    log = AuditLog(db.primary.pool, PartitionCache(), **kwargs)
    log.start()
    return log, db


async def _count(owner, org: int) -> int:
    return await owner.fetchval("SELECT count(*) FROM audit_events WHERE org_id = $1", org)


def _subtypes(bundle: dict) -> list[str]:
    """The interactions of the events this module recorded (by their callers' addresses): the
    app audits the test's own HTTP requests into the same tenant, in the background."""
    ours = {DOCTOR.address, STRANGER.address}
    return sorted(s["code"] for e in bundle.get("entry", []) for s in e["resource"].get("subtype", ())
                  if e["resource"]["agent"][0].get("network", {}).get("address") in ours)


def test_an_event_for_every_interaction_and_refusal_is_a_valid_r4_audit_event():
    now = datetime.now(timezone.utc)
    cases = [(i, DOCTOR, 200) for i in ACTIONS] + [(None, STRANGER, 401), ("read", DOCTOR, 403),
                                                     ("search-type", STRANGER, 500)]
    for interaction, actor, status in cases:
        access = _access("default", interaction, ids=("Observation/o-1", "Patient/p-1"), patients=("Patient/p-1",),
                         query="code=1234-5" if interaction and "search" in interaction else None, status=status)
        event = audit_event(actor, access, now)
        validate(event, "AuditEvent")   # raises FhirError listing every problem
        assert event["action"] == ACTIONS.get(interaction or "", "E")
        assert event["outcome"] == {200: "0", 401: "4", 403: "4", 500: "8"}[status]
        assert event.get("subtype", [{}])[0].get("code") == interaction
        whats = [e["what"]["reference"] for e in event["entity"] if "what" in e]
        assert whats == ["Observation/o-1", "Patient/p-1"]   # the patient once, in the Patient role
    anonymous = audit_event(STRANGER, _access("default", None, status=401), now)
    assert anonymous["agent"] == [{"type": anonymous["agent"][0]["type"], "requestor": True, "name": "anonymous",
                                   "who": {"display": "anonymous"}, "network": {"address": "10.9.9.9", "type": "2"}}]
    search = audit_event(DOCTOR, _access("default", "search-type", query="subject=Patient/p-1"), now)
    assert base64.b64decode(search["entity"][0]["query"]) == b"subject=Patient/p-1"
    assert [a["who"]["identifier"]["value"] for a in search["agent"]] == ["sub-doc", "client-ehr"]


def test_patients_in_finds_relative_absolute_and_versioned_patient_references():
    text = orjson.dumps({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/a"},
                         "performer": [{"reference": "http://elsewhere.test/fhir/Patient/b/_history/3"},
                                       {"reference": "Practitioner/c"}],
                         "note": [{"text": "\"reference\": Patient/x"}]}).decode()
    assert patients_in("Observation", "o", text) == {"Patient/a", "Patient/b"}
    assert patients_in("Patient", "p", '{"resourceType":"Patient","id":"p"}') == {"Patient/p"}


async def test_a_batch_is_written_in_one_transaction_and_found_by_every_balp_search(owner, dsn, http):
    slug = "audit-search"
    org = await _tenant(owner, slug)
    log, db = await _audit_log(dsn)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    try:
        for event in (audit_event(DOCTOR, _access(slug, "read", ids=("Observation/o-1",)), before),
                      audit_event(DOCTOR, _access(slug, "search-type", query="subject=Patient/p-7",
                                                  patients=("Patient/p-7",)), before),
                      audit_event(DOCTOR, _access(slug, "create", ids=("Observation/o-2",), status=201), before),
                      audit_event(STRANGER, _access(slug, "read", ids=("Observation/o-1",), status=401), before),
                      audit_event(DOCTOR, _access(slug, "delete", ids=("Patient/p-8",), rtype="Patient"), before)):
            log.record(org, f"{BASE}/{slug}", event)
        await asyncio.wait_for(log.flush(), 10)
    finally:
        await log.close()
        await db.close()
    assert (log.written, log.failed_batches, log.queued) == (5, 0, 0)
    assert await _count(owner, org) == 5
    # One transaction: the main rows and every side row carry the same xmin.
    xmins = await owner.fetch("SELECT DISTINCT xmin::text FROM audit_events WHERE org_id = $1 UNION "
                              "SELECT DISTINCT xmin::text FROM audit_events_ref WHERE org_id = $1", org)
    assert len(xmins) == 1
    assert await owner.fetchval("SELECT count(*) FROM resource_refs WHERE org_id = $1", org) == 0

    async def found(**params) -> list[str]:
        r = await http.get(f"/{slug}/AuditEvent", params={**params, "_count": "50"})
        assert r.status_code == 200, r.text
        return _subtypes(r.json())

    assert await found(agent="Practitioner/doc-1") == ["create", "delete", "read", "search-type"]
    assert await found(entity="Observation/o-1") == ["read", "read"]
    assert await found(patient="Patient/p-7") == ["search-type"]
    assert await found(patient="Patient/p-8") == ["delete"]
    assert await found(subtype=f"{INTERACTION}|create") == ["create"]
    assert await found(outcome="4") == ["read"]
    assert await found(type="http://terminology.hl7.org/CodeSystem/audit-event-type|rest") == \
        ["create", "delete", "read", "read", "search-type"]
    assert len(await found(date=f"ge{(before - timedelta(minutes=1)).isoformat()}")) == 5
    assert await found(date="lt2000-01-01") == []
    assert await found(**{"agent:missing": "true"}) == ["read"]   # no fhirUser: the stranger
    assert await found(action="R", outcome="0") == ["read"]
    assert await found(**{"subtype:not": "read"}) == ["create", "delete", "search-type"]
    # The trail's searches are answered from its own columns and three reference indexes:
    # each event writes its row and a few reference rows, nothing for type, date or outcome.
    side = {t: await owner.fetchval(f"SELECT count(*) FROM {t} WHERE org_id = $1", org)
            for t in ("audit_events_tok", "audit_events_ref")}
    assert side == {"audit_events_ref": 11, "audit_events_tok": 8}   # tok: agent:identifier (sub, client id)


async def test_an_audited_patient_can_still_be_deleted(owner, dsn, http):
    """The audit writes no reference-index rows: a trail mentioning a patient must not make
    the patient undeletable (referential integrity refuses deletes of referenced resources)."""
    slug = "audit-delete"
    org = await _tenant(owner, slug)
    made = await http.post(f"/{slug}/Patient", content=orjson.dumps(samples.patient(family="Audited")),
                           headers={"Content-Type": "application/fhir+json"})
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    log, db = await _audit_log(dsn)
    try:
        event = audit_event(DOCTOR, _access(slug, "read", ids=(f"Patient/{pid}",), rtype="Patient"),
                            datetime.now(timezone.utc))
        log.record(org, f"{BASE}/{slug}", event)
        await asyncio.wait_for(log.flush(), 10)
    finally:
        await log.close()
        await db.close()
    assert (await http.delete(f"/{slug}/Patient/{pid}")).status_code in (200, 204)
    found = (await http.get(f"/{slug}/AuditEvent", params={"patient": f"Patient/{pid}"})).json()
    assert _subtypes(found) == ["read"]


async def test_close_writes_everything_queued_in_batches(owner, dsn):
    slug = "audit-close"
    org = await _tenant(owner, slug)
    log, db = await _audit_log(dsn, max_queue=3000, batch=500)
    try:
        now = datetime.now(timezone.utc)
        for n in range(2300):   # no await in between: the writer finds all 2300 waiting
            log.record(org, f"{BASE}/{slug}", audit_event(DOCTOR, _access(slug, "read", ids=(f"Observation/{n}",)),
                                                          now))
        assert log.queued == 2300
        await log.close()
        with pytest.raises(AuditUnavailable):
            log.record(org, f"{BASE}/{slug}", audit_event(DOCTOR, _access(slug, "read"), now))
    finally:
        await db.close()
    assert (log.written, log.queued) == (2300, 0)
    assert await _count(owner, org) == 2300
    # 500 + 500 + 500 + 500 + 300: five COPY transactions
    assert await owner.fetchval("SELECT count(DISTINCT xmin::text) FROM audit_events WHERE org_id = $1", org) == 5


class SocketProxy:
    """A Unix-socket forwarder in front of PostgreSQL: `stop` is the database going away
    (listener closed, open connections cut), `start` is it coming back."""

    def __init__(self, folder: Path, target: Path) -> None:
        self.folder, self.target = folder, target
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._link, path=str(self.folder / self.target.name))

    async def stop(self) -> None:
        self._server.close()
        for w in self._writers:
            w.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(self.target))
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def _through(dsn: str, folder: Path) -> tuple[str, Path]:
    """The DSN through a proxy socket in `folder`, and the real socket it forwards to."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    target = Path(query["host"]) / f".s.PGSQL.{query['port']}"
    return urlunsplit(parts._replace(query=urlencode({**query, "host": str(folder)}))), target


async def _until(predicate, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_an_outage_holds_events_refuses_new_ones_and_writes_them_when_the_database_is_back(
        owner, dsn, tmp_path):
    slug = "audit-outage"
    org = await _tenant(owner, slug)
    proxied, target = _through(dsn, tmp_path)
    proxy = SocketProxy(tmp_path, target)
    await proxy.start()
    log, db = await _audit_log(proxied, max_queue=4, batch=2, max_backoff=0.2, write_timeout=5)
    event = audit_event(DOCTOR, _access(slug, "read", ids=("Observation/o-1",)), datetime.now(timezone.utc))
    try:
        log.record(org, f"{BASE}/{slug}", event)
        await asyncio.wait_for(log.flush(), 10)
        assert (log.written, log.healthy) == (1, True)

        await proxy.stop()
        for _ in range(3):   # accepted: nobody knows yet that the database is away
            log.record(org, f"{BASE}/{slug}", event)
        await _until(lambda: not log.healthy)
        assert log.failed_batches >= 1 and log.written == 1
        with pytest.raises(AuditUnavailable):
            log.record(org, f"{BASE}/{slug}", event)
        with pytest.raises(AuditUnavailable):
            log.check()
        # Fail-open callers still queue while there is room (2 held by the writer, 1 waiting).
        assert [log.record(org, f"{BASE}/{slug}", event, strict=False) for _ in range(4)] == [True] * 3 + [False]
        assert (log.queued, log.dropped) == (6, 1)

        await proxy.start()
        await asyncio.wait_for(log.flush(), 10)
        assert (log.healthy, log.written, log.queued) == (True, 7, 0)
        log.check()
    finally:
        await log.close(timeout=10)
        await db.close()
        await proxy.stop()
    assert await _count(owner, org) == 7


async def test_events_wait_for_company_but_flush_does_not_wait(owner, dsn):
    """The writer lingers after an event so that one transaction carries many (a transaction
    per request would cost more than the request); a flush cuts the wait short."""
    slug = "audit-linger"
    org = await _tenant(owner, slug)
    log, db = await _audit_log(dsn, linger=60.0)
    try:
        for n in range(3):
            log.record(org, f"{BASE}/{slug}", audit_event(DOCTOR, _access(slug, "read", ids=(f"Observation/o-{n}",)),
                                                          datetime.now(timezone.utc)))
            await asyncio.sleep(0.05)
        assert await _count(owner, org) == 0   # still lingering, 60 s to go
        await asyncio.wait_for(log.flush(), 10)
        assert await _count(owner, org) == 3
        xmins = await owner.fetch("SELECT DISTINCT xmin::text FROM audit_events WHERE org_id = $1", org)
        assert len(xmins) == 1   # the three in one transaction
        log.record(org, f"{BASE}/{slug}", audit_event(DOCTOR, _access(slug, "read", ids=("Observation/o-9",)),
                                                      datetime.now(timezone.utc)))
        await asyncio.sleep(0.3)
        assert await _count(owner, org) == 3   # after the flush, lingering again
    finally:
        await log.close()
        await db.close()
    assert await _count(owner, org) == 4   # close writes what lingers


async def test_a_full_queue_makes_callers_wait_not_fail(owner, dsn):
    """Load is not failure: with writes succeeding, `put` waits for room; it gives up only
    after its wait (503 upstream), and `record` (which never waits) refuses at once."""
    slug = "audit-full"
    org = await _tenant(owner, slug)
    db = await open_database(dsn, min_size=1, max_size=2)
    log = AuditLog(db.primary.pool, PartitionCache(), max_queue=2, linger=0)
    event = audit_event(DOCTOR, _access(slug, "read", ids=("Observation/o-1",)), datetime.now(timezone.utc))
    try:
        for _ in range(2):
            await log.put(org, f"{BASE}/{slug}", event, wait=1)
        with pytest.raises(AuditUnavailable):   # nobody writes yet: the wait runs out
            await log.put(org, f"{BASE}/{slug}", event, wait=0.2)
        with pytest.raises(AuditUnavailable):
            log.record(org, f"{BASE}/{slug}", event)
        log.check()   # full, yet healthy
        waiting = asyncio.create_task(log.put(org, f"{BASE}/{slug}", event, wait=10))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        log.start()   # the writer makes room
        await asyncio.wait_for(waiting, 10)
        await asyncio.wait_for(log.flush(), 10)
    finally:
        await log.close()
        await db.close()
    assert (log.written, log.dropped) == (3, 0)
    assert await _count(owner, org) == 3
