"""Keeps the embedded PostgreSQL that `serve` started running. When it dies (killed, out of
memory, a crash), the supervisor starts it again: PostgreSQL replays its WAL on start, so
every committed write is there, and the workers' pools drop their dead connections on the
first failure and reconnect (fhirserver/db/pools.py `Database.lost`). Meanwhile requests are
answered 503 DB-UNAVAILABLE and /readyz says not ready. With DATABASE_URL the database is
someone else's to run; the pools reconnect when it is back."""

from __future__ import annotations

import sys
import threading

from fhirserver.db.embedded import EmbeddedPostgres

RESTARTS_FILE = "postgres-restarts"   # in the data directory


class Supervisor:
    def __init__(self, cluster: EmbeddedPostgres, interval_s: float = 1.0) -> None:
        self.cluster, self.interval_s = cluster, interval_s
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="postgres-supervisor", daemon=True)

    @property
    def count_file(self):
        """Where the restarts are counted for the workers' /metrics (they are other processes)."""
        return self.cluster.pgdata.parent / RESTARTS_FILE

    def start(self) -> None:
        self.count_file.write_text("0")
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before stopping the cluster on purpose)."""
        self._stopping.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        while not self._stopping.wait(self.interval_s):
            if self.cluster.is_running():
                continue
            _say("embedded PostgreSQL is not running: starting it again (it recovers from its WAL)")
            try:
                self.cluster.start()
            except Exception as exc:   # e.g. old backends still hold its shared memory: next round
                _say(f"embedded PostgreSQL did not start yet: {str(exc).strip()[:300]}")
                continue
            self.restarts += 1
            self.count_file.write_text(str(self.restarts))
            _say(f"embedded PostgreSQL is running again (restart {self.restarts})")


def _say(text: str) -> None:
    print(f"fhirserver: {text}", file=sys.stderr, flush=True)
