"""What auth and audit cost: read by id (Q1) and the standard mix's Q9 at 1 and 32 VUs,
with bearer-token auth and the audit trail on, beside the same server with both off.

One run: generated data loaded into an embedded PostgreSQL, then `fhirserver serve`
(production mode) started once per configuration against that database, and k6 driving
the same URL lists against each:
- "auth off, audit off": anonymous loopback requests (no FHIR_AUTH_ISSUER, no
  Authorization header) and no audit trail. The server has no setting that turns the
  audit off, so this configuration is the unchanged server started through a bench-only
  wrapper that hands the app `Services(audit=None)` (the state fhirserver/auditing.py
  already treats as "no trail"); the audit rows counted after it (0) show the wrapper took;
- "auth off, audit on": the stock server, anonymous loopback;
- "auth on, audit off": the wrapper, with a bearer token (user/*.rs, signed by the
  embedded default's key in FHIR_DATA_DIR/auth, i.e. `fhirserver token`);
- "auth on, audit on": the stock server with that bearer token: what the issue asks for.
Also in the same run: the SQL the server runs for the same requests, straight through
asyncpg at the same concurrency (bench/standard.py's baseline), and the audit rows each
configuration wrote (SELECT count(*) FROM audit_events before and after).

Everything (PostgreSQL, server workers, k6) shares this machine's cores.

Run: .venv/bin/python bench/auth.py [--patients 200] [--duration 10] [--workers 2]
Writes bench/results/auth.json and bench/results/auth.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, free_port, generated_database, k6_metrics, machine  # noqa: E402
from bench.standard import Query, _sql  # noqa: E402
from fhirserver.auth.mint import mint  # noqa: E402

TENANT = "org-1"
VUS = (1, 32)
SCOPE = "user/*.rs"
# (label, auth, audit)
CONFIGS = (("auth off, audit off", False, False), ("auth off, audit on", False, True),
           ("auth on, audit off", True, False), ("auth on, audit on", True, True))

# The server with no audit trail, for the baseline only. Top level on purpose: uvicorn starts
# its workers with multiprocessing's spawn, which runs this file again (as __mp_main__) in
# each worker before it imports fhirserver.app:create_app, so every worker gets the patch.
_NO_AUDIT = '''
import sys
import fhirserver.app as _app
_Services = _app.Services
_app.Services = lambda *a, **k: _Services(*a, **{**k, "audit": None})
if __name__ == "__main__":
    from fhirserver.cli import main
    main(sys.argv[1:])
'''

# k6: GET one of a list of URLs per iteration, with a bearer token when TOKEN is set.
_K6 = '''
import http from 'k6/http';
import { check } from 'k6';
const urls = JSON.parse(open(__ENV.URLS_FILE));
const params = __ENV.TOKEN ? {headers: {Authorization: `Bearer ${__ENV.TOKEN}`}} : {};
export const options = {
  vus: Number(__ENV.VUS), duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'], discardResponseBodies: true,
};
export default function () {
  const r = http.get(urls[Math.floor(Math.random() * urls.length)], params);
  check(r, {ok: (x) => x.status === 200});
}
'''


class Server:
    """`fhirserver serve` (or the no-audit wrapper) on a port chosen beforehand."""

    def __init__(self, dsn: str, workers: int, port: int, data_dir: Path, audit: bool, work: Path) -> None:
        self.port = port
        env = {**os.environ, "DATABASE_URL": dsn, "FHIR_WORKERS": str(workers), "FHIR_DATA_DIR": str(data_dir),
               "FHIR_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
        env.pop("FHIR_AUTH_ISSUER", None)
        if audit:
            cmd = [sys.executable, "-m", "fhirserver", "serve", "--port", str(port)]
        else:
            wrapper = work / "serve_no_audit.py"
            wrapper.write_text(_NO_AUDIT)
            cmd = [sys.executable, str(wrapper), "serve", "--port", str(port)]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError("server did not start:\n" + self.log.read()[-3000:].decode("utf-8", "replace"))

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/{TENANT}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def run_k6(script: Path, env: dict, work: Path) -> dict:
    m = k6_metrics(script, env, work)
    d, it = m["http_req_duration"], m.get("iterations", {"count": 0, "rate": 0.0})
    return {"requests": it["count"], "req_per_s": round(it["rate"], 1), "median_ms": round(d["med"], 3),
            "p95_ms": round(d["p(95)"], 3), "p99_ms": round(d["p(99)"], 3),
            "failed": m.get("checks", {}).get("fails", 0)}


async def _draw(dsn: str) -> tuple[int, list[str]]:
    conn = await asyncpg.connect(dsn)
    await conn.execute("VACUUM ANALYZE")
    org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = $1", TENANT)
    pats = [r["id"] for r in await conn.fetch(
        "SELECT id FROM patients WHERE org_id = $1 AND mrn IS NOT NULL ORDER BY id", org)]
    await conn.close()
    return org, pats


async def _audit_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM audit_events")
    finally:
        await conn.close()


def queries(pats: list[str]) -> list[Query]:
    """Q1 and Q9 as bench/standard.py draws them, 200 requests each."""
    rnd = random.Random(7)
    q1 = [{"url": f"Patient/{rnd.choice(pats)}"} for _ in range(200)]
    q9 = [{"url": f"Observation?patient=Patient/{rnd.choice(pats)}&_count=20"} if i % 2 == 0
          else {"url": f"Claim?patient={rnd.choice(pats)}"} for i in range(200)]
    return [Query("read by id (Q1)", q1, "read"), Query("Q9 patient's Observations / Claims", q9)]


def main(args) -> None:
    started = time.perf_counter()
    data = Path(args.data_dir).resolve()
    cluster, dsn = generated_database(data, args.patients, args.pg_port, "fhirauth", args.workers)
    work = Path(tempfile.mkdtemp())
    script = work / "k6_auth.js"
    script.write_text(_K6)
    fhir_dir = data / "fhir"
    rows, audit_rows = [], {}
    try:
        org, pats = asyncio.run(_draw(dsn))
        print(f"loaded in {time.perf_counter() - started:.0f} s; {len(pats)} patients in {TENANT}", flush=True)
        qs = queries(pats)
        port = free_port()
        for label, auth, audit in [c for c in CONFIGS if not args.only or c[0] in args.only]:
            before = asyncio.run(_audit_rows(dsn))
            server = Server(dsn, args.workers, port, fhir_dir, audit, work)
            try:
                token = mint(fhir_dir, server.base(), SCOPE, ttl_s=3600) if auth else ""
                for q in qs:
                    urls = [f"{server.base()}/{r['url']}" for r in q.requests]
                    (work / "urls.json").write_text(json.dumps(urls))
                    # a check before measuring: every configuration must answer 200
                    hdr = {"Authorization": f"Bearer {token}"} if token else {}
                    status = httpx.get(urls[0], headers=hdr, timeout=10).status_code
                    if status != 200:
                        raise RuntimeError(f"{label}: {urls[0]} answered {status}")
                    for vus in VUS:
                        env = {"URLS_FILE": str(work / "urls.json"), "VUS": str(vus), "TOKEN": token}
                        run_k6(script, {**env, "DURATION": f"{args.warmup}s"}, work)   # warm-up, discarded
                        r = run_k6(script, {**env, "DURATION": f"{args.duration}s"}, work)
                        rows.append({"config": label, "auth": auth, "audit": audit, "query": q.name,
                                     "vus": vus, **r})
                        print(label, q.name, vus, r, flush=True)
            finally:
                server.stop()   # its AuditLog writes everything queued before it exits
            audit_rows[label] = asyncio.run(_audit_rows(dsn)) - before
            print(label, "audit rows written:", audit_rows[label], flush=True)
        for q in qs:
            for vus in VUS:
                r = asyncio.run(_sql(dsn, org, q, vus, args.duration))
                rows.append({"config": "SQL (asyncpg, no HTTP)", "auth": None, "audit": None, "query": q.name,
                             "vus": vus, **r, "failed": 0})
                print("SQL", q.name, vus, r, flush=True)
    finally:
        cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "tenant": TENANT, "patients_in_tenant": len(pats),
              "workers": args.workers, "duration_s": args.duration, "warmup_s": args.warmup, "scope": SCOPE,
              "audit_rows_written": audit_rows, "results": rows,
              "examples": {q.name: q.requests[0]["url"] for q in qs},
              "runtime_s": round(time.perf_counter() - started, 1)}
    if args.scratch:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "auth.json").write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    write_md(report)


def write_md(report: dict) -> None:
    m = report["machine"]
    rows = report["results"]

    def cell(config, query, vus):
        return next((r for r in rows if r["config"] == config and r["query"] == query and r["vus"] == vus), None)
    md = ["# Auth and audit overhead", "",
          f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB, Python {m['python']}; "
          f"{report['patients']} generated patients ({report['patients_in_tenant']} in tenant {report['tenant']}), "
          f"{report['workers']} server workers, {report['duration_s']} s per cell after a {report['warmup_s']} s "
          "warm-up; PostgreSQL, server and k6 all on this machine. One run: medians and p95 below all come "
          "from it. Produced by `bench/auth.py`.", "",
          "Auth on = a bearer token (`user/*.rs`, signed by the embedded default's key) on every request; "
          "auth off = anonymous loopback (no FHIR_AUTH_ISSUER, no header). The server has no setting to turn "
          "the audit off: audit off = the same server started through a bench-only wrapper that gives the "
          "app no AuditLog (`Services.audit = None`). SQL = the server's own statement for the same requests "
          "through asyncpg, no HTTP.", "",
          "| configuration | query | VUs | req/s | median ms | p95 ms | failed |",
          "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['config']} | {r['query']} | {r['vus']} | {r['req_per_s']} | {r['median_ms']} | "
                  f"{r['p95_ms']} | {r['failed']} |")
    md += ["", "Audit rows written per configuration (all requests, warm-ups included): "
           + ", ".join(f"{k}: {v}" for k, v in report["audit_rows_written"].items()) + ".", "",
           "## Against the target (auth on + audit on vs both off)", "",
           "Target: at most 10 % fewer requests/s, and at most +0.1 ms median at 1 VU.", "",
           "| query | VUs | req/s off | req/s on | change | median off | median on | +median ms | meets |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for query in dict.fromkeys(r["query"] for r in rows):
        for vus in VUS:
            off, on = cell("auth off, audit off", query, vus), cell("auth on, audit on", query, vus)
            if not off or not on:
                continue
            change = on["req_per_s"] / off["req_per_s"] - 1
            dmed = on["median_ms"] - off["median_ms"]
            ok = change >= -0.10 and (vus != 1 or dmed <= 0.1)
            md.append(f"| {query} | {vus} | {off['req_per_s']} | {on['req_per_s']} | {change:+.1%} | "
                      f"{off['median_ms']} | {on['median_ms']} | {dmed:+.3f} | {'yes' if ok else 'no'} |")
    (RESULTS / "auth.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-port", type=int, default=54430)
    parser.add_argument("--only", action="append", choices=[c[0] for c in CONFIGS],
                        help="run only these configurations (repeatable); for exploring, with --scratch")
    parser.add_argument("--scratch", action="store_true", help="print the report instead of writing bench/results")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-auth"))
    main(parser.parse_args())
