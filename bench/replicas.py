"""Scale-out reads: read-by-id and a search mix, cache off/on x 0/1 replica, at concurrency 32.

One run: generated data loaded into an embedded primary, a streaming replica made from
it (pg_basebackup -R), a Redis; then `fhirserver serve` (production mode) is started in
each of the four configurations and k6 drives the same URL lists against each. The HTTP
floor (GET /healthz of the same server) is measured in the same run.

Everything shares this machine's cores (primary, replica, Redis, server workers, k6), so a
replica adds no capacity here: these figures show what routing and caching cost or save
per request, not the throughput of a replica on its own hardware.

Run: .venv/bin/python bench/replicas.py [--patients 200] [--duration 10] [--workers 2]
Writes bench/results/replicas.json and bench/results/replicas.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, machine, run_k6  # noqa: E402
from bench.generate import generate  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.bulk_run import run_load  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from tests.servers import RedisServer, ensure_debian_package  # noqa: E402

TENANT = "org-1"
CONFIGS = (("no cache, no replica", False, False), ("cache, no replica", True, False),
           ("no cache, 1 replica", False, True), ("cache, 1 replica", True, True))


async def _prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()


async def _urls(dsn: str, base: str, n: int) -> dict[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = $1", TENANT)
    patients = [r["id"] for r in await conn.fetch(
        "SELECT id FROM patients WHERE org_id = $1 ORDER BY random() LIMIT $2", org, n)]
    observations = [r["id"] for r in await conn.fetch(
        "SELECT id FROM observations WHERE org_id = $1 ORDER BY random() LIMIT $2", org, n)]
    names = await conn.fetch("SELECT resource::jsonb->'name'->0->>'family' AS family, "
                             "resource::jsonb->'name'->0->'given'->>0 AS given "
                             "FROM patients WHERE org_id = $1 ORDER BY random() LIMIT $2", org, n)
    await conn.close()
    rnd = random.Random(7)
    reads = [f"{base}/Patient/{p}" for p in patients] + [f"{base}/Observation/{o}" for o in observations]
    searches = []
    for i in range(n):
        p = rnd.choice(patients)
        kind = i % 4
        if kind == 0:
            searches.append(f"{base}/Observation?patient=Patient/{p}&_count=20")
        elif kind == 1:
            searches.append(f"{base}/Encounter?patient={p}&_sort=-date&_count=10")
        elif kind == 2:
            nm = rnd.choice(names)
            searches.append(f"{base}/Patient?family={quote(nm['family'])}&given={quote(nm['given'] or '')}&_count=50")
        else:
            searches.append(f"{base}/Claim?patient={p}")
    rnd.shuffle(reads)
    return {"read": reads, "search": searches}


def _cache_counts(server: Server) -> dict[str, float]:
    """fhir_cache_lookups_total by result, from the server's own /metrics (summed over workers)."""
    time.sleep(1.2)   # the metrics sampler copies the counts once a second
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    return {s.labels["result"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "fhir_cache_lookups_total"}


def main(args) -> None:
    data = Path(args.data_dir).resolve()
    shutil.rmtree(data, ignore_errors=True)
    generated = data / "generated"
    generate(generated, args.patients, 1)
    primary = EmbeddedPostgres(data / "primary", port=54410)
    dsn = asyncio.run(ensure_database(primary.start(), "fhirrepl"))
    asyncio.run(_prepare(dsn))
    run_load(dsn, [str(generated)], None, data / "rejects.ndjson", args.workers, data / "state")
    replica = EmbeddedPostgres(data / "replica", port=54411)
    replica.init_replica_of(primary)
    replica.start()
    replica_dsn = replica.dsn("fhirrepl")
    ensure_debian_package("redis-server", "redis-server")
    redis = RedisServer(data / "redis", 56390)
    redis.start()
    work = Path(tempfile.mkdtemp())
    results = []
    try:
        for label, cache, with_replica in CONFIGS:
            env = {"REDIS_URL": redis.url if cache else "",
                   "DATABASE_REPLICA_URLS": replica_dsn if with_replica else ""}
            server = Server(dsn, args.workers, env)
            try:
                urls = asyncio.run(_urls(dsn, server.base(TENANT), args.urls))
                urls["floor"] = [f"http://127.0.0.1:{server.port}/healthz"]
                for mix in ("read", "search", "floor"):
                    if mix == "floor" and results and any(r["mix"] == "floor" for r in results):
                        continue   # one floor per run is enough
                    path = work / f"{mix}.json"
                    path.write_text(json.dumps(urls[mix]))
                    before = _cache_counts(server)
                    r = run_k6(ROOT / "bench" / "k6_urls.js", {"URLS_FILE": str(path), "VUS": str(args.vus),
                                                              "DURATION": f"{args.duration}s"}, work)
                    after = _cache_counts(server)
                    lookups = sum(after.values()) - sum(before.values())
                    hits = after.get("hit", 0) - before.get("hit", 0)
                    r["cache_hit_ratio"] = round(hits / lookups, 3) if lookups else None
                    results.append({"config": label, "mix": mix, **r})
                    print(label, mix, r, flush=True)
            finally:
                server.stop()
    finally:
        redis.stop()
        replica.stop()
        primary.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "workers": args.workers, "vus": args.vus, "duration_s": args.duration,
              "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replicas.json").write_text(json.dumps(report, indent=2))
    m = report["machine"]
    md = [f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {args.patients} generated patients "
          f"(tenant {TENANT}), {args.workers} server workers, {args.vus} virtual users, {args.duration} s per cell; "
          "primary, replica, Redis, server and k6 all on this machine.", "",
          "| configuration | mix | req/s | median ms | p95 ms | cache hits | failed |",
          "|---|---|---:|---:|---:|---:|---:|"]
    md += [f"| {r['config'] if r['mix'] != 'floor' else 'HTTP floor'} | {r['mix']} | {r['req_per_s']} | "
           f"{r['median_ms']} | {r['p95_ms']} | "
           f"{'' if r['cache_hit_ratio'] is None else format(r['cache_hit_ratio'], '.1%')} | {r['failed']} |"
           for r in results]
    (RESULTS / "replicas.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--vus", type=int, default=32)
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-replicas"))
    main(parser.parse_args())
