"""Where a request's CPU goes at concurrency 1: the server worker, PostgreSQL and k6.

Starts an embedded PostgreSQL and `fhirserver serve` with one worker, writes 300 patients,
then for GET /healthz, a read by id and a `Patient?_id=` search runs k6 at one VU and
divides each process group's CPU time (user + kernel, from psutil) by the requests served.
At concurrency 1 a request waits at least for its worker's CPU on the request path and for
PostgreSQL's: this says how big each is (bench/search.py gives the latencies).

Run: .venv/bin/python bench/cpu_split.py     Prints one line per request kind.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Server, run_k6  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "k6_urls.js"
PATIENTS = 300


async def _prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await create_tenant(conn, "default")
    finally:
        await conn.close()


def _cpu(processes: list[psutil.Process], kernel_only: bool = False) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.system if kernel_only else t.user + t.system
    return total


def _postgres() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] and "postgres" in p.info["name"]]


def measure(server: Server, work: Path, name: str, urls: list[str], seconds: int = 4) -> str:
    (work / "urls.json").write_text(json.dumps(urls))
    env = {"URLS_FILE": str(work / "urls.json"), "VUS": "1"}
    run_k6(SCRIPT, {**env, "DURATION": "1s"}, work)   # warm-up
    parent = psutil.Process(server.proc.pid)
    worker = [parent, *parent.children(recursive=True)]
    pg = _postgres()
    w0, k0, p0, t0 = _cpu(worker), _cpu(worker, True), _cpu(pg), os.times()
    r = run_k6(SCRIPT, {**env, "DURATION": f"{seconds}s"}, work)
    t1, n = os.times(), r["requests"]
    k6 = t1.children_user + t1.children_system - t0.children_user - t0.children_system
    return (f"{name:8} median {r['median_ms']} ms, p95 {r['p95_ms']}; CPU per request: worker "
            f"{(_cpu(worker) - w0) / n * 1e3:.3f} ms (kernel {(_cpu(worker, True) - k0) / n * 1e3:.3f}), "
            f"postgres {(_cpu(pg) - p0) / n * 1e3:.3f} ms, k6 {k6 / n * 1e3:.3f} ms; {n} requests")


def main() -> None:
    data, work = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    cluster = EmbeddedPostgres(data / "pg", port=54466)
    dsn = asyncio.run(ensure_database(cluster.start(), "cpusplit"))
    asyncio.run(_prepare(dsn))
    server = Server(dsn, 1)
    try:
        base = server.base()
        with httpx.Client() as client:
            for i in range(PATIENTS):
                body = {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"F{i}"}],
                        "birthDate": "1970-01-01"}
                r = client.put(f"{base}/Patient/p{i}", content=json.dumps(body),
                               headers={"Content-Type": "application/fhir+json"})
                r.raise_for_status()
        rnd = random.Random(1)
        cases = {"healthz": [f"http://127.0.0.1:{server.port}/healthz"],
                 "read": [f"{base}/Patient/p{rnd.randrange(PATIENTS)}" for _ in range(200)],
                 "_id": [f"{base}/Patient?_id=p{rnd.randrange(PATIENTS)}" for _ in range(200)]}
        for name, urls in cases.items():
            print(measure(server, work, name, urls), flush=True)
    finally:
        server.stop()
        cluster.stop()


if __name__ == "__main__":
    main()
