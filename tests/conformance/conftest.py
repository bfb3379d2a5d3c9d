"""Our server as any client sees it: a separate `fhirserver serve` process on a free port,
serving the test session's PostgreSQL over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def our_server(dsn, tmp_path_factory) -> str:
    """The FHIR base of the `default` tenant of a freshly started server process."""
    port, root = _free_port(), tmp_path_factory.mktemp("conformance-server")
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fhirserver", "serve", "--port", str(port),
                                 "--data-dir", str(root / "data")],
                                env={**os.environ, "DATABASE_URL": dsn}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start: " + log_path.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/default"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
