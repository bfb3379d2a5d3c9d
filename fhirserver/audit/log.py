"""The audit log: AuditEvents written off the request path, in batches, never silently lost.

A request hands its event to `record`, which only puts it on a bounded queue. One
background task takes up to `batch` events at a time, groups them by tenant, and writes
each group in one transaction of COPYs, with the bulk loader's rows and Writer (so an
AuditEvent stored here is indexed exactly like one POSTed: every search parameter works).
After the first event of a batch it lingers (`linger` seconds, or until `flush`/`close`
asks) so that a batch holds many events: a transaction per request would cost more
round trips and commits than the request it records.

When a write fails (the database is away, or refuses), the task keeps the batch and
tries again with backoff; events already accepted are never dropped. Meanwhile `healthy`
is False and `record`/`put`/`check` raise AuditUnavailable, so that a request for health
data is answered 503 instead of being served unaudited (FHIR_AUDIT_FAIL_OPEN: the caller
uses `strict=False`, which queues while there is room and counts what it must drop). The
first successful write makes the log healthy again. `close` writes everything queued.

A full queue while writes succeed is load, not failure: `put` waits for room (bounded),
so requests slow down to the pace the trail is written at instead of being refused.

Rows are written as the table owner (RESET ROLE), like $import: row-level security
refuses COPY, and this writer is the server itself, not a caller. No `resource_refs`
rows are written: that index exists for referential integrity, and an audit trail must
never stop the deletion of a resource it mentions (every read of a Patient would).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Callable

import asyncpg
import orjson

from fhirserver import ids
from fhirserver.bulk import Prepared, Writer
from fhirserver.db.partitions import PartitionCache
from fhirserver.db.resources import Verb, now
from fhirserver.fhirtime import instant_text
from mappings import MAPPINGS
from searchparams.index import element_rows, read_keys, whole_rows

log = logging.getLogger(__name__)
MAPPING = MAPPINGS["AuditEvent"]
_YIELD_EVERY = 2   # let requests run between slices of a batch (an event costs tens of microseconds)
_PACE = 16         # rows COPY encodes between two such slices


# An event, or a builder of one or more (called by the writer, off the request's path).
Event = dict | Callable[[], dict | list[dict]]


class AuditUnavailable(Exception):
    """The audit trail cannot take an event now (writes failing, queue full, or closed)."""


@dataclass(frozen=True, slots=True)
class _Queued:
    org_id: int
    base_url: str
    event: Event


def prepare(org_id: int, base_url: str, event: dict, stamp: datetime) -> Prepared:
    """The rows of one AuditEvent built by the server (so not validated again), with a
    server id naming the month of `recorded`. The id is chosen once: a retry writes the
    same ids, and Writer skips those a failed-looking commit had stored after all."""
    part_ts = ids.clamp(MAPPING.clinical_time(event) or stamp)
    id_ = ids.new_id(part_ts)
    rest = {k: v for k, v in event.items() if k not in ("resourceType", "id", "meta")}
    doc = {"resourceType": "AuditEvent", "id": id_,
           "meta": {"versionId": "1", "lastUpdated": instant_text(stamp)}, **rest}
    main = (id_, part_ts, 1, Verb.CREATE, stamp, orjson.dumps(doc).decode(), *_columns(doc, base_url))
    return Prepared(MAPPING, id_, part_ts, main, _index(doc, base_url), [], False)


# Elements that repeat from one event to the next (the same user, interaction and outcome;
# the same patient read again): their index rows and column values are computed once per
# distinct value. What an event costs to prepare is paid on every request.
_REPEATING = frozenset(("meta", "type", "subtype", "action", "outcome", "outcomeDesc", "agent", "source"))
_READ = read_keys("AuditEvent")
# The elements the mapping's columns read, one element each (tests/property/
# test_index_elements.py checks `_columns` against MAPPING.column_values, so a column that
# reads another element fails it).
_COLUMN_READS = ("action", "outcome", "type", "subtype", "recorded")
_WIDTH = range(len(MAPPING.columns))


def _columns(doc: dict, base_url: str) -> list:
    """MAPPING.column_values(doc), element by element, each distinct element computed once."""
    out = [None] * len(_WIDTH)
    for key in _COLUMN_READS:
        if key in doc:
            value = doc[key]
            text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            part = _columns_of(key, text, base_url)
            for i in _WIDTH:
                if part[i] is not None:
                    out[i] = part[i]
    return out


@lru_cache(maxsize=4096)
def _columns_of(key: str, value: str | bytes, base_url: str) -> tuple:
    return tuple(MAPPING.column_values({key: value if isinstance(value, str) else orjson.loads(value)}, base_url))


def _index(doc: dict, base_url: str) -> dict[str, list[tuple]]:
    """index_rows(doc), element by element (searchparams.index.element_rows), unsorted.
    A list's rows are the union of its items' rows, so each entity is one cache entry."""
    parts = [whole_rows(doc, base_url)]
    for key, value in doc.items():
        if key not in _READ:
            continue
        if key in _REPEATING:
            parts.append(_rows_of(key, orjson.dumps(value, option=orjson.OPT_SORT_KEYS), base_url))
        elif key == "entity":
            parts += [_rows_of(key, orjson.dumps([item], option=orjson.OPT_SORT_KEYS), base_url) for item in value]
        else:
            parts.append(element_rows("AuditEvent", key, value, base_url))
    return {kind: list({row for part in parts for row in part[kind]}) for kind in parts[0]}


@lru_cache(maxsize=8192)
def _rows_of(key: str, value: bytes, base_url: str) -> dict[str, list[tuple]]:
    return element_rows("AuditEvent", key, orjson.loads(value), base_url)


class AuditLog:
    """A bounded queue of AuditEvents and the one task that writes them.

    Counters for metrics: `written` (events stored), `failed_batches` (write attempts that
    failed), `dropped` (events refused by `record(strict=False)` or unpreparable), `queued`.
    """

    def __init__(self, pool: asyncpg.Pool, partitions: PartitionCache, *, max_queue: int = 10000,
                 batch: int = 500, linger: float = 0.1, max_backoff: float = 5.0,
                 write_timeout: float = 30.0) -> None:
        self._pool, self._partitions = pool, partitions
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(max_queue)
        self._batch, self._linger = batch, linger
        self._max_backoff, self._write_timeout = max_backoff, write_timeout
        self._hurry = asyncio.Event()   # set while someone waits for the queue to be written
        self._task: asyncio.Task | None = None
        self._closing = False
        self._healthy = True
        self._accepted = self._settled = self._held = 0
        self._progress = asyncio.Condition()
        self.written = self.failed_batches = self.dropped = 0

    @property
    def healthy(self) -> bool:
        """False from a failed write until a write succeeds."""
        return self._healthy

    @property
    def queued(self) -> int:
        """Events accepted and not yet written (the batch being retried included)."""
        return self._queue.qsize() + self._held

    def start(self) -> None:
        """Start the writer task (call inside the running loop, once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-log-writer")

    def check(self) -> None:
        """Raise AuditUnavailable if events cannot be written (failing, or closing): the
        request path calls this before serving health data, and `put` after."""
        if self._closing:
            raise AuditUnavailable("the audit log is closed")
        if not self._healthy:
            raise AuditUnavailable("audit events cannot be written to the database")

    async def put(self, org_id: int, base_url: str, event: Event, *, wait: float) -> None:
        """Queue `event`, waiting up to `wait` seconds for room in a full queue; raises
        AuditUnavailable when `check` does or the wait runs out."""
        self.check()
        item = _Queued(org_id, base_url, event)
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            try:
                async with asyncio.timeout(wait):
                    await self._queue.put(item)
            except TimeoutError:
                raise AuditUnavailable(f"the audit queue stayed full ({self._queue.maxsize} events) "
                                       f"for {wait:g} s") from None
        self._accepted += 1

    def record(self, org_id: int, base_url: str, event: dict, *, strict: bool = True) -> bool:
        """Queue `event` for tenant `org_id`; never waits. Strict (the default): raises
        AuditUnavailable when `check` would or the queue is full. Not strict (fail-open):
        queued whenever there is room, even while writes fail; False if it was dropped."""
        if strict:
            self.check()
            if self._queue.full():
                raise AuditUnavailable(f"the audit queue is full ({self._queue.maxsize} events waiting)")
        try:
            if self._closing:
                raise asyncio.QueueFull
            self._queue.put_nowait(_Queued(org_id, base_url, event))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:   # one line per thousand, not per request
                log.warning("audit: %d events dropped so far (fail-open): queue full or log closed", self.dropped)
            return False
        self._accepted += 1
        return True

    async def flush(self) -> None:
        """Wait until every event accepted before this call is written (or dropped as
        unpreparable). Waits as long as writes fail: bound it with asyncio.timeout."""
        if self._task is None:
            raise RuntimeError("the audit log was not started")
        target = self._accepted
        self._hurry.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._settled >= target)

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new events, write everything queued (waiting at most `timeout` seconds),
        then stop the writer. Events still unwritten after that are reported in the log."""
        self._closing = True
        if self._task is None:
            if self._queue.empty():
                return
            self.start()
        try:
            async with asyncio.timeout(timeout):
                await self.flush()
        except TimeoutError:
            log.error("audit: %d events could not be written before shutdown", self.queued)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            items = await self._take()
            groups = await self._prepare(items)
            await self._write_all(groups)
            self._held = 0
            async with self._progress:
                self._settled += len(items)
                if self._settled >= self._accepted and not self._closing:
                    self._hurry.clear()   # every waiter's target is reached
                self._progress.notify_all()

    async def _take(self) -> list[_Queued]:
        items = [await self._queue.get()]
        if self._linger > 0 and self._queue.qsize() < self._batch - 1:
            try:
                async with asyncio.timeout(self._linger):
                    await self._hurry.wait()
            except TimeoutError:
                pass
        while len(items) < self._batch and not self._queue.empty():
            items.append(self._queue.get_nowait())
        self._held = len(items)
        return items

    async def _prepare(self, items: list[_Queued]) -> dict[int, list[Prepared]]:
        groups: dict[int, list[Prepared]] = {}
        stamp = now()
        for n, item in enumerate(items, 1):
            try:
                built = item.event() if callable(item.event) else item.event
                for event in built if isinstance(built, list) else [built]:
                    groups.setdefault(item.org_id, []).append(prepare(item.org_id, item.base_url, event, stamp))
            except Exception as exc:   # a server bug: retrying cannot help; keep the event in the log
                self.dropped += 1
                log.error("audit event could not be stored (%s): %r", exc, item.event)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return groups

    async def _write_all(self, groups: dict[int, list[Prepared]]) -> None:
        """Write every group, retrying a failed one with backoff until it is stored."""
        delay, retrying = 0.1, False
        while groups:
            org_id, prepared = next(iter(groups.items()))
            try:
                async with asyncio.timeout(self._write_timeout):   # a hung database counts as failing
                    await self._write(org_id, prepared, retrying)
            except Exception as exc:   # database away or refusing: keep the batch, try again
                self.failed_batches += 1
                self._healthy = False
                log.warning("audit: could not write %d events of org %d (%s: %s); retrying in %.1f s",
                            len(prepared), org_id, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay, retrying = min(delay * 2, self._max_backoff), True
                continue
            del groups[org_id]
            self.written += len(prepared)
            if not self._healthy:
                log.warning("audit: writing again after %d failed attempts", self.failed_batches)
            self._healthy = True

    async def _write(self, org_id: int, prepared: list[Prepared], retrying: bool) -> None:
        # Partitions first, each in its own short transaction (bulk.Writer's rule); then the
        # COPYs in one transaction on a connection that holds nothing else.
        for month in {ids.month_index(p.part_ts) for p in prepared if p.part_ts is not None}:
            await self._partitions.ensure(self._pool, MAPPING, org_id, ids.month_start(month))
        async with self._pool.acquire() as conn:
            if hasattr(conn, "bind_tenant"):   # the server's pool remembers tenant session settings
                conn.bind_tenant(None)
            await conn.execute("RESET ROLE")   # COPY runs as the owner (RLS does not allow COPY FROM)
            # fresh ids: only a retry can find some already stored (by a commit that looked failed)
            writer = Writer(conn, org_id, self._partitions, self._pool, pace=_PACE)
            stats = await writer.write(prepared, maybe_present=retrying)
        if stats.present:
            log.info("audit: %d events were stored by an attempt that looked failed", stats.present)
