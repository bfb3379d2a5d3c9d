"""The server process itself stopped while writers run: SIGTERM drains and exits, kill -9
loses nothing acknowledged, and the next start serves every acknowledged write (a
transaction Bundle whole or not at all)."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import orjson

from tests import samples
from tests.integration.test_serve import _free_port, _start

HEADERS = {"Content-Type": "application/fhir+json"}


def _writers(base: str, stop: threading.Event, acknowledged: list, bundles: list) -> list[threading.Thread]:
    """Four clients: three creating patients, one posting 50-entry transactions, until `stop`."""
    def creates(n: int) -> None:
        with httpx.Client(timeout=10) as c:
            i = 0
            while not stop.is_set():
                try:
                    r = c.post(f"{base}/Patient", content=orjson.dumps(samples.patient(family=f"Sig{n}x{i}")),
                               headers=HEADERS)
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json())
                i += 1

    def transactions() -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                post = {"method": "POST", "url": "Patient"}
                entries = [{"resource": samples.patient(family="SigTx"), "request": post} for _ in range(50)]
                try:
                    r = c.post(base, content=orjson.dumps({"resourceType": "Bundle", "type": "transaction",
                                                          "entry": entries}), headers=HEADERS)
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    bundles.append([e["response"]["location"].split("/")[-3] for e in r.json()["entry"]])
    threads = [threading.Thread(target=creates, args=(n,)) for n in range(3)] + [threading.Thread(target=transactions)]
    for t in threads:
        t.start()
    return threads


def _check(base: str, acknowledged: list, bundles: list) -> None:
    with httpx.Client(timeout=10) as c:
        for made in acknowledged:
            r = c.get(f"{base}/Patient/{made['id']}")
            assert r.status_code == 200 and r.json() == made
        for ids in bundles:
            assert len(ids) == 50 and all(c.get(f"{base}/Patient/{i}").status_code == 200 for i in ids)
        count = c.get(f"{base}/Patient", params={"family": "SigTx", "_summary": "count"}).json()["total"]
        assert count % 50 == 0 and count >= 50 * len(bundles)   # all or nothing: never part of a transaction


def _run_and_stop(tmp_path, how: int) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/default"
    proc = _start(port, tmp_path)
    stop, acknowledged, bundles = threading.Event(), [], []
    threads = _writers(base, stop, acknowledged, bundles)
    time.sleep(3)
    os.kill(proc.pid, how)
    stopped = time.monotonic()
    proc.wait(timeout=60)
    if how == signal.SIGTERM:
        assert time.monotonic() - stopped < 30 and proc.returncode == 0
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert acknowledged and bundles
    proc = _start(port, tmp_path)   # kill -9 left PostgreSQL running: the new server finds and uses it
    try:
        _check(base, acknowledged, bundles)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_sigterm_during_writes_drains_and_loses_nothing(tmp_path):
    _run_and_stop(tmp_path, signal.SIGTERM)


def test_kill_9_of_the_server_during_writes_loses_nothing_acknowledged(tmp_path):
    _run_and_stop(tmp_path, signal.SIGKILL)
