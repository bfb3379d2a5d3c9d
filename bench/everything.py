"""Patient/$everything: a whole record at 1 VU, beside the same record read type by type.

One run on generated data (bench/generate.py with whole records: the seed's types and the
clinical ones of bench/generate_clinical.py, loaded by the bulk loader into an embedded
PostgreSQL of its own), one `fhirserver serve` (production mode, anonymous loopback), one
client at a time, each request's record read to its end (every `next` link followed):
- $everything: `GET Patient/{id}/$everything?_count=1000`, referenced resources included;
- baseline, in the same run: the same patient's compartment read with one compartment
  search per generated type (`GET Patient/{id}/Observation?_count=1000`, ...), as a client
  without $everything would, without the referenced resources;
- the HTTP floor: `GET /healthz`.
Patients: "typical" draws from the middle half of org-1's patients by record size, "large"
is the largest record of the tenant: one patient added twenty times as active as the mean
(generate(large=1)), a record of several thousand resources.

Run: .venv/bin/python bench/everything.py [--patients 200] [--duration 20]
Writes bench/results/everything.json and bench/results/everything.md (--scratch: prints only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, Server, generated_database, machine, summary  # noqa: E402
from bench.generate_clinical import TYPES as CLINICAL_TYPES  # noqa: E402

TENANT = "org-1"
COMPARTMENT = ("Observation", "Encounter", "MedicationRequest", "Claim", "Appointment", *CLINICAL_TYPES)


async def _records(dsn: str) -> list[tuple[str, int]]:
    """(patient id, resources in its record) for the tenant's patients, smallest first."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
        org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = $1", TENANT)
        rows = await conn.fetch("""
            SELECT p.id, 1 + (SELECT count(*) FROM resource_refs r WHERE r.org_id = $1 AND r.target_type = 'Patient'
                              AND r.target_id = p.id) AS size
            FROM patients p WHERE p.org_id = $1 ORDER BY size, p.id""", org)
        return [(r["id"], r["size"]) for r in rows]
    finally:
        await conn.close()


def _read_all(client: httpx.Client, url: str) -> int:
    """Follow `next` to the end; the number of entries read."""
    entries = 0
    while url:
        bundle = client.get(url).json()
        entries += len(bundle.get("entry", []))
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return entries


def _measure(client: httpx.Client, urls_of, patients: list[str], seconds: float) -> tuple[dict, float]:
    """Latency of whole records of patients drawn at random; entries per record over the same
    first 20 patients for every way (the timed draws differ in number from way to way)."""
    sample = patients[:20]
    entries = sum(_read_all(client, url) for p in sample for url in urls_of(p)) / len(sample)
    rnd, latencies = random.Random(7), []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        patient = rnd.choice(patients)
        t = time.perf_counter()
        for url in urls_of(patient):
            _read_all(client, url)
        latencies.append(time.perf_counter() - t)
    return summary(latencies, seconds), entries


def main(args) -> None:
    started = time.perf_counter()
    data = Path(args.data_dir).resolve()
    cluster, dsn = generated_database(data, args.patients, args.pg_port, "fhireverything", args.workers,
                                      clinical=True, large=1)
    try:
        records = asyncio.run(_records(dsn))
        n = len(records)
        typical = [p for p, _ in records[n // 4: 3 * n // 4]]
        large = [records[-1][0]]
        server = Server(dsn, args.workers)
        base = server.base(TENANT)
        try:
            with httpx.Client(timeout=60) as client:
                _read_all(client, f"{base}/Patient/{typical[0]}/$everything?_count=1000")   # warm up
                everything = lambda p: [f"{base}/Patient/{p}/$everything?_count=1000"]   # noqa: E731
                by_type = lambda p: [f"{base}/Patient/{p}/{t}?_count=1000" for t in COMPARTMENT]   # noqa: E731
                results = []
                for label, patients in (("typical", typical), ("large", large)):
                    for way, urls in (("$everything", everything), ("one search per type", by_type)):
                        stats, per = _measure(client, urls, patients, args.duration)
                        results.append({"patient": label, "way": way, "entries_per_record": round(per, 1), **stats})
                        print(label, way, results[-1], flush=True)
                floor_lat = []
                for _ in range(500):
                    t = time.perf_counter()
                    client.get(f"http://127.0.0.1:{server.port}/healthz")
                    floor_lat.append(time.perf_counter() - t)
                floor = summary(floor_lat, sum(floor_lat))
        finally:
            server.stop()
    finally:
        cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "tenant": TENANT, "workers": args.workers, "duration_s": args.duration,
              "record_sizes": {"typical": [records[n // 4][1], records[3 * n // 4 - 1][1]], "large": records[-1][1]},
              "results": results, "floor": floor, "runtime_s": round(time.perf_counter() - started, 1)}
    md = _markdown(report)
    if args.scratch:
        print(md)
        return
    (RESULTS / "everything.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "everything.md").write_text(md)


def _markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Run {r['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB, Python {m['python']}; "
             f"{r['patients']} generated patients, tenant {r['tenant']}; server with {r['workers']} workers; one "
             f"client, {r['duration_s']} s per row; the client, the server and PostgreSQL share the machine. "
             "Record sizes (resources naming the patient, plus the patient): typical "
             f"{r['record_sizes']['typical'][0]}-{r['record_sizes']['typical'][1]}, "
             f"large {r['record_sizes']['large']}. "
             "A row's latency is a whole record, every `next` link followed.", "",
             "| patient | way | records/s | median ms | p95 ms | p99 ms | entries per record |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for x in r["results"]:
        lines.append(f"| {x['patient']} | {x['way']} | {x['req_per_s']} | {x['median_ms']} | {x['p95_ms']} | "
                     f"{x['p99_ms']} | {x['entries_per_record']} |")
    f = r["floor"]
    lines += ["", f"HTTP floor (`GET /healthz`, same client): median {f['median_ms']} ms, p95 {f['p95_ms']} ms.", "",
              "$everything also returns what the record refers to (practitioners, organizations, locations), "
              "which the per-type searches do not."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-port", type=int, default=55441)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parent / ".data-everything"))
    parser.add_argument("--scratch", action="store_true")
    main(parser.parse_args())
