"""The standard mix's reads on the code of two commits, in one run, on the same data.

One generated dataset (bench/generate.py, the seed's types) is loaded twice into one embedded
PostgreSQL: by the code of BEFORE (a git worktree, its own migrations and loader) into one
database and by this checkout's into another. Both servers run side by side (`fhirserver
serve`, production mode), and every read query of the standard mix (bench/standard.py: the
same drawn parameters for both) is sent to one and then the other, request after request at
one client, so that both see the same machine. Reported: median and p95 per query and server,
and their ratio. Writes (W1, W3) are left out: they would change the two datasets apart.

Run: .venv/bin/python bench/regression.py [--patients 1000] [--requests 60] [--before d24e451]
Writes bench/results/regression.json and regression.md (--scratch: prints only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, free_port, machine, summary, worktree  # noqa: E402
from bench.generate import generate  # noqa: E402
from bench.standard import TENANT, _analyze, draw, mix  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402

DATA = ROOT / "bench" / ".data-regress"


def load(dsn: str, generated: Path, tree: Path | None) -> float:
    """Migrate and bulk-load with the code of `tree` (this checkout when None); seconds taken."""
    env = {**os.environ, "DATABASE_URL": dsn, **({"PYTHONPATH": str(tree)} if tree else {})}
    cwd = tree or ROOT
    t = time.perf_counter()
    for args in (["migrate"], ["load", str(generated), "--workers", "2", "--rejects",
                               str(DATA / f"rejects-{'before' if tree else 'after'}.ndjson")]):
        subprocess.run([sys.executable, "-m", "fhirserver", *args], env=env, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _send(client: httpx.Client, base: str, req: dict) -> float:
    t = time.perf_counter()
    if "form" in req:
        r = client.post(f"{base}/{req['url']}", content=req["form"],
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        r = client.get(f"{base}/{req['url']}")
    elapsed = time.perf_counter() - t
    if r.status_code != 200:
        raise RuntimeError(f"{req['url']}: {r.status_code} {r.text[:300]}")
    return elapsed


def main(args) -> None:
    shutil.rmtree(DATA / "pg", ignore_errors=True)
    generated = DATA / "generated"
    shutil.rmtree(generated, ignore_errors=True)
    generate(generated, args.patients, args.seed)
    tree = worktree(args.before)
    cluster = EmbeddedPostgres(DATA / "pg", port=free_port())
    admin = cluster.start()
    try:
        dsns = {way: asyncio.run(ensure_database(admin, f"regress_{way}")) for way in ("before", "after")}
        load_s = {"before": load(dsns["before"], generated, tree), "after": load(dsns["after"], generated, None)}
        for dsn in dsns.values():
            asyncio.run(_analyze(dsn))
        servers = {"before": Server(dsns["before"], 1, {"PYTHONPATH": str(tree)}, cwd=tree),
                   "after": Server(dsns["after"], 1)}
        try:
            queries = [q for q in mix(asyncio.run(draw(dsns["after"], random.Random(args.seed))))
                       if q.kind != "write"]
            rows = []
            with httpx.Client(timeout=120) as client:
                for q in queries:
                    lat = {"before": [], "after": []}
                    for i in range(args.requests):
                        req = q.requests[i % len(q.requests)]
                        for way in (("before", "after") if i % 2 == 0 else ("after", "before")):
                            lat[way].append(_send(client, servers[way].base(TENANT), req))
                    row = {"query": q.name, **{way: summary(v, sum(v)) for way, v in lat.items()}}
                    row["ratio_p95"] = round(row["after"]["p95_ms"] / row["before"]["p95_ms"], 2)
                    rows.append(row)
                    print(row, flush=True)
        finally:
            for s in servers.values():
                s.stop()
    finally:
        cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "before": args.before, "after": _head(), "requests": args.requests,
              "load_s": {k: round(v, 1) for k, v in load_s.items()}, "rows": rows}
    md = _markdown(report)
    print(md)
    if not args.scratch:
        (RESULTS / "regression.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / "regression.md").write_text(md)


def _head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def _markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Run {r['date']} on {m['cores']} cores ({m['cpu']}), Python {m['python']}: {r['patients']} "
             "generated "
             f"patients loaded twice into one PostgreSQL, by {r['before']} and by {r['after']} (load "
             f"{r['load_s']['before']} s and {r['load_s']['after']} s); one server each, one worker; one client "
             f"sends each request to both, alternating which goes first, {r['requests']} requests per query "
             "and server.",
             "", "| query | before median ms | before p95 ms | after median ms | after p95 ms | p95 after/before |",
             "|---|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['query']} | {x['before']['median_ms']} | {x['before']['p95_ms']} | "
                     f"{x['after']['median_ms']} | {x['after']['p95_ms']} | {x['ratio_p95']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", default="d24e451")
    parser.add_argument("--scratch", action="store_true")
    main(parser.parse_args())
