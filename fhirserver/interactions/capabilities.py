"""capabilities (GET [base]/metadata).

The statement depends only on the code and the spec data, so its bytes are built once
per base URL and kept in process memory (cheaper than any cache across the network).
"""

from __future__ import annotations

from functools import lru_cache

from starlette.responses import Response

from conformance.capability import capability_statement
from fhirserver.auth.discovery import security
from fhirserver.auth.discovery import smart_configuration as smart
from fhirserver.context import RequestContext
from fhirserver.responses import fhir, json_bytes
from fhirserver.routing import APPEND_ONLY, RouteTable
from fhirserver.settings import Settings


@lru_cache(maxsize=64)
def _statement(base_url: str, settings: Settings, routes: RouteTable) -> bytes:
    """The route table is the source of truth for what is implemented."""
    type_level = routes.interactions("type")
    return json_bytes(capability_statement(base_url, type_level, routes.interactions("instance"),
                                           search_supported="search-type" in type_level,
                                           system=routes.interactions("system"), security=security(settings),
                                           append_only=APPEND_ONLY))


async def capabilities(ctx: RequestContext) -> Response:
    services = ctx.services
    return fhir(_statement(ctx.base_url, services.settings, services.routes), media_type=ctx.media_type,
                pretty=ctx.pretty)


async def smart_configuration(ctx: RequestContext) -> Response:
    """GET [base]/.well-known/smart-configuration (plain JSON, as SMART App Launch says)."""
    return Response(json_bytes(smart(ctx.services.settings)), media_type="application/json")
