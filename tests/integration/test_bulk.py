"""The bulk loader and $import: COPY path, validation with rejects, idempotence, resume."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timezone

import asyncpg
import orjson

from bench.generate import generate
from fhirserver import bulk, ids
from fhirserver.bulk import Checkpoints, Writer, chunks, load_lines, read_lines
from fhirserver.db.partitions import PartitionCache
from fhirserver.tenants import create_tenant
from tests import samples


def _ndjson(tmp_path, resources: list, name: str = "data.ndjson"):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


def _patients(n: int, prefix: str) -> list[dict]:
    return [{**samples.patient(family=f"Bulk{i}"), "id": f"{prefix}-{i}"} for i in range(n)]


async def _writer(owner, dsn, slug: str):
    tenant = await create_tenant(owner, slug, months_ahead=0)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    return Writer(owner, tenant.org_id, PartitionCache(), pool), pool


async def test_load_is_idempotent_and_searchable(tmp_path, owner, dsn, http):
    observations = [{**samples.observation(f"bp-{i % 3}", when=f"20{10 + i % 9}-0{1 + i % 9}-01T00:00:00Z"),
                     "id": f"bo-{i}"} for i in range(30)]
    path = _ndjson(tmp_path, _patients(3, "bp") + observations)
    writer, pool = await _writer(owner, dsn, "bulk-a")
    try:
        first = await load_lines(writer, read_lines(str(path)), "", io.BytesIO())
        second = await load_lines(writer, read_lines(str(path)), "", io.BytesIO())
    finally:
        await pool.close()
    assert (first.loaded, first.present, first.rejected) == (33, 0, 0)
    assert (second.loaded, second.present) == (0, 33)
    found = (await http.get("/bulk-a/Observation", params={"subject": "Patient/bp-1", "_count": "100"})).json()
    assert len(found["entry"]) == 10
    read = (await http.get("/bulk-a/Observation/bo-7")).json()
    assert read["meta"]["versionId"] == "1" and read["id"] == "bo-7"
    assert (await http.get("/bulk-a/Patient", params={"family": "bulk2"})).json()["entry"][0]["resource"]["id"] == \
        "bp-2"


async def test_a_resource_reloaded_with_another_clinical_month_counts_as_present(tmp_path, owner, dsn):
    """An encounter exported while open (filed under the last month of all) and again once it
    ended (filed under the month it ended) is the same resource: the second load finds it
    present wherever its row lives, so there is never a second row for one id."""
    ongoing = {**samples.encounter(start="2021-03-01T08:00:00Z"), "id": "enc-moves", "status": "in-progress"}
    del ongoing["period"]["end"]
    ended = {**ongoing, "status": "finished",
             "period": {"start": "2021-03-01T08:00:00Z", "end": "2021-05-02T09:00:00Z"}}
    server_like = ids.new_id(datetime(2020, 1, 5, tzinfo=timezone.utc))   # an id naming January 2020
    early = {**samples.observation(when="2020-01-05T10:00:00Z"), "id": server_like}
    late = {**early, "effectiveDateTime": "2022-07-01T10:00:00Z"}
    writer, pool = await _writer(owner, dsn, "bulk-moves")
    try:
        first = await load_lines(writer, read_lines(str(_ndjson(tmp_path, [ongoing, early], "a.ndjson"))), "",
                                 io.BytesIO())
        second = await load_lines(writer, read_lines(str(_ndjson(tmp_path, [ended, late], "b.ndjson"))), "",
                                  io.BytesIO())
    finally:
        await pool.close()
    assert (first.loaded, first.present, first.rejected) == (2, 0, 0)
    assert (second.loaded, second.present, second.rejected) == (0, 2, 0)
    for table, id_ in (("encounters", "enc-moves"), ("observations", server_like)):
        assert await owner.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", id_) == 1


async def test_rejected_lines_are_written_with_their_outcome(tmp_path, owner, dsn):
    bad = {"resourceType": "Patient", "id": "bad-1", "gender": "robot"}
    unknown = {"resourceType": "Parameters", "id": "c-1"}   # an R4 type that is never stored
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(orjson.dumps(_patients(1, "ok")[0]) + b"\n" + orjson.dumps(bad) + b"\nnot json\n"
                     + orjson.dumps(unknown) + b"\n")
    writer, pool = await _writer(owner, dsn, "bulk-b")
    rejects = io.BytesIO()
    try:
        stats = await load_lines(writer, read_lines(str(path)), "", rejects)
    finally:
        await pool.close()
    assert (stats.loaded, stats.rejected) == (1, 3)
    records = [orjson.loads(x) for x in rejects.getvalue().splitlines()]
    assert [r["line"] for r in records] == [2, 3, 4]
    assert records[0]["outcome"]["issue"][0]["expression"] == ["Patient.gender"]
    assert records[1]["status"] == 400 and records[2]["outcome"]["issue"][0]["details"]["coding"][0]["code"] == \
        "BULK-TYPE"


async def test_resume_continues_after_the_last_committed_batch(tmp_path, owner, dsn):
    path = _ndjson(tmp_path, _patients(10, "rs"))
    checkpoints = Checkpoints(tmp_path / "state")
    offset = len(b"".join(path.read_bytes().splitlines(keepends=True)[:6]))
    checkpoints.set(str(path), "bulk-c", offset)   # as if a killed run had committed 6 lines
    writer, pool = await _writer(owner, dsn, "bulk-c")
    try:
        stats = await load_lines(writer, read_lines(str(path), checkpoints.get(str(path), "bulk-c")), "",
                                 io.BytesIO(), checkpoint=lambda s, o: checkpoints.set(s, "bulk-c", o))
    finally:
        await pool.close()
    assert stats.loaded == 4
    ids = {r[0] for r in await owner.fetch("SELECT id FROM patients WHERE id LIKE 'rs-%'")}
    assert ids == {f"rs-{i}" for i in range(6, 10)}
    assert checkpoints.get(str(path), "bulk-c") == path.stat().st_size


async def test_bundle_files_resolve_full_urls(tmp_path, owner, dsn):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001", "resource": samples.patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000002",
         "resource": {**samples.observation(),
                      "subject": {"reference": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    writer, pool = await _writer(owner, dsn, "bulk-d")
    try:
        stats = await load_lines(writer, read_lines(str(path)), "", io.BytesIO())
    finally:
        await pool.close()
    assert stats.loaded == 2
    subject = await owner.fetchval("SELECT subject FROM observations WHERE org_id = $1", writer.org)
    pid = await owner.fetchval("SELECT id FROM patients WHERE org_id = $1", writer.org)
    assert subject == f"Patient/{pid}"


async def test_import_endpoint(http):
    body = b"".join(orjson.dumps(p) + b"\n" for p in _patients(3, "imp")) + b'{"resourceType": "Patient"}\n'
    r = await http.post("/default/$import", content=body, headers={"Content-Type": "application/fhir+ndjson"})
    assert r.status_code == 200
    issues = r.json()["issue"]
    assert issues[0]["diagnostics"] == "loaded 3, already present 0, rejected 1"
    assert issues[1]["diagnostics"].startswith("line 4:")
    assert (await http.get("/default/Patient/imp-2")).status_code == 200


def test_chunks_cover_every_line_once_and_rejects_keep_file_line_numbers(tmp_path, monkeypatch):
    lines = [orjson.dumps({"resourceType": "Patient", "id": f"c{i}", "text": "x" * (i * 7 % 90)}) for i in range(60)]
    lines[17] = orjson.dumps({"resourceType": "Patient", "id": "long", "text": "y" * 700})   # longer than a chunk
    path = tmp_path / "chunked.ndjson"
    path.write_bytes(b"\n".join(lines))   # no newline after the last line
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 256)
    ranges = chunks(str(path))
    assert len(ranges) > 5 and ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(prev[1] == nxt[0] for prev, nxt in zip(ranges, ranges[1:]))
    read = [line for start, end in ranges for line in read_lines(str(path), start, end)]
    assert [line.raw.rstrip(b"\n") for line in read] == lines
    assert [line.line_number for line in read] == list(range(1, 61))


def test_the_load_command_loads_generated_tenants(tmp_path, dsn):
    total = sum(generate(tmp_path / "gen", 12, seed=5).values())
    env = {**os.environ, "DATABASE_URL": dsn}
    # chunks of 64 KiB: the bigger files are loaded by both workers at once
    args = [sys.executable, "-m", "fhirserver", "load", str(tmp_path / "gen"), "--workers", "2", "--chunk-kib", "64",
            "--state", str(tmp_path / "state"), "--rejects", str(tmp_path / "rejects.ndjson")]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"loaded {total}, already present 0, rejected 0" in first.stdout, first.stdout
    again = subprocess.run(args[:-4] + ["--state", str(tmp_path / "state2")], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "loaded 0," in again.stdout
