"""A server on DATABASE_URL (a database someone else runs): it waits for the database at start,
answers 503 at once while it is away without a connection attempt per request (back-off), and
serves again by itself when it is back; every acknowledged write is still there.

The database is reached through a TCP relay the test controls: "down" closes every connection
at once (as a database restarting does), and the relay counts the attempts made meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import orjson
import pytest

from fhirserver.bootstrap import ensure_database
from tests import samples
from tests.integration.test_serve import _free_port, _start, _stop


class Relay:
    """127.0.0.1:port -> the cluster's unix socket, in a thread of its own."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path, self.port = socket_path, _free_port()
        self.up, self.refused = True, 0
        self.conns: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        self.conns |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def set_up(self, up: bool) -> None:
        def switch() -> None:
            self.up = up
            if not up:   # every open connection dies, as when the database restarts
                for w in self.conns:
                    w.close()
                self.conns.clear()
        self.loop.call_soon_threadsafe(switch)
        time.sleep(0.1)


@pytest.fixture
def relayed(pg_cluster):
    server_dsn = pg_cluster.dsn()
    target = asyncio.run(ensure_database(server_dsn, "fhirurl"))
    relay = Relay(f"{pg_cluster.socket_dir}/.s.PGSQL.{pg_cluster.port}")
    yield relay, target.split("?")[0].replace("postgresql://postgres@/", f"postgresql://postgres@127.0.0.1:{relay.port}/")


def _post(base: str, family: str) -> httpx.Response:
    return httpx.post(f"{base}/Patient", content=orjson.dumps(samples.patient(family=family)),
                      headers={"Content-Type": "application/fhir+json"}, timeout=10)


def test_the_server_backs_off_while_its_database_is_away_and_serves_again_by_itself(relayed, tmp_path):
    relay, dsn = relayed
    port = _free_port()
    base = f"http://127.0.0.1:{port}/default"
    # Audit fail-open: requests reach the database (otherwise the unwritable audit trail
    # answers them first, and the back-off under test would not be asked).
    proc = _start(port, tmp_path, {"DATABASE_URL": dsn, "FHIR_AUDIT_FAIL_OPEN": "true"})
    try:
        written = [_post(base, f"Away{n}") for n in range(3)]
        assert all(r.status_code == 201 for r in written)

        relay.set_up(False)
        statuses, started = [], time.monotonic()
        while time.monotonic() - started < 3:
            r = httpx.get(f"{base}/Patient/{written[0].json()['id']}", timeout=10)
            statuses.append(r.status_code)
            assert r.status_code == 503, r.text   # unavailable, never a wrong answer
            assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "DB-UNAVAILABLE"
        # Hundreds of requests in 3 s; with a back-off of 0.05 s doubling to 2 s, at most a
        # few dozen connection attempts reach the relay (without it, about one per request). The audit
        # writer retries on a back-off of its own.
        assert len(statuses) > 50 and relay.refused <= 30, (len(statuses), relay.refused)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503

        relay.set_up(True)
        deadline = time.monotonic() + 10
        while (r := httpx.get(f"{base}/Patient/{written[0].json()['id']}", timeout=10)).status_code != 200:
            assert r.status_code == 503 and time.monotonic() < deadline, r.text
            time.sleep(0.1)
        for before in written:
            after = httpx.get(f"{base}/Patient/{before.json()['id']}")
            assert after.status_code == 200 and after.json() == before.json()
        assert _post(base, "Back").status_code == 201
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        _stop(proc)


def test_serve_waits_for_a_database_that_comes_up_after_it(relayed, tmp_path):
    relay, dsn = relayed
    relay.set_up(False)
    threading.Timer(3.0, relay.set_up, args=(True,)).start()
    port = _free_port()
    started = time.monotonic()
    proc = _start(port, tmp_path, {"DATABASE_URL": dsn, "FHIR_DB_WAIT_S": "30"})
    try:
        assert time.monotonic() - started >= 2.5 and relay.refused >= 2
        assert _post(f"http://127.0.0.1:{port}/default", "Late").status_code == 201
    finally:
        _stop(proc)
    assert "database not reachable yet" in proc.stdout.read().decode()


def test_serve_gives_up_when_the_database_never_comes(relayed, tmp_path):
    relay, dsn = relayed
    relay.set_up(False)
    port = _free_port()
    with pytest.raises(AssertionError, match="server exited"):
        _start(port, tmp_path, {"DATABASE_URL": dsn, "FHIR_DB_WAIT_S": "1"})
