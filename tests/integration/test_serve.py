"""The README's first command, end to end: `fhirserver serve` as a real process.

Data survives a stop and a start of the server (embedded PostgreSQL in --data-dir),
the embedded PostgreSQL stops with the server, and DATABASE_URL switches to another
PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from fhirserver.db.embedded import EmbeddedPostgres
from tests import samples


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, data_dir: Path, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "fhirserver", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read().decode()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start in time")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def test_data_survives_a_restart_and_postgres_stops_with_the_server(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}/default"
    proc = _start(port, tmp_path)
    try:
        assert httpx.get(f"{base}/metadata").json()["fhirVersion"] == "4.0.1"
        created = httpx.post(f"{base}/Patient", content=orjson.dumps(samples.patient(family="Durable")),
                             headers={"Content-Type": "application/fhir+json"})
        assert created.status_code == 201
    finally:
        _stop(proc)
    assert not EmbeddedPostgres(tmp_path / "pg").is_running()
    proc = _start(port, tmp_path)
    try:
        again = httpx.get(f"{base}/Patient/{created.json()['id']}")
        assert again.status_code == 200 and again.content == created.content
    finally:
        _stop(proc)


@pytest.mark.asyncio
async def test_database_url_selects_another_postgres(tmp_path, dsn, owner):
    port = _free_port()
    proc = _start(port, tmp_path, {"DATABASE_URL": dsn})
    try:
        created = httpx.post(f"http://127.0.0.1:{port}/default/Organization",
                             content=orjson.dumps(samples.organization(name="Via DATABASE_URL")),
                             headers={"Content-Type": "application/fhir+json"})
        assert created.status_code == 201
    finally:
        _stop(proc)
    assert await owner.fetchval("SELECT count(*) FROM organizations WHERE id = $1", created.json()["id"]) == 1
    assert not (tmp_path / "pg").exists()


def test_a_second_server_on_the_same_data_directory_refuses_and_touches_nothing(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}/default"
    first = _start(port, tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "fhirserver", "serve", "--port", str(_free_port()),
                                 "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"pid {first.pid}" in second.stderr and "another fhirserver" in second.stderr, second.stderr
        assert httpx.get(f"{base}/metadata").status_code == 200   # the first one's database still runs
        assert EmbeddedPostgres(tmp_path / "pg").is_running()
    finally:
        _stop(first)
    proc = _start(port, tmp_path)   # the lock went with the first server
    _stop(proc)
