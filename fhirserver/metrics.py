"""Prometheus metrics (`GET /metrics`) and readiness (`GET /readyz`).

Request latency is observed per interaction, resource type and status class as each
request ends. Pool usage, replica health and lag, and cache counts are state, sampled
from the Database and the cache once a second (`sample_forever`), so no hot path
touches a metric twice. With several worker processes (`fhirserver serve --workers`)
prometheus-client's multiprocess mode adds up the workers (PROMETHEUS_MULTIPROC_DIR,
set by `serve`).
"""

from __future__ import annotations

import asyncio
import os

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector

from fhirserver.db.pools import CONNECTION_ERRORS
from fhirserver.db.supervisor import RESTARTS_FILE

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Histogram("fhir_request_duration_seconds", "FHIR requests by interaction, resource type and status",
                     ("interaction", "type", "status"), buckets=_BUCKETS)
POOL = Gauge("fhir_db_pool_connections", "Pooled database connections per server",
             ("server", "state"), multiprocess_mode="livesum")
SERVER_UP = Gauge("fhir_db_server_up", "1 while a server is in rotation (replicas) or reachable (primary)",
                  ("server",), multiprocess_mode="livemin")
LAG = Gauge("fhir_replica_lag_seconds", "How far a replica is behind the primary", ("server",),
            multiprocess_mode="livemax")
SERVED = Counter("fhir_db_connections_served", "Connections handed out per server", ("server",))
CACHE = Counter("fhir_cache_lookups", "Resource cache lookups by result (hit, miss, error)", ("result",))
RESTARTS = Gauge("fhir_db_restarts", "Times serve restarted its embedded PostgreSQL since it started",
                 multiprocess_mode="max")


# The labelled histograms, looked up once per label combination instead of through labels()
# (a lock and label checks) on every request. Interactions x stored types x status classes.
_OBSERVERS: dict[tuple[str, str, int], Histogram] = {}


def observe(interaction: str, resource_type: str, status: int, seconds: float) -> None:
    key = (interaction, resource_type, status // 100)
    child = _OBSERVERS.get(key)
    if child is None:
        child = _OBSERVERS[key] = REQUESTS.labels(interaction, resource_type, f"{status // 100}xx")
    child.observe(seconds)


class Sampler:
    """Copies the state of pools, replicas and cache into the gauges and counters."""

    def __init__(self, services) -> None:
        self.services = services
        self._seen: dict[str, int] = {}

    def _delta(self, key: str, value: int) -> int:
        before, self._seen[key] = self._seen.get(key, 0), value
        return max(0, value - before)

    def sample(self) -> None:
        db = self.services.db
        for server in (db.primary, *db.replicas):
            size, idle = server.pool.get_size(), server.pool.get_idle_size()
            POOL.labels(server.name, "busy").set(size - idle)
            POOL.labels(server.name, "idle").set(idle)
            POOL.labels(server.name, "max").set(server.pool.get_max_size())
            SERVER_UP.labels(server.name).set(1 if server.healthy else 0)
            SERVED.labels(server.name).inc(self._delta(f"served:{server.name}", server.served))
            if server.replica:
                LAG.labels(server.name).set(server.lag_s)
        restarts = self.services.settings.data_dir / RESTARTS_FILE
        if restarts.exists():   # written by serve's supervisor (fhirserver/db/supervisor.py)
            try:
                RESTARTS.set(int(restarts.read_text() or 0))
            except (OSError, ValueError):
                pass
        cache = self.services.cache
        if cache.enabled:
            for result, count in (("hit", cache.hits), ("miss", cache.misses), ("error", cache.errors)):
                CACHE.labels(result).inc(self._delta(f"cache:{result}", count))

    async def run(self, every_s: float = 1.0) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every_s)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


async def readiness(services) -> tuple[int, bytes]:
    """200 when the primary answers (every interaction can be served); 503 otherwise.
    The body lists each server, so an operator sees which one is missing."""
    db = services.db
    try:
        async with db.primary.connection() as conn:
            await conn.fetchval("SELECT 1", timeout=1.0)
        primary_up = True
    except CONNECTION_ERRORS:
        primary_up = False
    servers = {"primary": {"up": primary_up}}
    for r in db.replicas:
        servers[r.name] = {"up": r.healthy, "lag_seconds": round(r.lag_s, 3)}
    body = {"status": "ready" if primary_up else "unavailable", "servers": servers,
            "cache": "redis" if services.cache.enabled else "off"}
    return (200 if primary_up else 503), orjson.dumps(body)
