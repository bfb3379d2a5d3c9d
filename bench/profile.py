"""Where a request's time goes: py-spy samples the server workers while k6 drives one query.

Uses a dataset bench/standard.py has loaded (bench/.data-std/<size>), starts `fhirserver
serve` in production mode, runs k6 with the given request list, and records the workers
with `py-spy record --subprocesses` (sampling, no instrumentation: the figures are the
production code's). Prints and writes the functions with the most samples, by own time
(the frame on top of the stack) and by inclusive time (on the stack at all).

Run: .venv/bin/python bench/profile.py --size 10000 --query read [--vus 32] [--seconds 10]
Writes bench/results/profile-<query>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Server, run_k6  # noqa: E402
from bench.standard import TENANT, dataset, draw, mix  # noqa: E402

QUERIES = {"read": "Q1 ", "search": "Q9 ", "name": "Q10 ", "schedule": "Q12 "}


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/module.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarize(raw: Path, top: int = 30) -> tuple[int, list, list]:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")[1:]]   # the first frame names the process
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return total, own.most_common(top), inclusive.most_common(top)


def _group(proc) -> str:
    name = proc.info["name"] or ""
    cmd = " ".join(proc.info["cmdline"] or ())
    if name.startswith("postgres") or "postgres:" in cmd:
        return "PostgreSQL"
    if name == "k6":
        return "k6"
    if "py-spy" in name:
        return "py-spy"
    if "fhirserver" in cmd or "multiprocessing" in cmd or "uvicorn" in cmd:
        return "server workers"
    return "other"


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every process, with its group."""
    out = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        t = proc.info["cpu_times"]
        if t is not None:
            out[proc.pid] = (_group(proc), t.user + t.system)
    return out


def cpu_shares(before: dict, after: dict, wall_s: float) -> dict[str, float]:
    """Each group's share of the machine (all cores) between two snapshots."""
    used: collections.Counter = collections.Counter()
    for pid, (group, t) in after.items():
        used[group] += t - before.get(pid, (group, 0.0))[1]
    capacity = wall_s * (os.cpu_count() or 1)
    return {g: used[g] / capacity for g in sorted(used, key=lambda g: -used[g])}


def main(args) -> None:
    cluster, dsn, _ = dataset(args.size, 1, Path(args.data_dir), 2)
    work = Path(tempfile.mkdtemp())
    try:
        query = next(q for q in mix(asyncio.run(draw(dsn, random.Random(1))))
                     if q.name.startswith(QUERIES[args.query]))
        server = Server(dsn, args.workers)
        try:
            requests = [{**r, "url": f"{server.base(TENANT)}/{r['url']}"} for r in query.requests]
            (work / "requests.json").write_text(json.dumps(requests))
            raw = work / "profile.txt"
            spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.proc.pid),
                   "--subprocesses", "--duration", str(args.seconds), "--rate", "250", "--format", "raw",
                   "--nonblocking", "-o", str(raw)]
            recorder = threading.Thread(target=subprocess.run, args=(spy,),
                                        kwargs={"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL})
            recorder.start()
            before, started = cpu_seconds(), time.monotonic()
            seen, done = dict(before), threading.Event()

            def watch() -> None:   # processes that end (k6) keep their last reading
                while not done.wait(0.5):
                    seen.update(cpu_seconds())
            watcher = threading.Thread(target=watch)
            watcher.start()
            result = run_k6(ROOT / "bench" / "k6_requests.js",
                            {"REQUESTS_FILE": str(work / "requests.json"), "VUS": str(args.vus),
                             "DURATION": f"{args.seconds + 2}s"}, work)
            done.set()
            watcher.join()
            seen.update(cpu_seconds())
            shares = cpu_shares(before, seen, time.monotonic() - started)
            recorder.join()
        finally:
            server.stop()
    finally:
        cluster.stop()
    total, own, inclusive = summarize(raw)
    lines = [f"# Profile: {query.name}, {args.vus} VUs, {args.size:,} patients", "",
             f"k6: {result['http_req_per_s']} req/s, median {result['median_ms']} ms, p95 {result['p95_ms']} ms; "
             f"py-spy: {total:,} samples over {args.workers} workers ({args.seconds} s at 250 Hz, idle "
             "samples excluded).", "",
             "Machine CPU during the k6 run (all cores = 100 %): "
             + ", ".join(f"{g} {v:.0%}" for g, v in shares.items() if v >= 0.005) + ".",
             "", "## Own time (top of stack)", "", "| share | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in own]
    lines += ["", "## Inclusive time (anywhere on the stack)", "", "| share | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in inclusive]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{args.query}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--query", choices=sorted(QUERIES), default="read")
    parser.add_argument("--vus", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".data-std"))
    main(parser.parse_args())
