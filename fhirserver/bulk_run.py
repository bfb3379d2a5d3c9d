"""`fhirserver load`: files spread over worker processes, one progress bar, one reject file.

Large ndjson files are cut into chunks at line starts, so one big file (a tenant's
Observations) keeps every worker busy. Each worker process validates, indexes and COPYs
its share of the chunks over its own connection (Python work is the cost; PostgreSQL
keeps up). Progress is counted in shared memory. A directory whose subdirectories are
tenant slugs (what `./run generate` writes) loads each subdirectory into that
tenant, creating it if needed.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from pathlib import Path

import asyncpg
from tqdm import tqdm

from fhirserver.bulk import Checkpoints, Stats, Writer, chunks, files, load_lines, read_lines
from fhirserver.db.partitions import PartitionCache
from fhirserver.settings import Settings
from fhirserver.tenants import SLUG, create_tenant


def plan(paths: list[str], tenant: str | None) -> list[tuple[str, str]]:
    """(tenant slug, file) pairs."""
    out = []
    for p in paths:
        folder = Path(p)
        subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and SLUG.fullmatch(d.name)) \
            if p != "-" and folder.is_dir() and tenant is None else []
        if subdirs:
            out += [(d.name, f) for d in subdirs for f in files([str(d)])]
        else:
            out += [(tenant or "default", f) for f in files([p])]
    return out


Item = tuple[str, str, int, int | None]   # tenant slug, file, chunk start, chunk end


def _chunked(items: list[tuple[str, str]], chunk_bytes: int | None) -> list[Item]:
    return [(tenant, f, start, end) for tenant, f in items for start, end in chunks(f, chunk_bytes)]


async def _worker(dsn: str, items: list[Item], rejects: Path, state: Path, counter) -> Stats:
    conn = await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    settings = Settings.from_env()
    partitions = PartitionCache(earliest_year=settings.clinical_earliest_year,
                                years_ahead=settings.clinical_years_ahead)
    checkpoints, stats = Checkpoints(state), Stats()

    def progress(n: int) -> None:
        with counter.get_lock():
            counter.value += n
    try:
        with open(rejects, "ab") as out:
            for tenant, path, start, end in items:
                org = await conn.fetchval("SELECT org_id FROM tenants WHERE slug = $1", tenant)
                writer = Writer(conn, org, partitions, pool)
                lines = read_lines(path, checkpoints.get(path, tenant, start), end)
                stats.add(await load_lines(writer, lines, "", out, progress,
                                           lambda src, off, t=tenant, c=start: checkpoints.set(src, t, off, c)))
    finally:
        await pool.close()
        await conn.close()
    return stats


_counter = None


def _init(counter) -> None:
    global _counter   # shared memory reaches pool processes only through their initializer
    _counter = counter


def _work(args) -> tuple[int, int, int]:
    dsn, items, rejects, state = args
    s = asyncio.run(_worker(dsn, items, rejects, state, _counter))
    return s.loaded, s.present, s.rejected


async def _tenants(dsn: str, slugs: set[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for slug in sorted(slugs):
            await create_tenant(conn, slug)
    finally:
        await conn.close()


def run_load(dsn: str, paths: list[str], tenant: str | None, rejects: Path, workers: int, state: Path,
             chunk_bytes: int | None = None) -> Stats:
    files_ = plan(paths, tenant)
    asyncio.run(_tenants(dsn, {t for t, _ in files_}))
    rejects.unlink(missing_ok=True)
    items = _chunked(files_, chunk_bytes)
    sizes = {i: ((i[3] if i[3] is not None else Path(i[1]).stat().st_size) - i[2] if i[1] != "-" else 0)
             for i in items}
    shares: list[list[Item]] = [[] for _ in range(max(1, min(workers, len(items))))]
    loads = [0] * len(shares)
    for item in sorted(items, key=lambda i: -sizes[i]):   # biggest first, to the least loaded worker
        k = loads.index(min(loads))
        shares[k].append(item)
        loads[k] += sizes[item]
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    parts = [rejects.with_name(f"{rejects.name}.{k}") for k in range(len(shares))]
    total = Stats()
    with ctx.Pool(len(shares), initializer=_init, initargs=(counter,)) as pool, \
            tqdm(unit=" resources", unit_scale=True, desc="loading") as bar:
        jobs = [pool.apply_async(_work, ((dsn, share, part, state),)) for share, part in zip(shares, parts)]
        while not all(j.ready() for j in jobs):
            time.sleep(0.5)
            bar.update(counter.value - bar.n)
        bar.update(counter.value - bar.n)
        for j in jobs:
            total.add(Stats(*j.get()))
    with open(rejects, "wb") as out:
        for part in parts:
            if part.exists():
                out.write(part.read_bytes())
                part.unlink()
    if not total.rejected:
        rejects.unlink(missing_ok=True)
    return total
