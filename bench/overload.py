"""Overload: what the server does at ten times the concurrency it sustains, and after.

One run, one server (`fhirserver serve`, stock settings: FHIR_MAX_INFLIGHT, FHIR_POOL_WAIT_S,
FHIR_STATEMENT_TIMEOUT_S at their defaults) on generated data:
1. unloaded: read by id and a patient's Observations at 1 VU (the p99 to compare with);
2. the burst: the same requests at `--burst-vus` VUs (default 320, ten times the 32 that
   bench/auth.py measures as sustained) for `--burst-seconds`; k6 counts what was admitted
   (2xx) and what was refused (503 SERVER-BUSY / DB-BUSY) apart, and a refused client
   waits its Retry-After before the next request, as a polite client does;
3. recovery: from the burst's end, one client reads by id in a loop; "back to normal" is the
   first moment from which 20 requests in a row succeed within twice the unloaded median.
Targets (issue "faults and overload"): p99 of admitted requests under 5x the unloaded p99,
no admitted request over 2 s, back to normal within 5 s.

Run: .venv/bin/python bench/overload.py [--patients 200] [--burst-vus 320] [--burst-seconds 60]
Writes bench/results/overload.json and bench/results/overload.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.auth import TENANT, Server, _draw, queries  # noqa: E402
from bench.common import RESULTS, ROOT, free_port, generated_database, k6_metrics, machine  # noqa: E402

# k6: admitted (2xx) and refused (503) requests counted apart; the thresholds only make k6
# export the admitted requests' own latency trend.
_K6 = '''
import http from 'k6/http';
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';
const urls = JSON.parse(open(__ENV.URLS_FILE));
const refused = new Counter('refused');
const failed = new Counter('failed');
export const options = {
  vus: Number(__ENV.VUS), duration: __ENV.DURATION, discardResponseBodies: true,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'],
  thresholds: {'http_req_duration{expected_response:true}': ['max>=0']},
};
export default function () {
  const r = http.get(urls[Math.floor(Math.random() * urls.length)]);
  // a polite client: a 503 is retried after its Retry-After
  if (r.status === 503) { refused.add(1); sleep(Number(r.headers['Retry-After'] || 1)); }
  else if (r.status !== 200) { failed.add(1); }
}
'''


def run_k6(script: Path, env: dict, work: Path) -> dict:
    m = k6_metrics(script, env, work)
    admitted = m["http_req_duration{expected_response:true}"]
    total = m["iterations"]["count"]
    seconds = float(env["DURATION"].rstrip("s"))
    refused = m.get("refused", {}).get("count", 0)
    return {"requests": total, "admitted_per_s": round((total - refused) / seconds, 1),
            "refused_share": round(refused / total, 4) if total else 0.0,
            "failed": m.get("failed", {}).get("count", 0),
            "admitted_median_ms": round(admitted["med"], 3), "admitted_p99_ms": round(admitted["p(99)"], 3),
            "admitted_max_ms": round(admitted["max"], 3)}


def recovery(urls: list[str], normal_ms: float, limit_s: float = 30.0) -> float | None:
    """Seconds from now until 20 requests in a row succeed within `normal_ms`; None if never."""
    started, streak, streak_from = time.monotonic(), 0, None
    with httpx.Client(timeout=10) as c:
        i = 0
        while time.monotonic() - started < limit_s:
            t0 = time.monotonic()
            status = c.get(urls[i % len(urls)]).status_code
            ms = (time.monotonic() - t0) * 1000
            i += 1
            if status == 200 and ms <= normal_ms:
                streak_from = t0 if streak == 0 else streak_from
                streak += 1
                if streak >= 20:
                    return round(streak_from - started, 3)
            else:
                streak = 0
    return None


def main(args) -> None:
    started = time.perf_counter()
    data = Path(args.data_dir).resolve()
    cluster, dsn = generated_database(data, args.patients, args.pg_port, "fhiroverload", args.workers)
    work = Path(tempfile.mkdtemp())
    script = work / "k6_overload.js"
    script.write_text(_K6)
    rows = []
    try:
        _, pats = asyncio.run(_draw(dsn))
        if args.max_inflight:
            os.environ["FHIR_MAX_INFLIGHT"] = str(args.max_inflight)   # the server inherits it
        if args.pool_max:
            os.environ["FHIR_POOL_MAX"] = str(args.pool_max)
        server = Server(dsn, args.workers, free_port(), data / "fhir", True, work)
        try:
            for q in queries(pats):
                urls = [f"{server.base()}/{r['url']}" for r in q.requests]
                (work / "urls.json").write_text(json.dumps(urls))
                env = {"URLS_FILE": str(work / "urls.json")}
                run_k6(script, {**env, "VUS": "1", "DURATION": "3s"}, work)   # warm-up
                unloaded = run_k6(script, {**env, "VUS": "1", "DURATION": f"{args.duration}s"}, work)
                burst = run_k6(script, {**env, "VUS": str(args.burst_vus), "DURATION": f"{args.burst_seconds}s"},
                               work)
                back = recovery(urls, 2 * unloaded["admitted_median_ms"])
                rows.append({"query": q.name, "unloaded": unloaded, "burst": burst, "back_to_normal_s": back})
                print(q.name, rows[-1], flush=True)
        finally:
            server.stop()
    finally:
        cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "tenant": TENANT, "workers": args.workers, "burst_vus": args.burst_vus,
              "burst_seconds": args.burst_seconds, "duration_s": args.duration, "results": rows,
              "max_inflight": int(os.environ.get("FHIR_MAX_INFLIGHT", "256")),
              "pool_max": int(os.environ.get("FHIR_POOL_MAX", "20")),
              "runtime_s": round(time.perf_counter() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "overload.json").write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    write_md(report)


def write_md(report: dict) -> None:
    m = report["machine"]
    md = ["# Overload", "",
          f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB, Python {m['python']}; "
          f"{report['patients']} generated patients, {report['workers']} server workers with the limits "
          f"(FHIR_MAX_INFLIGHT {report['max_inflight']} and FHIR_POOL_MAX {report['pool_max']} per worker, "
          "FHIR_POOL_WAIT_S 5, "
          "FHIR_STATEMENT_TIMEOUT_S 30), auth off "
          f"(anonymous loopback), audit on. Unloaded: 1 VU for {report['duration_s']} s; burst: "
          f"{report['burst_vus']} VUs for {report['burst_seconds']} s. One run; PostgreSQL, server and k6 share "
          "the machine. Produced by `bench/overload.py`.", "",
          "| query | unloaded median ms | unloaded p99 ms | burst admitted req/s | refused (503) | failed "
          "| admitted median ms | admitted p99 ms | admitted max ms | back to normal s |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        u, b = r["unloaded"], r["burst"]
        md.append(f"| {r['query']} | {u['admitted_median_ms']} | {u['admitted_p99_ms']} | {b['admitted_per_s']} | "
                  f"{b['refused_share']:.1%} | {b['failed']} | {b['admitted_median_ms']} | {b['admitted_p99_ms']} | "
                  f"{b['admitted_max_ms']} | {r['back_to_normal_s']} |")
    md += ["", "## Against the target", "",
           "Target: p99 of admitted requests under 5x the unloaded p99, no admitted request over 2 s, back to "
           "normal within 5 s.", "", "| query | p99 ratio | max under 2 s | recovery under 5 s |", "|---|---:|---|---|"]
    for r in report["results"]:
        u, b = r["unloaded"], r["burst"]
        ratio = b["admitted_p99_ms"] / u["admitted_p99_ms"] if u["admitted_p99_ms"] else float("inf")
        back = r["back_to_normal_s"]
        md.append(f"| {r['query']} | {ratio:.1f}x {'(yes)' if ratio < 5 else '(no)'} | "
                  f"{'yes' if b['admitted_max_ms'] < 2000 else 'no'} | "
                  f"{'yes' if back is not None and back < 5 else 'no'} |")
    text = "\n".join(md) + "\n"
    (RESULTS / "overload.md").write_text(text)
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--burst-vus", type=int, default=320)
    parser.add_argument("--burst-seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-inflight", type=int, default=0, help="FHIR_MAX_INFLIGHT for the server (0: its default)")
    parser.add_argument("--pool-max", type=int, default=0, help="FHIR_POOL_MAX for the server (0: its default, 20)")
    parser.add_argument("--pg-port", type=int, default=54431)
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-overload"))
    main(parser.parse_args())
