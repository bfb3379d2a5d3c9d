"""kill -9 of the embedded PostgreSQL under a running server: the server starts it again by
itself, answers 503 (never a wrong answer) meanwhile, and every acknowledged write is there
afterwards with its acknowledged version."""

from __future__ import annotations

import os
import signal
import time

import httpx
import orjson

from tests import samples
from tests.integration.test_serve import _free_port, _start, _stop


def test_the_server_restarts_its_killed_database_and_loses_no_acknowledged_write(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}/default"
    proc = _start(port, tmp_path)
    try:
        written = []
        for n in range(5):
            r = httpx.post(f"{base}/Patient", content=orjson.dumps(samples.patient(family=f"Kill{n}")),
                           headers={"Content-Type": "application/fhir+json"})
            assert r.status_code == 201, r.text
            written.append(r.json())
        updated = httpx.put(f"{base}/Patient/{written[0]['id']}", content=orjson.dumps({**written[0], "active": True}),
                            headers={"Content-Type": "application/fhir+json"})
        assert updated.status_code == 200
        written[0] = updated.json()

        postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(postmaster, signal.SIGKILL)

        statuses, deadline = [], time.monotonic() + 90
        while True:
            r = httpx.get(f"{base}/Patient/{written[1]['id']}", timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text   # unavailable, never a wrong answer
            assert time.monotonic() < deadline, f"not back after 90 s: {statuses[-5:]}"
            time.sleep(0.5)
        for before in written:
            after = httpx.get(f"{base}/Patient/{before['id']}")
            assert after.status_code == 200 and after.json() == before
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        deadline = time.monotonic() + 10   # the workers sample it once a second
        while "fhir_db_restarts 1.0" not in (metrics := httpx.get(f"http://127.0.0.1:{port}/metrics").text):
            assert time.monotonic() < deadline, [x for x in metrics.splitlines() if "restarts" in x]
            time.sleep(0.2)
        again = httpx.post(f"{base}/Patient", content=orjson.dumps(samples.patient(family="After")),
                           headers={"Content-Type": "application/fhir+json"})
        assert again.status_code == 201
        new_postmaster = int((tmp_path / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])
        assert new_postmaster != postmaster
    finally:
        _stop(proc)
    out = proc.stdout.read().decode()
    assert "starting it again" in out and "running again" in out, out[-2000:]
