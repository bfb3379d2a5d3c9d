"""Micro-benchmark: read-by-id and create of Patient and Observation, HTTP beside raw SQL.

For each (type, interaction) at concurrency 1 and 32 it measures, in one run:
- HTTP: k6 against `fhirserver serve` in production mode (uvloop, httptools, no access log);
- SQL: the very statements the server runs for that request (tenant settings for RLS, then
  the storage statements of mappings/sql.py, search index rows included), sent straight
  through asyncpg by this process: no HTTP, no JSON validation or indexing work in Python;
- the HTTP floor: GET /healthz of the same server (no database).

Run:  .venv/bin/python bench/micro.py [--duration 10] [--workers 2] [--seed 2000]
(uses DATABASE_URL if set, else a fresh embedded PostgreSQL under bench/.data).
Writes bench/results/micro.json and bench/results/micro.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, machine, run_k6, summary  # noqa: E402
from fhirserver import ids  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.db import resources  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from fhirserver.db.pools import Database, Route, open_database  # noqa: E402
from fhirserver.db.resources import Draft, Lock  # noqa: E402
from fhirserver.db.tenancy import tenant_read, tenant_transaction  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402
from mappings import MAPPINGS  # noqa: E402
from searchparams.index import side_arrays  # noqa: E402

SCRIPT = ROOT / "bench" / "k6_micro.js"


def patient_body() -> dict:
    return {"resourceType": "Patient", "name": [{"family": "Bench", "given": ["Seed"]}], "gender": "other",
            "birthDate": "1970-01-01"}


def observation_body(pid: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2025-06-01T10:00:00Z",
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}


async def seed(base: str, n: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"Patient": [], "Observation": []}
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(headers={"Content-Type": "application/fhir+json"}, timeout=30) as client:
        async def post(kind: str, body: dict) -> None:
            async with sem:
                r = await client.post(f"{base}/{kind}", content=orjson.dumps(body))
                r.raise_for_status()
                out[kind].append(r.json()["id"])
        await asyncio.gather(*[post("Patient", patient_body()) for _ in range(n)])
        pids = out["Patient"]
        await asyncio.gather(*[post("Observation", observation_body(pids[i % len(pids)])) for i in range(n)])
    return out


def _draft(kind: str, pid: str) -> Draft:
    m = MAPPINGS[kind]
    body = patient_body() if kind == "Patient" else observation_body(pid)
    refs = ([], []) if kind == "Patient" else (["Patient"], [pid])
    part_ts = ids.clamp(m.clinical_time(body)) if m.time_partitioned else None

    def render(id_: str, version: int, ts: datetime) -> str:
        return orjson.dumps({"resourceType": kind, "id": id_, "meta": {"versionId": str(version)},
                             **{k: v for k, v in body.items() if k != "resourceType"}}).decode()
    return Draft(m.column_values(body), part_ts, refs, render, side_arrays(body))


async def sql_baseline(db: Database, org: int, kind: str, mode: str, vus: int, seconds: float,
                       known: dict[str, list[str]]) -> dict:
    """The server's own SQL for one request, straight through asyncpg, `vus` at a time."""
    m, pm = MAPPINGS[kind], MAPPINGS["Patient"]
    pool_ids = known[kind]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one(i: int) -> None:
        if mode == "read":
            async with tenant_read(db, Route.READ, org) as conn:
                await resources.read(conn, m, org, pool_ids[i % len(pool_ids)])
        else:
            pid = known["Patient"][i % len(known["Patient"])]
            draft = _draft(kind, pid)
            async with tenant_transaction(db, Route.PRIMARY, org) as conn:
                if kind == "Observation":
                    await resources.locate(conn, pm, org, pid, Lock.KEY_SHARE)
                await resources.create(conn, m, org, draft)

    async def worker(w: int) -> None:
        i = w * 7919
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t)
            i += 1
    started = time.perf_counter()
    await asyncio.gather(*[worker(w) for w in range(vus)])
    return summary(latencies, time.perf_counter() - started)


async def database(args) -> tuple[str, EmbeddedPostgres | None]:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    data = Path(args.data_dir).resolve()
    shutil.rmtree(data, ignore_errors=True)
    cluster = EmbeddedPostgres(data / "pg", port=54400)
    return await ensure_database(cluster.start(), "fhirbench"), cluster


async def main(args) -> None:
    dsn, cluster = await database(args)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    org = (await create_tenant(conn, "default")).org_id
    pg_settings = {r[0]: r[1] for r in await conn.fetch(
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY($1)",
        ["shared_buffers", "work_mem", "max_connections", "synchronous_commit", "fsync", "jit", "server_version"])}
    await conn.close()
    server = Server(dsn, args.workers)
    db = await open_database(dsn, min_size=32, max_size=32)   # configured as the server's pools are
    rows = []
    try:
        print(f"seeding {args.seed} patients and {args.seed} observations ...", flush=True)
        known = await seed(server.base(), args.seed)
        work = Path(tempfile.mkdtemp())
        (work / "ids.json").write_text(json.dumps(known))
        env = {"IDS_FILE": str(work / "ids.json"), "BASE": server.base(), "DURATION": f"{args.duration}s",
               "FLOOR_URL": f"http://127.0.0.1:{server.port}/healthz"}
        for vus in (1, 32):
            floor = run_k6(SCRIPT, {**env, "MODE": "floor", "TYPE": "Patient", "VUS": str(vus)}, work)
            rows.append({"case": "HTTP floor (GET /healthz)", "vus": vus, "http": floor, "sql": None})
            print(rows[-1], flush=True)
        for kind in ("Patient", "Observation"):
            for mode in ("read", "create"):
                for vus in (1, 32):
                    http = run_k6(SCRIPT, {**env, "MODE": mode, "TYPE": kind, "VUS": str(vus)}, work)
                    sql = await sql_baseline(db, org, kind, mode, vus, args.duration, known)
                    rows.append({"case": f"{mode} {kind}", "vus": vus, "http": http, "sql": sql})
                    print(rows[-1], flush=True)
    finally:
        await db.close()
        server.stop()
        if cluster is not None:
            cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "postgres": pg_settings, "workers": args.workers, "duration_s": args.duration,
              "seeded": args.seed, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "micro.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "micro.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB; "
             f"PostgreSQL {report['postgres'].get('server_version')}, shared_buffers "
             f"{report['postgres'].get('shared_buffers')}, synchronous_commit "
             f"{report['postgres'].get('synchronous_commit')}; {report['workers']} server worker(s); "
             f"{report['duration_s']} s per cell; {report['seeded']} patients + observations seeded.", "",
             "| case | conc. | HTTP req/s | HTTP median ms | HTTP p95 ms | SQL req/s | SQL median ms | SQL p95 ms "
             "| median ratio | p95 ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        h, s = r["http"], r["sql"]
        if s is None:
            lines.append(f"| {r['case']} | {r['vus']} | {h['req_per_s']} | {h['median_ms']} | {h['p95_ms']} "
                         "| | | | | |")
            continue
        lines.append(f"| {r['case']} | {r['vus']} | {h['req_per_s']} | {h['median_ms']} | {h['p95_ms']} | "
                     f"{s['req_per_s']} | {s['median_ms']} | {s['p95_ms']} | "
                     f"{h['median_ms'] / s['median_ms']:.2f}x | {h['p95_ms'] / s['p95_ms']:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data"))
    asyncio.run(main(parser.parse_args()))
