"""The one place that picks a database connection.

Every caller names its `Route`. PRIMARY: writes, and reads that must see the newest
data (a patch reads the version it will replace there). READ: plain reads and
searches, served by a healthy replica (least busy first) when replicas are configured.

Read-your-writes: a write answers with the WAL position just past its commit (the
consistency token, `lsn`); a read that presents it is served by a replica only once
that replica has replayed up to it (`pg_last_wal_replay_lsn()`), waiting at most
`token_wait_s`, else by the primary. The seed's round-robin over replicas has no such
guarantee: a client could create a resource and get 404 reading it back.

Replica health lives in db/replicas.py; this module only chooses.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import AsyncIterator

import asyncpg

from fhirserver.db.connection import TenantConnection

RELEASE_TIMEOUT_S = 5.0   # resetting a returned connection (a ROLLBACK at most) takes no longer
# A replica's connection failing this way takes it out of rotation at once.
CONNECTION_ERRORS = (asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.ConnectionDoesNotExistError,
                     asyncpg.exceptions.ConnectionFailureError, asyncpg.exceptions.InterfaceError,
                     asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.TooManyConnectionsError,
                     ConnectionError, OSError, asyncio.TimeoutError)
# A standby cancels a query whose rows its replay must remove ("conflict with recovery",
# SQLSTATE 40001/40P01): the replica is fine, the read runs again on the primary.
RECOVERY_CONFLICTS = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)


class Route(Enum):
    PRIMARY = "primary"
    READ = "read"


def parse_lsn(text: str) -> int:
    """'16/B374D848' -> an integer WAL position; ValueError for anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep or not (0 < len(high) <= 8 and 0 < len(low) <= 8):
        raise ValueError(text)
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


class PoolExhausted(Exception):
    """Every connection stayed in use for the whole wait: the server is overloaded (503)."""


class ServerDown(ConnectionError):
    """The server failed to connect a moment ago and its back-off has not run out: answered
    at once (503), without one more connection attempt."""


BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


async def give_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Return a connection to its pool whatever state it is in. One that cannot be reset
    (its server died mid-statement, or the client lost track of the protocol) is terminated,
    and the pool opens a fresh one later: a connection never stays checked out, which would
    make the pool's close wait forever."""
    try:
        await pool.release(conn, timeout=RELEASE_TIMEOUT_S)
    except BaseException as exc:
        conn.terminate()
        try:
            await pool.release(conn)   # a terminated connection is simply dropped
        except Exception:
            pass
        if not isinstance(exc, Exception):
            raise   # cancellation and exits go on


@dataclass(eq=False)
class Server:
    name: str                   # "primary", "replica-1", ...
    pool: asyncpg.Pool
    replica: bool
    healthy: bool = True
    replay_lsn: int = 0         # replicas: newest replayed WAL position seen
    lag_s: float = 0.0          # replicas: how far behind the primary, in time (db/replicas.py)
    busy: int = 0               # connections handed out now
    served: int = 0             # connections handed out so far (metrics, routing tests)
    wait_s: float | None = None  # how long to wait for a free connection before PoolExhausted
    # Back-off after a failure to reach the server: until `down_until` no request tries to
    # connect, then one request at a time does (`probing`); each failed attempt doubles the
    # wait up to BACKOFF_MAX_S. A database coming back (crash recovery, a failover) is not
    # met by a connection attempt from every request of every worker.
    backoff_s: float = 0.0
    down_until: float = 0.0
    probing: bool = False

    def failed(self) -> None:
        """A connection to this server failed: wait before the next attempt."""
        self.backoff_s = min(max(self.backoff_s * 2, BACKOFF_FIRST_S), BACKOFF_MAX_S)
        self.down_until = time.monotonic() + self.backoff_s

    @property
    def backing_off(self) -> bool:
        return self.backoff_s > 0

    async def acquire(self) -> asyncpg.Connection:
        """A pooled connection, counted for the least-busy choice; hand it back with `release`."""
        self.busy += 1
        self.served += 1
        try:
            return await self._acquire()
        except BaseException:
            self.busy -= 1
            raise

    async def _acquire(self) -> asyncpg.Connection:
        if not self.backoff_s:
            return await self._pooled()
        if self.probing or time.monotonic() < self.down_until:
            raise ServerDown(f"{self.name} was unreachable {self.backoff_s:g} s ago; not trying again yet")
        self.probing = True   # this request finds out; the others keep getting ServerDown meanwhile
        try:
            conn = await self._pooled()
        finally:
            self.probing = False
        self.backoff_s = 0.0
        return conn

    async def _pooled(self) -> asyncpg.Connection:
        try:
            return await self.pool.acquire(timeout=self.wait_s)
        except asyncio.TimeoutError:
            raise PoolExhausted(f"no free connection to {self.name} within {self.wait_s:g} s") from None
        except CONNECTION_ERRORS:
            self.failed()
            raise

    async def release(self, conn: asyncpg.Connection) -> None:
        try:
            await give_back(self.pool, conn)
        finally:
            self.busy -= 1

    @asynccontextmanager
    async def connection(self, first: str | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, counted for the least-busy choice. With `first`, that statement
        runs at once, and a connection found dead by it (the server restarted since the pool
        opened it) is replaced once: nothing ran on it, so nothing can run twice."""
        self.busy += 1
        self.served += 1
        try:
            conn = await self._acquire()
            if first is not None:
                try:
                    await conn.execute(first)
                except CONNECTION_ERRORS:
                    await give_back(self.pool, conn)
                    await self.pool.expire_connections()
                    conn = await self._acquire()
                    try:
                        await conn.execute(first)
                    except BaseException:
                        await give_back(self.pool, conn)
                        raise
                except BaseException:
                    await give_back(self.pool, conn)
                    raise
            try:
                yield conn
            finally:
                await give_back(self.pool, conn)
        finally:
            self.busy -= 1


@dataclass(eq=False)
class Database:
    primary: Server
    replicas: list[Server] = field(default_factory=list)
    # Tenant settings may live at session level for reads (db/tenancy.py); False behind a
    # transaction-mode pooler, where session state would leak between clients.
    session_settings: bool = True
    token_wait_s: float = 0.25      # how long a read with a token waits for a replica
    max_lag_s: float = 10.0         # a replica further behind leaves the rotation

    def readable(self) -> list[Server]:
        return [r for r in self.replicas if r.healthy]

    def choose(self, route: Route, min_lsn: int | None = None) -> Server:
        """Without waiting: the least busy replica known to have replayed `min_lsn`, else the primary."""
        if route is Route.PRIMARY or not self.replicas:
            return self.primary
        ready = [r for r in self.readable() if min_lsn is None or r.replay_lsn >= min_lsn]
        return min(ready, key=lambda r: r.busy) if ready else self.primary

    async def reader(self, route: Route, min_lsn: int | None = None) -> Server:
        """The server for a read: a replica that has replayed `min_lsn` (waiting a bounded
        time for the least busy healthy one to get there), else the primary."""
        server = self.choose(route, min_lsn)
        if server is not self.primary or route is Route.PRIMARY or min_lsn is None:
            return server
        candidates = self.readable()
        if not candidates:
            return self.primary
        candidate = min(candidates, key=lambda r: r.busy)
        deadline = time.monotonic() + self.token_wait_s
        delay = 0.001
        while True:
            try:
                async with candidate.connection() as conn:
                    replayed = await conn.fetchval("SELECT pg_last_wal_replay_lsn()::text")
            except CONNECTION_ERRORS:
                await self.lost(candidate)
                return self.primary
            if replayed is not None:
                candidate.replay_lsn = max(candidate.replay_lsn, parse_lsn(replayed))
            if candidate.replay_lsn >= min_lsn:
                return candidate
            if time.monotonic() + delay > deadline:
                return self.primary
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)

    async def lost(self, server: Server, exc: BaseException | None = None) -> None:
        """A connection to `server` failed: out of rotation (replicas) and drop its idle
        connections, so the next use reconnects instead of failing on a dead socket. A
        statement's connection dying starts the back-off too; one refused by the back-off
        itself (ServerDown) does not extend it."""
        if server.replica:
            server.healthy = False
        if not isinstance(exc, ServerDown):
            if exc is not None and not server.backing_off:
                server.failed()
            await server.pool.expire_connections()

    async def close(self, timeout: float = 10.0) -> None:
        """Close every pool, waiting at most `timeout` seconds for connections still in use;
        then terminate them, so that shutting down always ends."""
        await asyncio.gather(*(_close(s.pool, timeout) for s in (self.primary, *self.replicas)))


async def _close(pool: asyncpg.Pool, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await pool.close()
    except TimeoutError:
        pool.terminate()


async def _release(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (RESET ALL, UNLISTEN, ...: a round trip per request).
    Our transactions keep no session state: SET LOCAL only, transaction-level advisory locks."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _pool(dsn: str, *, min_size: int, max_size: int, pooler: bool,
                statement_timeout_s: float | None = None) -> asyncpg.Pool:
    settings = {"application_name": "fhirserver"}
    if not pooler:   # PgBouncer rejects unknown startup parameters
        settings["jit"] = "off"
        if statement_timeout_s:   # one pathological search cannot hold a connection for minutes
            settings["statement_timeout"] = str(int(statement_timeout_s * 1000))
        # A prepared search's generic plan cannot prune month partitions while planning, and
        # building one (on the 6th execution) plans every month: custom plans prune at plan
        # time. searchparams/plan.py opts into generic plans where they pay.
        settings["plan_cache_mode"] = "force_custom_plan"
    # Behind PgBouncer in transaction mode, named prepared statements would meet other
    # clients' server connections; asyncpg then uses unnamed statements only.
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_release,
                                     connection_class=TenantConnection, server_settings=settings,
                                     statement_cache_size=0 if pooler else 1024)


async def open_database(dsn: str, replica_dsns: tuple[str, ...] = (), *, min_size: int = 2,
                        max_size: int = 20, pooler: bool = False, token_wait_s: float = 0.25,
                        max_lag_s: float = 10.0, pool_wait_s: float | None = None,
                        statement_timeout_s: float | None = None) -> Database:
    limits = {"pooler": pooler, "statement_timeout_s": statement_timeout_s}
    primary = Server("primary", await _pool(dsn, min_size=min_size, max_size=max_size, **limits),
                     replica=False, wait_s=pool_wait_s)
    replicas = []
    for n, replica_dsn in enumerate(replica_dsns, 1):
        # min_size=0: a replica that is down at start must not stop the server starting;
        # the health monitor finds out and connects.
        pool = await _pool(replica_dsn, min_size=0, max_size=max_size, **limits)
        replicas.append(Server(f"replica-{n}", pool, replica=True, healthy=False, wait_s=pool_wait_s))
    return Database(primary, replicas, session_settings=not pooler, token_wait_s=token_wait_s,
                    max_lag_s=max_lag_s)
