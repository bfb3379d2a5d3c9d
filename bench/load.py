"""Bulk-load benchmark: `fhirserver load` end to end beside a raw COPY of the same rows.

1. generates N patients with the project's generator (timed: generator throughput);
2. loads them with the bulk loader into a fresh database (end to end: parsing,
   validation, indexing, COPY, with --workers processes);
3. in the same run, prepares org-1's rows untimed (in parallel) and COPYs them into a second
   tenant over --copy-connections connections, timing only the COPY: the database's ceiling
   for these rows.

Run: .venv/bin/python bench/load.py [--patients 1000] [--workers 2] [--copy-connections 1]
Writes bench/results/load.json and bench/results/load.md. With --clinical instead: the same
patients with and without the other clinical types, results/load-clinical.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, machine  # noqa: E402
from bench.generate import generate  # noqa: E402
from fhirserver.bootstrap import ensure_database  # noqa: E402
from fhirserver.bulk import Writer, chunks, files, prepare, read_lines  # noqa: E402
from fhirserver.bulk_run import run_load  # noqa: E402
from fhirserver.db.embedded import EmbeddedPostgres  # noqa: E402
from fhirserver.db.migrate import migrate  # noqa: E402
from fhirserver.db.partitions import PartitionCache  # noqa: E402
from fhirserver.db.resources import now  # noqa: E402
from fhirserver.tenants import create_tenant  # noqa: E402
from mappings import MAPPINGS  # noqa: E402


def _prepare_chunk(job: tuple[str, int, int | None, datetime]) -> list:
    """Prepared rows of one chunk, with the mapping named (mappings hold functions: no pickling)."""
    path, start, end, stamp = job
    return [replace(p, mapping=p.mapping.resource_type) for p in
            (prepare(line, "", stamp) for line in read_lines(path, start, end))]


def prepared_rows(folder: Path, workers: int) -> list:
    """Every resource under `folder` prepared as the loader would, chunks in parallel (untimed)."""
    stamp = now()
    jobs = [(f, start, end, stamp) for f in files([str(folder)]) for start, end in chunks(f, 4 << 20)]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        return [replace(p, mapping=MAPPINGS[p.mapping]) for part in pool.map(_prepare_chunk, jobs) for p in part]


async def raw_copy(dsn: str, rows_prepared: list, connections: int) -> tuple[int, float]:
    """COPY of prepared rows only (partition creation untimed too), into a tenant of its own,
    over `connections` connections taking batches of 2,000 from one queue."""
    conn = await asyncpg.connect(dsn)
    org = (await create_tenant(conn, "rawcopy")).org_id
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    partitions = PartitionCache()
    for p in rows_prepared:
        if p.part_ts is not None:
            await partitions.ensure(pool, p.mapping, org, p.part_ts)
    queue = iter([rows_prepared[i:i + 2000] for i in range(0, len(rows_prepared), 2000)])
    writers = [Writer(await asyncpg.connect(dsn), org, partitions, pool) for _ in range(connections)]

    async def drain(writer: Writer) -> int:
        return sum([(await writer.write(b)).loaded for b in queue])
    t = time.perf_counter()
    rows = sum(await asyncio.gather(*(drain(w) for w in writers)))
    spent = time.perf_counter() - t
    for w in writers:
        await w.conn.close()
    await pool.close()
    await conn.close()
    return rows, spent


async def database(data: Path, settings: dict | None = None, name: str = "fhirload") -> tuple[str, EmbeddedPostgres]:
    cluster = EmbeddedPostgres(data / "pg", port=54402, extra_settings=settings)
    dsn = await ensure_database(cluster.start(), name)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    return dsn, cluster


def main(args) -> None:
    if args.clinical:
        return clinical(args)
    data = Path(args.data_dir).resolve()
    out = data / "generated"
    shutil.rmtree(data, ignore_errors=True)
    t = time.perf_counter()
    counts = generate(out, args.patients, args.seed)
    gen_s = time.perf_counter() - t
    total = sum(counts.values())
    settings = dict(kv.split("=", 1) for kv in args.pg_setting)
    dsn, cluster = asyncio.run(database(data, settings))
    try:
        t = time.perf_counter()
        stats = run_load(dsn, [str(out)], None, data / "rejects.ndjson", args.workers, data / "state")
        load_s = time.perf_counter() - t
        rows, copy_s = asyncio.run(raw_copy(dsn, prepared_rows(out / "org-1", args.workers),
                                            args.copy_connections))
    finally:
        cluster.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "resources": total, "workers": args.workers,
              "generator_per_s": round(total / gen_s), "load_s": round(load_s, 1),
              "load_per_s": round(stats.loaded / load_s), "loaded": stats.loaded, "rejected": stats.rejected,
              "copy_connections": args.copy_connections,
              "pg_settings": settings,
              "raw_copy_rows": rows, "raw_copy_s": round(copy_s, 1), "raw_copy_per_s": round(rows / copy_s)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(report, indent=2))
    cores = report["machine"]["cores"]
    md = (f"Run {report['date']} on {cores} cores: {args.patients} patients, {total} resources.\n\n"
          "| measure | value |\n|---|---:|\n"
          f"| generator | {report['generator_per_s']} resources/s |\n"
          f"| `fhirserver load`, end to end ({args.workers} workers) | {report['load_per_s']} resources/s "
          f"({report['load_s']} s) |\n"
          f"| raw COPY of the same prepared rows (org-1, {args.copy_connections} connection(s)) | "
          f"{report['raw_copy_per_s']} resources/s |\n")
    (RESULTS / "load.md").write_text(md)
    print(md)


def clinical(args) -> None:
    """Whole records beside the seed types alone, the same patients, loaded one after the other
    into databases of their own: what the other clinical types cost the loader."""
    data = Path(args.data_dir).resolve()
    shutil.rmtree(data, ignore_errors=True)
    rows, generated = [], {}
    # Each twice, alternating: the first load of a run was slower whatever it loaded.
    for n, (label, whole) in enumerate((("seed types only", False), ("whole records", True)) * 2):
        out = data / ("generated-whole" if whole else "generated-seed")
        if whole not in generated:
            generated[whole] = sum(generate(out, args.patients, args.seed, clinical=whole).values())
        dsn, cluster = asyncio.run(database(data, None, f"fhir{'whole' if whole else 'seed'}{n}"))
        try:
            t = time.perf_counter()
            stats = run_load(dsn, [str(out)], None, data / f"rejects-{n}.ndjson", args.workers,
                             data / f"state-{n}")
            spent = time.perf_counter() - t
        finally:
            cluster.stop()
        rows.append({"data": f"{label} ({'first' if n < 2 else 'second'} load)", "resources": generated[whole],
                     "loaded": stats.loaded,
                     "rejected": stats.rejected, "load_s": round(spent, 1), "load_per_s": round(stats.loaded / spent)})
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "patients": args.patients, "workers": args.workers, "rows": rows}
    (RESULTS / "load-clinical.json").write_text(json.dumps(report, indent=2))
    md = (f"Run {report['date']} on {report['machine']['cores']} cores: {args.patients} patients, "
          f"`fhirserver load` end to end with {args.workers} workers, the same patients without and with "
          "the other clinical types (bench/generate_clinical.py), each into a fresh database, "
          "alternating, twice.\n\n"
          "| data | resources | rejected | load s | resources/s |\n|---|---:|---:|---:|---:|\n"
          + "".join(f"| {r['data']} | {r['resources']} | {r['rejected']} | {r['load_s']} | {r['load_per_s']} |\n"
                    for r in rows))
    (RESULTS / "load-clinical.md").write_text(md)
    print(md)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copy-connections", type=int, default=1,
                        help="connections for the raw COPY baseline (1 on 2 cores; about --workers on more)")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a postgresql.conf setting for the embedded server (repeatable)")
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-load"))
    parser.add_argument("--clinical", action="store_true",
                        help="whole records beside the seed types alone (results/load-clinical.md)")
    main(parser.parse_args())
