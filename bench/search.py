"""Search benchmark: the seed's hot queries through HTTP beside their own SQL, in one run.

Loads a deterministic dataset (per patient: 5 encounters, 20 observations of 12 LOINC
codes, 3 appointments, 5 medication requests, 2 claims, 2 audit events; practitioners
and locations per organisation) with the bulk loader (`fhirserver load`: validation,
indexing and COPY in worker processes), then for each query runs k6 at concurrency 1
and 32 with parameters drawn from the data, and beside it the server's own SQL for the same
requests (searchparams.pipeline.fetch_page: the compiled statement with the month walk and the
plan mode the server picks) straight through asyncpg in the tenant read the server uses.
Each cell is preceded by an untimed warm-up of the same length cap (`--warmup`), so both
sides are measured with their connections' cached generic plans built. The HTTP floor
(GET /healthz of the same server: HTTP and Python, no FHIR, no database) is measured in
the same run, so the part of each HTTP figure that no FHIR code can remove is visible.

Run:  .venv/bin/python bench/search.py [--patients 10000] [--duration 10] [--keep]
`--keep` reuses the dataset a previous run left in --data-dir (same --patients and --seed).
Writes bench/results/search.json and bench/results/search.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, machine, run_k6, summary  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.bulk_run import run_load  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from fhirserver.db.pools import Route, open_database  # noqa: E402
from fhirserver.db.tenancy import tenant_read  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402
from mappings import MAPPINGS  # noqa: E402
from searchparams import pipeline  # noqa: E402

SCRIPT = ROOT / "bench" / "k6_urls.js"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
FAMILIES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
            "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"]
GIVEN = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen"]
VITALS = [("8867-4", "/min", 50, 110), ("8480-6", "mm[Hg]", 90, 180), ("8462-4", "mm[Hg]", 50, 110),
          ("29463-7", "kg", 3, 150), ("8302-2", "cm", 45, 200), ("39156-5", "kg/m2", 14, 45)]
LABS = [("2339-0", "mg/dL", 60, 250), ("2093-3", "mg/dL", 120, 300), ("718-7", "g/dL", 8, 18),
        ("4548-4", "%", 4, 12), ("2160-0", "mg/dL", 0.5, 3), ("6690-2", "10*3/uL", 3, 15)]
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _ts(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


def dataset(patients: int, seed: int):
    """(resource, key) in dependency order; keys name resources the queries pick from."""
    rnd = random.Random(seed)
    practitioners = [{"resourceType": "Practitioner", "id": f"prac-{i}",
                      "name": [{"family": rnd.choice(FAMILIES), "given": [rnd.choice(GIVEN)]}]} for i in range(60)]
    locations = [{"resourceType": "Location", "id": f"loc-{i}", "name": f"Clinic {i}", "status": "active"}
                 for i in range(12)]
    yield from ((r, "prac") for r in practitioners)
    yield from ((r, "loc") for r in locations)
    for p in range(patients):
        pid = f"pat-{p}"
        birth = (NOW - timedelta(days=rnd.randint(365, 90 * 365))).date().isoformat()
        yield ({"resourceType": "Patient", "id": pid, "gender": rnd.choice(["male", "female"]), "birthDate": birth,
                "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN{p:07d}",
                                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                     "code": "MR"}]}}],
                "name": [{"family": rnd.choice(FAMILIES), "given": [rnd.choice(GIVEN)]}]}, "pat")
        for e in range(5):
            start = rnd.uniform(-5 * 365, 0)
            yield ({"resourceType": "Encounter", "id": f"enc-{p}-{e}", "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": f"Patient/{pid}"},
                    "participant": [{"individual": {"reference": f"Practitioner/prac-{rnd.randrange(60)}"}}],
                    "period": {"start": _ts(start), "end": _ts(start + 0.05)}}, "enc")
        for o in range(20):
            code, unit, lo, hi = rnd.choice(VITALS if o % 2 else LABS)
            yield ({"resourceType": "Observation", "id": f"obs-{p}-{o}", "status": "final",
                    "category": [{"coding": [{"system": CATEGORY,
                                              "code": "vital-signs" if o % 2 else "laboratory"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": _ts(rnd.uniform(-5 * 365, 0)),
                    "valueQuantity": {"value": round(rnd.uniform(lo, hi), 1), "unit": unit,
                                      "system": "http://unitsofmeasure.org", "code": unit}}, "obs")
        for a in range(3):
            start = rnd.uniform(-60, 90)
            yield ({"resourceType": "Appointment", "id": f"apt-{p}-{a}",
                    "status": "booked" if start > 0 else "fulfilled", "start": _ts(start), "end": _ts(start + 0.02),
                    "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
                                    {"actor": {"reference": f"Practitioner/prac-{rnd.randrange(60)}"},
                                     "status": "accepted"},
                                    {"actor": {"reference": f"Location/loc-{rnd.randrange(12)}"},
                                     "status": "accepted"}]}, "apt")
        for m in range(5):
            yield ({"resourceType": "MedicationRequest", "id": f"med-{p}-{m}",
                    "status": rnd.choice(["active", "completed", "stopped"]), "intent": "order",
                    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                              "code": str(rnd.choice([316049, 314076, 197361]))}]},
                    "subject": {"reference": f"Patient/{pid}"}, "authoredOn": _ts(rnd.uniform(-5 * 365, 0))}, "med")
        for c in range(2):
            yield ({"resourceType": "Claim", "id": f"clm-{p}-{c}", "status": "active", "use": "claim",
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                         "code": "professional"}]},
                    "patient": {"reference": f"Patient/{pid}"}, "created": _ts(rnd.uniform(-5 * 365, 0)),
                    "provider": {"reference": f"Practitioner/prac-{rnd.randrange(60)}"},
                    "priority": {"coding": [{"code": "normal"}]},
                    "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Payer"}}]}, "clm")
        for v in range(2):
            yield ({"resourceType": "AuditEvent", "id": f"aud-{p}-{v}",
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                    "action": "R", "recorded": _ts(rnd.uniform(-60, 0)), "outcome": "0",
                    "agent": [{"requestor": True, "who": {"reference": f"Practitioner/prac-{rnd.randrange(60)}"}}],
                    "entity": [{"what": {"reference": f"Patient/{pid}"}}],
                    "source": {"observer": {"display": "bench"}}}, "aud")


def load(dsn: str, work: Path, patients: int, seed: int, workers: int) -> dict[str, list[dict]]:
    """Writes the dataset to ndjson and loads it with the bulk loader (`fhirserver load`:
    validation, indexing and COPY over `workers` processes) into the tenant 'default'."""
    keys: dict[str, list[dict]] = {}
    path = work / "dataset.ndjson"
    with open(path, "wb") as out:
        for resource, key in dataset(patients, seed):
            keys.setdefault(key, []).append(resource)
            out.write(orjson.dumps(resource) + b"\n")
    started = time.perf_counter()
    stats = run_load(dsn, [str(path)], "default", work / "rejects.ndjson", workers, work / "load-state")
    if stats.rejected:
        raise SystemExit(f"{stats.rejected} resources rejected: see {work / 'rejects.ndjson'}")
    print(f"loaded {stats.loaded} resources in {time.perf_counter() - started:.0f} s over {workers} processes",
          flush=True)
    path.unlink()
    return keys


def queries(keys: dict[str, list[dict]], rnd: random.Random) -> dict[str, list[str]]:
    """Per query name, 200 relative URLs with parameters drawn from the data."""
    today = NOW.date().isoformat()
    month_ago = (NOW - timedelta(days=60)).date().isoformat()

    def pick(key):
        return rnd.choice(keys[key])
    out = {
        "patient by id": lambda: f"Patient?_id={pick('pat')['id']}",
        "patient by MRN": lambda: "Patient?" + urlencode(
            {"identifier": f"urn:oid:1.2.36.146.595.217.0.1|{pick('pat')['identifier'][0]['value']}"}),
        "patient by name": lambda: "Patient?" + urlencode(
            {"family": (p := pick('pat'))["name"][0]["family"][:4], "given": p["name"][0]["given"][0]}),
        "patient fuzzy name": lambda: "Patient?" + urlencode({"name:contains": pick('pat')["name"][0]["family"][1:5]}),
        "patient by birthdate": lambda: f"Patient?birthdate={pick('pat')['birthDate']}",
        "recent encounters of a patient": lambda: f"Encounter?patient={pick('pat')['id']}&_sort=-date&_count=10",
        "upcoming appointments by practitioner":
            lambda: f"Appointment?practitioner=Practitioner/{pick('prac')['id']}&date=ge{today}&status=booked",
        "upcoming appointments by location":
            lambda: f"Appointment?location=Location/{pick('loc')['id']}&date=ge{today}&status=booked",
        "active medication requests": lambda: f"MedicationRequest?patient={pick('pat')['id']}&status=active",
        "recent labs by code": lambda: "Observation?" + urlencode(
            {"patient": pick('pat')['id'], "code": f"http://loinc.org|{rnd.choice(LABS)[0]}", "date": f"ge{month_ago}",
             "_sort": "-date"}),
        "claims of a patient": lambda: f"Claim?patient={pick('pat')['id']}",
        "audit events by agent and date":
            lambda: f"AuditEvent?agent=Practitioner/{pick('prac')['id']}&date=ge{month_ago}",
    }
    return {name: [make() for _ in range(200)] for name, make in out.items()}


async def sql_baseline(db, org: int, urls: list[str], vus: int, seconds: float) -> dict:
    """The server's own SQL for each URL (pipeline.fetch_page: compiled statement, month walk, plan
    mode), in the server's tenant read, through asyncpg: no HTTP, no JSON."""
    searches = []
    for url in urls:
        path, _, query = url.partition("?")
        searches.append(pipeline.prepare(pipeline.SearchRequest(MAPPINGS[path], org, tuple(parse_qsl(query)))))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < deadline:
            query = searches[i % len(searches)]
            t = time.perf_counter()
            async with tenant_read(db, Route.READ, org) as conn:
                await pipeline.fetch_page(conn, query)
            latencies.append(time.perf_counter() - t)
            i += 7
    started = time.perf_counter()
    await asyncio.gather(*[worker(w) for w in range(vus)])
    return summary(latencies, time.perf_counter() - started)


async def main(args) -> None:
    if os.environ.get("DATABASE_URL"):
        dsn, cluster = os.environ["DATABASE_URL"], None
    else:
        data = Path(args.data_dir).resolve()
        marker = data / f"loaded-{args.patients}-{args.seed}"
        keep = args.keep and marker.exists()
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
        cluster = EmbeddedPostgres(data / "pg", port=54401)
        dsn = await ensure_database(cluster.start(), "fhirbench")
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = 'default'") if keep else None
    if org is None:
        org = (await create_tenant(conn, "default")).org_id
    await conn.close()
    db = await open_database(dsn, min_size=32, max_size=32)
    if keep:
        keys: dict[str, list[dict]] = {}
        for resource, key in dataset(args.patients, args.seed):
            keys.setdefault(key, []).append(resource)
    else:
        keys = await asyncio.to_thread(load, dsn, Path(tempfile.mkdtemp()), args.patients, args.seed,
                                       args.load_workers)
    conn = await asyncpg.connect(dsn)
    if not keep:
        await conn.execute("VACUUM ANALYZE")
        if cluster is not None:
            marker.touch()
    total = await conn.fetchval("SELECT (SELECT count(*) FROM observations) + (SELECT count(*) FROM encounters)")
    await conn.close()
    server = Server(dsn, args.workers)
    rows = []
    try:
        work = Path(tempfile.mkdtemp())
        floor = {"floor: GET /healthz": [f"http://127.0.0.1:{server.port}/healthz"]}
        for name, urls in {**floor, **queries(keys, random.Random(args.seed))}.items():
            absolute = urls if name in floor else [f"{server.base()}/{u}" for u in urls]
            (work / "urls.json").write_text(json.dumps(absolute))
            for vus in (1, 32):
                def k6(seconds: float, vus: int = vus) -> dict:
                    return run_k6(SCRIPT, {"URLS_FILE": str(work / "urls.json"), "VUS": str(vus),
                                           "DURATION": f"{round(max(seconds, 1) * 1000)}ms"}, work)   # k6: 1 s at least
                baseline = name not in floor
                if args.warmup:
                    k6(args.warmup)
                    if baseline:
                        await sql_baseline(db, org, urls, vus, args.warmup)
                http = k6(args.duration)
                sql = await sql_baseline(db, org, urls, vus, args.duration) if baseline else None
                rows.append({"query": name, "vus": vus, "http": http, "sql": sql, "example": urls[0]})
                print(rows[-1], flush=True)
    finally:
        server.stop()
        await db.close()
        if cluster is not None:
            cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "observations_and_encounters": total, "duration_s": args.duration,
              "warmup_s": args.warmup, "workers": args.workers, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "search.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB; {report['patients']} "
             f"patients ({report['observations_and_encounters']} observations + encounters); {report['workers']} "
             f"server workers; {report['duration_s']} s per cell after {report.get('warmup_s', 0)} s of "
             "untimed warm-up.", "",
             "| query | conc. | HTTP req/s | HTTP median ms | HTTP p95 ms | SQL req/s | SQL median ms | SQL p95 ms "
             "| median ratio | p95 ratio | failed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        h, s = r["http"], r["sql"]
        if s is None:
            lines.append(f"| {r['query']} | {r['vus']} | {h['req_per_s']} | {h['median_ms']} | {h['p95_ms']} | "
                         f"| | | | | {h['failed']} |")
            continue
        lines.append(f"| {r['query']} | {r['vus']} | {h['req_per_s']} | {h['median_ms']} | {h['p95_ms']} | "
                     f"{s['req_per_s']} | {s['median_ms']} | {s['p95_ms']} | {h['median_ms'] / s['median_ms']:.2f}x | "
                     f"{h['p95_ms'] / s['p95_ms']:.2f}x | {h['failed']} |")
    lines += ["", "Example requests:", ""]
    lines += [f"- {r['query']}: `{urlsplit(r['example']).path}?{urlsplit(r['example']).query}`"
              for r in report["rows"] if r["vus"] == 1 and r["sql"] is not None]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds before each cell")
    parser.add_argument("--keep", action="store_true", help="reuse the dataset left in --data-dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--load-workers", type=int, default=os.cpu_count() or 1,
                        help="bulk loader processes")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-search"))
    asyncio.run(main(parser.parse_args()))
