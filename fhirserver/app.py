"""create_app(): the ASGI application. The lifespan opens pools; no logic lives here.

FHIR requests go from the ASGI entry straight to the route table (routes.dispatch):
FastAPI's middleware stack costs about 0.14 ms per request on this hardware (a trivial
endpoint serves 8,300 req/s through it and 26,600 req/s without), which is more than a
read by id costs PostgreSQL. FastAPI keeps the lifespan and any operational endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fhirserver import metrics
from fhirserver.audit.log import AuditLog
from fhirserver.auth.gate import Gate
from fhirserver.cache import ResourceCache
from fhirserver.context import Services
from fhirserver.db.partitions import PartitionCache, keep_months_ahead
from fhirserver.db.pools import open_database
from fhirserver.db.replicas import ReplicaMonitor
from fhirserver.ratelimit import RateLimiter
from fhirserver.routes import TABLE, dispatch
from fhirserver.settings import Settings
from fhirserver.tenants import TenantDirectory

log = logging.getLogger(__name__)
DSN_ENV = "FHIR_RESOLVED_DSN"   # set by `fhirserver serve` after it prepared the database
_HEALTH = PlainTextResponse("ok")
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match", "If-None-Exist",
                "If-Modified-Since", "Prefer", "X-Consistency-Token"]
CORS_EXPOSED = ["ETag", "Location", "Content-Location", "Last-Modified", "X-Consistency-Token",
                "WWW-Authenticate"]


class FhirApp:
    """The ASGI entry: FHIR paths are dispatched directly; lifespan and the rest go to FastAPI."""

    def __init__(self, api: FastAPI, cors_origins: tuple[str, ...] = ()) -> None:
        self.api = api
        # Browser SMART apps call from their own origin: answer preflights and add the
        # CORS headers for the configured origins only (never "*": tokens travel here).
        self._entry = CORSMiddleware(self._serve, allow_origins=list(cors_origins), allow_methods=CORS_METHODS,
                                     allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED,
                                     max_age=600) if cors_origins else self._serve

    @property
    def state(self):
        return self.api.state

    def lifespan(self):
        return self.api.router.lifespan_context(self.api)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        await self._entry(scope, receive, send)

    async def _serve(self, scope, receive, send) -> None:
        scope["app"] = self
        path = scope["path"]
        if path == "/healthz":
            response = _HEALTH
        elif path == "/metrics":
            body, media_type = metrics.render()
            response = Response(body, media_type=media_type)
        elif path == "/readyz":
            status, body = await metrics.readiness(self.state.services)
            response = Response(body, status, media_type="application/json")
        else:
            response = await dispatch(Request(scope, receive))
        await response(scope, receive, send)


def create_app(settings: Settings | None = None, dsn: str | None = None) -> FhirApp:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        target = dsn or os.environ.get(DSN_ENV) or settings.database_url
        if not target:
            raise RuntimeError("no database: run through `fhirserver serve` or set DATABASE_URL")
        db = await open_database(target, settings.replica_urls, min_size=settings.pool_min,
                                 max_size=settings.pool_max, pooler=settings.pooler,
                                 token_wait_s=settings.token_wait_s, max_lag_s=settings.replica_max_lag_s,
                                 pool_wait_s=settings.pool_wait_s, statement_timeout_s=settings.statement_timeout_s)
        monitor = ReplicaMonitor(db)
        if db.replicas:
            await monitor.check()   # replicas join the rotation once they have answered
        cache = ResourceCache.connect(settings.redis_url, settings.cache_ttl_s)
        limiter = RateLimiter(cache.client, settings.rate_limit)
        if settings.rate_limit and not cache.enabled:
            log.warning("FHIR_RATE_LIMIT is set but REDIS_URL is not: requests are not limited")
        partitions = PartitionCache(earliest_year=settings.clinical_earliest_year,
                                    years_ahead=settings.clinical_years_ahead)
        audit = AuditLog(db.primary.pool, partitions, max_queue=settings.audit_queue)
        audit.start()
        app.state.services = Services(settings, db, TenantDirectory(db), partitions, cache, limiter,
                                      gate=Gate(settings), audit=audit, routes=TABLE)
        tasks = [asyncio.create_task(keep_months_ahead(db.primary.pool, settings.months_ahead))]
        if db.replicas:
            tasks.append(asyncio.create_task(monitor.run()))
        tasks.append(asyncio.create_task(metrics.Sampler(app.state.services).run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await audit.close()   # every event accepted is written before the pools close
            await cache.close()
            await db.close()

    api = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    return FhirApp(api, settings.cors_origins)
