"""Replica health: which replicas may serve reads, and how far behind each one is.

Every `interval` seconds the monitor samples the primary's WAL insert position and
asks each replica what it has replayed. Lag is measured in time against the
primary's own history: a replica that has replayed everything the primary had
written `t` seconds ago is `t` behind. (`now() - pg_last_xact_replay_timestamp()`,
the usual measure, grows without bound on an idle primary and would evict healthy
replicas at night.) A replica that does not answer, is not in recovery, or is more
than `Database.max_lag_s` behind leaves the rotation; it returns when it is healthy.
While the primary is down, replicas that answer stay in rotation: reads go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from fhirserver.db.pools import CONNECTION_ERRORS, Database, Server, parse_lsn

log = logging.getLogger(__name__)
_PROBE_TIMEOUT_S = 2.0


class ReplicaMonitor:
    def __init__(self, db: Database, interval: float = 0.5) -> None:
        self.db, self.interval = db, interval
        self._history: deque[tuple[float, int]] = deque(maxlen=4096)   # (monotonic time, primary LSN)

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        await self._sample_primary()
        await asyncio.gather(*(self._probe(r) for r in self.db.replicas))

    async def _sample_primary(self) -> None:
        try:
            async with self.db.primary.connection() as conn:
                text = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text", timeout=_PROBE_TIMEOUT_S)
        except CONNECTION_ERRORS:
            self.db.primary.healthy = False
            return
        except Exception as exc:   # a monitor must outlive anything one probe does
            log.warning("primary probe failed: %s", exc)
            return
        self.db.primary.healthy = True
        lsn = parse_lsn(text)
        if not self._history or self._history[-1][1] != lsn:
            self._history.append((time.monotonic(), lsn))

    def lag_of(self, replayed: int) -> float:
        """Seconds since the primary first wrote WAL that the replica has not replayed."""
        for sampled_at, lsn in self._history:
            if lsn > replayed:
                return max(0.0, time.monotonic() - sampled_at)
        return 0.0

    async def _probe(self, replica: Server) -> None:
        try:
            async with replica.connection() as conn:
                row = await conn.fetchrow("SELECT pg_is_in_recovery() AS standby, "
                                          "pg_last_wal_replay_lsn()::text AS replayed", timeout=_PROBE_TIMEOUT_S)
        except CONNECTION_ERRORS as exc:
            if replica.healthy:
                log.warning("%s out of rotation: %s", replica.name, exc)
            await self.db.lost(replica)
            return
        except Exception as exc:
            log.warning("%s probe failed: %s", replica.name, exc)
            return
        if not row["standby"] or row["replayed"] is None:
            # Promoted, or not a streaming standby: its data may have forked from the primary's.
            self._set(replica, False, f"{replica.name} is not a standby in recovery")
            return
        replica.replay_lsn = max(replica.replay_lsn, parse_lsn(row["replayed"]))
        replica.lag_s = self.lag_of(replica.replay_lsn) if self.db.primary.healthy else replica.lag_s
        lagging = self.db.primary.healthy and replica.lag_s > self.db.max_lag_s
        self._set(replica, not lagging, f"{replica.name} is {replica.lag_s:.1f} s behind")

    @staticmethod
    def _set(replica: Server, healthy: bool, why: str) -> None:
        if replica.healthy != healthy:
            log.warning("%s %s: %s", replica.name, "back in rotation" if healthy else "out of rotation", why)
        replica.healthy = healthy
