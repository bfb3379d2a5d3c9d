"""create_app(): the ASGI application. The lifespan opens pools; no logic lives here."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import PlainTextResponse

from fhirserver.context import Services
from fhirserver.db.partitions import PartitionCache, keep_months_ahead
from fhirserver.db.pools import open_database
from fhirserver.routes import dispatch
from fhirserver.settings import Settings
from fhirserver.tenants import TenantDirectory

DSN_ENV = "FHIR_RESOLVED_DSN"   # set by `fhirserver serve` after it prepared the database
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def create_app(settings: Settings | None = None, dsn: str | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        target = dsn or os.environ.get(DSN_ENV) or settings.database_url
        if not target:
            raise RuntimeError("no database: run through `fhirserver serve` or set DATABASE_URL")
        db = await open_database(target, min_size=settings.pool_min, max_size=settings.pool_max)
        app.state.services = Services(settings, db, TenantDirectory(db.primary), PartitionCache())
        keeper = asyncio.create_task(keep_months_ahead(db.primary, settings.months_ahead))
        try:
            yield
        finally:
            keeper.cancel()
            await db.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_route("/healthz", lambda request: PlainTextResponse("ok"), methods=["GET"])
    app.add_route("/{path:path}", dispatch, methods=METHODS)
    return app
