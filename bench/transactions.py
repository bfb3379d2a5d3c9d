"""Transaction throughput: k6 posting Blaze's transaction workload (1 Patient + 1 Observation
linked by urn:uuid) at 1, 8 and 32 virtual users against `fhirserver serve`.

Run: .venv/bin/python bench/transactions.py [--duration 10] [--workers 2]
Writes bench/results/transactions.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, machine, run_k6  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402


async def database(data: Path) -> tuple[str, EmbeddedPostgres]:
    shutil.rmtree(data, ignore_errors=True)
    cluster = EmbeddedPostgres(data / "pg", port=54403)
    dsn = await ensure_database(cluster.start(), "fhirtx")
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await create_tenant(conn, "default")
    await conn.close()
    return dsn, cluster


def main(args) -> None:
    dsn, cluster = asyncio.run(database(Path(args.data_dir)))
    server = Server(dsn, args.workers)
    rows = []
    try:
        work = Path(tempfile.mkdtemp())
        for vus in (1, 8, 32):
            r = run_k6(ROOT / "bench" / "k6_transaction.js",
                       {"BASE": server.base(), "VUS": str(vus), "DURATION": f"{args.duration}s"}, work)
            rows.append((vus, r))
            print(vus, r, flush=True)
    finally:
        server.stop()
        cluster.stop()
    m = machine()
    md = [f"Run {datetime.now(timezone.utc).isoformat(timespec='seconds')} on {m['cores']} cores, "
          f"{args.workers} server workers, {args.duration} s per cell.", "",
          "| virtual users | tx/s | median ms | p95 ms | failed |", "|---:|---:|---:|---:|---:|"]
    md += [f"| {vus} | {r['req_per_s']} | {r['median_ms']} | {r['p95_ms']} | {r['failed']} |" for vus, r in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transactions.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-tx"))
    main(parser.parse_args())
