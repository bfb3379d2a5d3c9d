"""Bulk load: ndjson and Bundle files into the partitioned tables with COPY.

Every resource is validated like a create (the official schema plus our rules); a rejected
line goes to the reject file with its OperationOutcome, so nothing is dropped silently.
A batch of accepted resources becomes rows of the resource tables, their search side
tables, the reference index and the id directory, and is written with COPY in one
transaction. Loading is idempotent (ids already stored are skipped: a second load of
the same files changes nothing) and resumable (a checkpoint per file, or per chunk of a
large file, records the byte offset of the last committed batch). Large ndjson files are
cut into chunks at line starts (`chunks`), so that every core can load a share of one
file. Resources keep their ids; Bundle entries that only have a urn:uuid fullUrl get a
deterministic id derived from it, and references to fullUrls are rewritten. References
are indexed but not checked: a bulk load may arrive in any order, which is why it is an
operator's tool (and `$import` an administrative one).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import asyncpg
import orjson

from fhirserver import ids
from fhirserver.db.partitions import PartitionCache
from fhirserver.db.resources import Verb, now
from fhirserver.fhirtime import instant_text
from fhirserver.outcomes import Category, FhirError, operation_outcome
from fhirserver.references import Local, classify
from fhirserver.validation import Body, check_id, dumps_exact, loads_exact, parse_json, stored_document, validate
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.rows import build_row
from mappings.sql import DIRECTORY_FIND
from searchparams import catalog
from searchparams.kinds import BY_SUFFIX

BATCH = 2000


@dataclass
class Stats:
    loaded: int = 0
    present: int = 0
    rejected: int = 0

    def add(self, other: "Stats") -> None:
        self.loaded += other.loaded
        self.present += other.present
        self.rejected += other.rejected


@dataclass
class Line:
    source: str
    number: int              # 1-based, counted from byte `origin` of the file
    raw: bytes
    end_offset: int          # byte offset just after this line (for checkpoints)
    full_urls: dict[str, str] = field(default_factory=dict)   # Bundle fullUrl -> Type/id
    origin: int = 0

    @property
    def line_number(self) -> int:
        """The line's number in the whole file (lines before `origin` are counted only when asked)."""
        return self.number + (_lines_before(self.source, self.origin) if self.origin else 0)


@lru_cache(maxsize=256)
def _lines_before(path: str, offset: int) -> int:
    count, left = 0, offset
    with open(path, "rb") as f:
        while left > 0 and (block := f.read(min(left, 1 << 24))):
            count += block.count(b"\n")
            left -= len(block)
    return count


CHUNK_BYTES = 16 << 20


def chunks(path: str, size_bytes: int | None = None) -> list[tuple[int, int | None]]:
    """[start, end) byte ranges of an ndjson file, each starting at a line start (end None: to
    the end). Sizes are fixed, not derived from the worker count, so a resumed load finds
    the same chunks and their checkpoints."""
    if path == "-" or not path.endswith(".ndjson"):
        return [(0, None)]
    step = size_bytes or CHUNK_BYTES
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as f:
        for k in range(1, size // step + 1):
            f.seek(k * step - 1)   # from the byte before: a line may start exactly at the cut
            f.readline()
            at = f.tell()
            if bounds[-1] < at < size:
                bounds.append(at)
    return list(zip(bounds, bounds[1:] + [None]))


def _bundle_lines(path: str, raw: bytes, end: int) -> Iterator[Line]:
    bundle = orjson.loads(raw)
    full_urls: dict[str, str] = {}
    resources = []
    for entry in bundle.get("entry", ()):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        if "id" not in resource and isinstance(entry.get("fullUrl"), str):
            digest = hashlib.blake2b(entry["fullUrl"].encode(), digest_size=16).hexdigest()
            resource = {**resource, "id": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"}
        if isinstance(entry.get("fullUrl"), str) and "id" in resource:
            full_urls[entry["fullUrl"]] = f"{resource.get('resourceType')}/{resource['id']}"
        resources.append(resource)
    for i, resource in enumerate(resources):
        yield Line(path, i + 1, orjson.dumps(resource), end if i == len(resources) - 1 else 0, full_urls)


def read_lines(path: str, start: int = 0, end: int | None = None) -> Iterator[Line]:
    """Resources of an ndjson file (the lines starting in [start, end), `start` a line start),
    a Bundle file, or '-' for stdin ndjson."""
    if path == "-":
        import sys
        for n, raw in enumerate(sys.stdin.buffer, 1):
            if raw.strip():
                yield Line(path, n, raw, 0)
        return
    if not path.endswith(".ndjson"):
        raw = Path(path).read_bytes()
        first = orjson.loads(raw) if raw.strip() else {}
        if first.get("resourceType") == "Bundle":
            yield from _bundle_lines(path, raw, len(raw) if start == 0 else 0)
        elif start == 0:
            yield Line(path, 1, raw, len(raw))
        return
    with open(path, "rb") as f:
        f.seek(start)
        offset, n = start, 0
        for raw in f:
            if end is not None and offset >= end:
                return
            offset += len(raw)
            n += 1
            if raw.strip():
                yield Line(path, n, raw, offset, origin=start)


def files(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if p == "-" or Path(p).is_file():
            out.append(p)
        elif Path(p).is_dir():
            out += sorted(str(f) for f in Path(p).rglob("*") if f.suffix in (".ndjson", ".json"))
    return out


@dataclass
class Prepared:
    """One accepted resource as rows."""

    mapping: ResourceMapping
    id: str
    part_ts: datetime | None
    main: tuple
    side: dict[str, list[tuple]]
    refs: list[tuple[str, str]]
    directory: bool


def _rewrite(node, full_urls: dict[str, str]):
    if isinstance(node, dict):
        return {k: (full_urls.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, full_urls))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, full_urls) for v in node]
    return node


def prepare(line: Line, base: str, stamp: datetime) -> Prepared:
    """Validate one resource and compute its rows; raise FhirError to reject it."""
    body = parse_json(line.raw)
    value = body.value
    if not isinstance(value, dict) or value.get("resourceType") not in MAPPINGS:
        kind = value.get("resourceType") if isinstance(value, dict) else None
        raise FhirError.of(Category.INCORRECT, "not-supported", "BULK-TYPE",
                           f"{kind!r} resources are not stored by this server")
    if line.full_urls:
        body = Body(_rewrite(value, line.full_urls), _rewrite(loads_exact(line.raw), line.full_urls))
        value = body.value
    m = MAPPINGS[value["resourceType"]]
    found = validate(value, m.resource_type)
    id_ = value.get("id")
    if not isinstance(id_, str):
        raise FhirError.of(Category.INCORRECT, "required", "BULK-NO-ID", "A bulk-loaded resource needs an id")
    check_id(id_, f"{m.resource_type}.id")
    row = build_row(m, value, base, stamp, [(t.type, t.id) for _, ref in found.references
                                            if isinstance(t := classify(ref, base), Local)])
    part_ts = row.part_ts
    text = dumps_exact(stored_document(body.exact, id_, "1", instant_text(stamp))).decode()
    head = (part_ts,) if m.time_partitioned else ()
    main = (id_, *head, 1, Verb.PUT_CREATE, stamp, text, *row.columns)
    directory = m.time_partitioned and ids.month_of(id_) != ids.month_index(part_ts)
    return Prepared(m, id_, part_ts, main, row.index, row.refs, directory)


class Writer:
    """COPYs prepared batches into one tenant's tables."""

    def __init__(self, conn: asyncpg.Connection, org_id: int, partitions: PartitionCache, pool, *,
                 pace: int | None = None) -> None:
        """`pace`: hand the event loop back after every `pace` rows encoded, for a writer that
        shares its loop with requests (the audit log): one COPY of a batch is otherwise one
        stretch of CPU that every request arriving meanwhile waits out."""
        self.conn, self.org, self.partitions, self.pool = conn, org_id, partitions, pool
        self.pace = pace

    def _records(self, records: list[tuple]):
        return records if self.pace is None or len(records) <= self.pace else _paced(records, self.pace)

    async def _existing(self, m: ResourceMapping, batch: list[Prepared]) -> set[str]:
        """Ids of the batch already stored, wherever their rows live. A resource may be filed
        under another month than this copy's (an encounter exported open, then ended): the id
        directory lists every row whose month its id does not name (every client id's), and
        any other row lies in the month its server id names."""
        wanted = [p.id for p in batch]
        if not m.time_partitioned:
            rows = await self.conn.fetch(f"SELECT id FROM {m.table} WHERE org_id = $1 AND id = ANY($2)",
                                         self.org, wanted)
            return {r[0] for r in rows}
        rows = await self.conn.fetch(DIRECTORY_FIND, self.org, m.resource_type, wanted)
        found = {r[0] for r in rows}
        by_month: dict[int, list[str]] = {}
        for id_ in wanted:
            if id_ not in found and (month := ids.month_of(id_)) is not None:
                by_month.setdefault(month, []).append(id_)
        for month, month_ids in by_month.items():   # one partition per query
            rows = await self.conn.fetch(
                f"SELECT id FROM {m.table} WHERE org_id = $1 AND id = ANY($2) AND part_ts >= $3 AND part_ts < $4",
                self.org, month_ids, ids.month_start(month), ids.month_start(month + 1))
            found |= {r[0] for r in rows}
        return found

    async def write(self, prepared: list[Prepared], *, maybe_present: bool = True) -> Stats:
        """`maybe_present=False`: the caller knows none of these ids can be stored yet (fresh
        server ids, first attempt), so the look-up for copies already stored is skipped."""
        stats = Stats()
        by_type: dict[str, list[Prepared]] = {}
        for p in prepared:
            by_type.setdefault(p.mapping.resource_type, []).append(p)
        for m_type, batch in by_type.items():
            m = MAPPINGS[m_type]
            for p in batch:
                if p.part_ts is not None:
                    await self.partitions.ensure(self.pool, m, self.org, p.part_ts)
        async with self.conn.transaction():
            for m_type, batch in by_type.items():
                m = MAPPINGS[m_type]
                present = await self._existing(m, batch) if maybe_present else set()
                seen: set[str] = set()
                fresh = []
                for p in batch:
                    if p.id in present or p.id in seen:
                        stats.present += 1
                    else:
                        seen.add(p.id)
                        fresh.append(p)
                if fresh:
                    await self._copy(m, fresh)
                stats.loaded += len(fresh)
        return stats

    async def _copy(self, m: ResourceMapping, batch: list[Prepared]) -> None:
        timed = m.time_partitioned
        # COPY cannot write through a view: a generic type's rows go to the shared tables
        # it is a view of, with its type written out (mappings/generic.py).
        table, lead = (m.storage, ["resource_type"]) if m.storage else (m.table, [])
        typed = (m.resource_type,) if m.storage else ()
        head = ["org_id", *lead, "id"] + (["part_ts"] if timed else []) + ["version_id", "verb", "last_updated",
                                                                           "resource"]
        await self.conn.copy_records_to_table(table, columns=head + list(m.column_names),
                                              records=self._records([(self.org, *typed, *p.main) for p in batch]))
        for kind in catalog.tables(m.resource_type):
            cols = list(BY_SUFFIX[kind].names)
            key = ["org_id", "part_ts", "id"] if timed else ["org_id", *lead, "id"]
            records = [((self.org, p.part_ts, p.id) if timed else (self.org, *typed, p.id)) + row
                       for p in batch for row in p.side.get(kind, ())]
            if records:
                side = f"{m.storage}_{kind}" if m.storage else m.side_table(kind)
                await self.conn.copy_records_to_table(side, columns=key + cols, records=self._records(records))
        refs = [(self.org, m.resource_type, p.id, t, i) for p in batch for t, i in p.refs]
        if refs:
            await self.conn.copy_records_to_table(
                "resource_refs", columns=["org_id", "source_type", "source_id", "target_type", "target_id"],
                records=refs)
        directory = [(self.org, m.resource_type, p.id, ids.month_start(ids.month_index(p.part_ts)))
                     for p in batch if p.directory]
        if directory:
            await self.conn.copy_records_to_table("id_directory", columns=["org_id", "resource_type", "id", "part_ts"],
                                                  records=directory)


def reject_record(line: Line, err: FhirError) -> bytes:
    return orjson.dumps({"file": line.source, "line": line.line_number, "status": err.status,
                         "outcome": operation_outcome(err.issues),
                         "resource": line.raw.decode("utf-8", "replace").rstrip("\n")}) + b"\n"


class Checkpoints:
    """Byte offsets of committed batches, one small file per input file or chunk (by its start)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _path(self, source: str, tenant: str, chunk: int) -> Path | None:
        if self.folder is None or source == "-":
            return None
        name = f"{tenant}:{os.path.abspath(source)}" + (f":{chunk}" if chunk else "")
        key = hashlib.sha1(name.encode()).hexdigest()[:16]
        return self.folder / f"{key}.offset"

    def get(self, source: str, tenant: str, chunk: int = 0) -> int:
        """Where to go on in the chunk starting at byte `chunk`: its start if nothing was committed."""
        path = self._path(source, tenant, chunk)
        return int(path.read_text()) if path is not None and path.exists() else chunk

    def set(self, source: str, tenant: str, offset: int, chunk: int = 0) -> None:
        path = self._path(source, tenant, chunk)
        if path is not None and offset:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(str(offset))
            tmp.replace(path)


async def load_lines(writer: Writer, lines: Iterator[Line], base: str, rejects, progress=None,
                     checkpoint=None) -> Stats:
    """Validate, prepare and write `lines` in batches; rejected lines go to `rejects` (a binary file)."""
    stats = Stats()
    batch: list[Prepared] = []
    last: Line | None = None

    async def flush() -> None:
        nonlocal batch
        if batch:
            stats.add(await writer.write(batch))
            if progress is not None:
                progress(len(batch))
        if checkpoint is not None and last is not None and last.end_offset:
            checkpoint(last.source, last.end_offset)
        batch = []

    stamp = now()
    for line in lines:
        last = line
        try:
            batch.append(prepare(line, base, stamp))
        except FhirError as err:
            stats.rejected += 1
            rejects.write(reject_record(line, err))
            if progress is not None:
                progress(1)
        if len(batch) >= BATCH:
            await flush()
    await flush()
    return stats


def lines_of(body: bytes, source: str = "$import") -> Iterator[Line]:
    """The ndjson lines of a request body."""
    offset = 0
    for n, raw in enumerate(body.splitlines(keepends=True), 1):
        offset += len(raw)
        if raw.strip():
            yield Line(source, n, raw, 0)


async def _paced(records: list[tuple], every: int):
    for i, record in enumerate(records, 1):
        yield record
        if i % every == 0:
            await asyncio.sleep(0)
